"""The Session resource, authentication and the operators' endpoints."""

from __future__ import annotations

import base64
import subprocess

import httpx

from tests.conftest import CORE, FULMAR, MAIL, USERS, FulmarServer, start_server


def test_session_has_every_core_limit_and_absolute_urls(alice):
    response = alice.http.get("/.well-known/jmap")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert "no-store" in response.headers["cache-control"]
    session = response.json()
    core = session["capabilities"][CORE]
    assert set(core) == {
        "maxSizeUpload",
        "maxConcurrentUpload",
        "maxSizeRequest",
        "maxConcurrentRequests",
        "maxCallsInRequest",
        "maxObjectsInGet",
        "maxObjectsInSet",
        "collationAlgorithms",
    }
    assert core["maxCallsInRequest"] >= 16 and core["maxObjectsInGet"] >= 500
    assert session["username"] == "alice@example.com"
    base = alice.server.url
    assert session["apiUrl"] == f"{base}/jmap/api/"
    for template, names in (
        ("downloadUrl", ("{accountId}", "{blobId}", "{type}", "{name}")),
        ("uploadUrl", ("{accountId}",)),
        ("eventSourceUrl", ("{types}", "{closeafter}", "{ping}")),
    ):
        assert session[template].startswith(base)
        assert all(name in session[template] for name in names)
    (account_id,) = session["accounts"]
    account = session["accounts"][account_id]
    assert account["isPersonal"] is True and account["isReadOnly"] is False
    mail = account["accountCapabilities"][MAIL]
    assert mail["maxSizeMailboxName"] >= 100
    assert "receivedAt" in mail["emailQuerySortOptions"]
    assert session["primaryAccounts"][MAIL] == account_id
    assert CORE not in session["primaryAccounts"]
    # the canonical URL serves the same session
    assert alice.http.get("/jmap/session").json() == session


def test_account_ids_are_opaque_and_distinct(alice, bob):
    assert alice.account_id != bob.account_id
    assert "alice" not in alice.account_id


def test_session_state_changes_when_the_session_does(tmp_path):
    server = start_server(tmp_path / "d")
    try:
        owner = server.client("alice@example.com")
        other = server.client("bob@example.com")
        before = other.session["state"]
        assert other.session["state"] == before  # stable while nothing changes
        server.share("alice@example.com", "bob@example.com", read_only=True)
        after = other.session
        assert after["state"] != before
        shared = after["accounts"][owner.account_id]
        assert shared["isPersonal"] is False and shared["isReadOnly"] is True
        # the API response carries the new sessionState
        response = other.request([["Core/echo", {}, "0"]]).json()
        assert response["sessionState"] == after["state"]
    finally:
        server.stop()


def test_missing_or_wrong_credentials_get_401_with_challenge(server: FulmarServer):
    for auth in (None, ("alice@example.com", "wrong"), ("nobody@example.com", "x")):
        response = httpx.get(f"{server.url}/.well-known/jmap", auth=auth)
        assert response.status_code == 401
        assert "Basic" in response.headers["www-authenticate"]
        assert "Bearer" in response.headers["www-authenticate"]
        assert response.headers["content-type"] == "application/problem+json"
    for header in (
        "Basic !!!notbase64",
        "Basic " + base64.b64encode(b"nocolon").decode(),
        "Bearer not-a-token",
        "Digest abc",
        "Bearer",
    ):
        response = httpx.get(f"{server.url}/.well-known/jmap", headers={"Authorization": header})
        assert response.status_code == 401, header
    api = httpx.post(f"{server.url}/jmap/api/", json={"using": [CORE], "methodCalls": []})
    assert api.status_code == 401


def test_bearer_token_from_the_cli(server: FulmarServer):
    token = subprocess.run(
        [FULMAR, "token", "create", "bob@example.com", "--data-dir", str(server.data_dir)],
        env=server.process_env(),
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    response = httpx.get(
        f"{server.url}/.well-known/jmap", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200
    assert response.json()["username"] == "bob@example.com"


def test_repeated_failures_are_throttled(tmp_path):
    config = tmp_path / "fulmar.toml"
    config.write_text("auth_failures_allowed = 3\nauth_failure_window_seconds = 60\n")
    server = start_server(tmp_path / "d", extra_args=["--config", str(config)])
    try:
        url = f"{server.url}/.well-known/jmap"
        codes = [httpx.get(url, auth=("alice@example.com", "bad")).status_code for _ in range(4)]
        assert codes == [401, 401, 401, 429]
        # even the right password waits now, so guessing gains nothing
        blocked = httpx.get(url, auth=("alice@example.com", USERS["alice@example.com"]))
        assert blocked.status_code == 429
        assert int(blocked.headers["retry-after"]) > 0
    finally:
        server.stop()


def test_cors_lets_browser_apps_on_other_origins_in(server: FulmarServer):
    preflight = httpx.options(
        f"{server.url}/jmap/api/",
        headers={
            "Origin": "https://webmail.example.org",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] in ("*", "https://webmail.example.org")
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    response = httpx.get(
        f"{server.url}/.well-known/jmap",
        auth=("alice@example.com", USERS["alice@example.com"]),
        headers={"Origin": "https://webmail.example.org"},
    )
    assert response.headers["access-control-allow-origin"] in ("*", "https://webmail.example.org")


def test_health(alice):
    # metrics: tests/e2e/test_http_metrics.py (not on the public listener by default)
    health = alice.http.get("/healthz")
    assert health.status_code == 200 and health.json()["status"] == "ok"


def test_access_log_is_structured(alice):
    alice.request([["Core/echo", {}, "0"]])
    lines = [line for line in alice.server.log().splitlines() if '"fulmar.access"' in line]
    assert any(
        '"path":"/jmap/api/"' in line and '"user":"alice@example.com"' in line for line in lines
    )


def test_schemas_are_published(alice):
    mailbox = alice.http.get("/schemas/Mailbox.json")
    assert mailbox.status_code == 200
    assert "parentId" in mailbox.json()["object"]["properties"]
    assert alice.http.get("/schemas/nope.json").status_code == 404


def test_graceful_shutdown_exits_cleanly(tmp_path):
    server = start_server(tmp_path / "d")
    alice = server.client("alice@example.com")
    alice.ok("Mailbox/set", {"create": {"n": {"name": "Before shutdown"}}})
    # uvicorn finishes in-flight work, runs the shutdown hooks, then re-raises SIGTERM
    assert server.stop() in (0, -15)
    log = server.log()
    assert "Application shutdown complete" in log
    assert "Traceback" not in log
