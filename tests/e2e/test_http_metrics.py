"""Metrics and health for operators: not public by default, bounded labels, the version."""

from __future__ import annotations

import asyncio
import base64

import httpx
import pytest
import websockets

from tests.conftest import free_port, start_server

TOKEN = "metrics-secret-token"


@pytest.fixture(scope="module")
def metered(tmp_path_factory):
    """A server with a metrics token and a metrics listener of its own."""
    data_dir = tmp_path_factory.mktemp("metered")
    metrics_port = free_port()
    config = data_dir / "f.toml"
    config.write_text(f'metrics_token = "{TOKEN}"\nmetrics_listen = "127.0.0.1:{metrics_port}"\n')
    server = start_server(data_dir / "d", extra_args=["--config", str(config)])
    server.metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"
    yield server
    server.stop()
    assert "Traceback" not in server.log()


def scrape(server) -> str:
    response = httpx.get(f"{server.url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    return response.text


def test_metrics_are_not_on_the_public_listener_by_default(alice):
    response = alice.http.get("/metrics")
    assert response.status_code == 404
    assert "fulmar_" not in response.text


def test_health_tells_the_version(alice):
    health = alice.http.get("/healthz")
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "version": "0.1.0"}


def test_metrics_token_is_required_on_the_public_listener(metered):
    assert httpx.get(f"{metered.url}/metrics").status_code == 401
    wrong = httpx.get(f"{metered.url}/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert 'fulmar_build_info{version="0.1.0"} 1.0' in scrape(metered)


def test_metrics_listener_of_their_own(metered):
    response = httpx.get(metered.metrics_url)
    assert response.status_code == 200
    assert "fulmar_http_requests_total" in response.text


def test_made_up_method_names_share_one_label(metered):
    """Each name a client makes up must not become a time series of its own."""
    alice = metered.client("alice@example.com")
    calls = [["Core/echo", {}, "0"]] + [[f"Made/up{n}", {}, f"c{n}"] for n in range(10)]
    assert alice.request(calls).status_code == 200
    metrics = scrape(metered)
    assert 'fulmar_jmap_method_calls_total{method="Core/echo",outcome="ok"}' in metrics
    assert 'method="unknown",outcome="unknownMethod"} 10.0' in metrics
    assert "Made/up" not in metrics
    assert "fulmar_http_request_seconds_bucket" in metrics


def test_open_push_connections_are_gauged(metered):
    alice = metered.client("alice@example.com")
    auth = "Basic " + base64.b64encode(f"{alice.login}:{alice.password}".encode()).decode()

    def gauge(kind: str) -> str:
        line = f'fulmar_push_connections{{kind="{kind}"}}'
        return next(x for x in scrape(metered).splitlines() if x.startswith(line)).split()[-1]

    async def go() -> None:
        url = f"ws://127.0.0.1:{metered.port}/jmap/ws"
        headers = {"Authorization": auth}
        async with websockets.connect(url, subprotocols=["jmap"], additional_headers=headers):
            assert await asyncio.to_thread(gauge, "websocket") == "1.0"
            async with httpx.AsyncClient(headers=headers, timeout=30) as client:
                url = f"{metered.url}/jmap/eventsource/?types=*&closeafter=no&ping=0"
                async with client.stream("GET", url) as stream:
                    assert stream.status_code == 200, await stream.aread()
                    lines = stream.aiter_lines()  # referenced: else it closes the stream
                    async for line in lines:
                        if line == ": ready":
                            break
                    assert await asyncio.to_thread(gauge, "eventsource") == "1.0"

    asyncio.run(go())
