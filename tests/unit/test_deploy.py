"""The deployment files agree with the code and with themselves: settings parse, the roles
are the ones ``serve --roles`` knows and each node would start with its settings, every
node is probed on /healthz, every Service finds its pods, every replicated workload has a
disruption budget, the routers know every shard. (Nothing here starts a container: see
deploy/README.md.)
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from jmap.config import load_config
from jmap.roles import ALL_ROLES, roles_problem
from jmap.s3_url import parse_s3_url

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
ROLES = set(ALL_ROLES)


def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def example_env() -> dict[str, str]:
    lines = (DEPLOY / "env.example").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def substitute(value: str, env: dict[str, str]) -> str:
    """Compose's ${NAME}, ${NAME:?message} and ${NAME:-default}."""

    def one(match: re.Match[str]) -> str:
        name, _, rest = match[1].partition(":")
        return env.get(name) or (rest[1:] if rest.startswith("-") else "")

    return re.sub(r"\$\{([^}]+)\}", one, value)


def manifests() -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    docs = []
    for resource in kustomization["resources"]:
        docs += [d for d in yaml.safe_load_all((DEPLOY / resource).read_text()) if d]
    return docs


def test_compose_nodes_run_the_three_roles_with_settings_that_parse():
    services = compose()["services"]
    env = example_env()
    roles = {}
    for name in ("api", "smtp", "worker"):
        command = services[name]["command"]
        assert command[:2] == ["serve", "--roles"]
        roles[name] = command[2]
        environment = services[name]["environment"]
        parse_s3_url(substitute(environment["FULMAR_S3_URL"], env))
        assert substitute(environment["FULMAR_REDIS_URL"], env).startswith("redis://")
        mongodb = substitute(environment["FULMAR_MONGODB_URL"], env)
        assert re.fullmatch(
            r"mongodb://fulmar:[^@]+@mongos:27017/fulmar\?authSource=admin", mongodb
        )
    assert set(roles.values()) == ROLES
    assert services["fulmar-init"]["command"] == ["mongo", "init"]
    waits = services["api"]["depends_on"]["fulmar-init"]["condition"]
    assert waits == "service_completed_successfully"


def test_compose_mongos_knows_every_shard_and_config_server():
    services = compose()["services"]
    sets: dict[str, set[str]] = {}
    for name, service in services.items():
        if service.get("entrypoint") == ["/bin/sh", "/scripts/mongod.sh"]:
            role, replset, *members = service["command"]
            assert role == ("configsvr" if replset == "cfg" else "shardsvr")
            assert service["hostname"] == name and f"{name}:27017" in members
            sets.setdefault(replset, set()).update(members)
    routed = {}
    for argument in services["mongos"]["command"]:
        replset, _, hosts = argument.partition("/")
        routed[replset] = set(hosts.split(","))
    assert routed == sets
    assert len(sets) == 3  # the config servers and two shards


def test_shared_settings_file_loads():
    config = load_config(DEPLOY / "fulmar.toml", environ={})
    assert config.push_vapid_key_file == "/etc/fulmar/vapid.pem"


def test_every_service_selects_pods_and_replicated_workloads_have_budgets():
    docs = manifests()
    workloads = [d for d in docs if d["kind"] in ("Deployment", "StatefulSet")]
    labels = [w["spec"]["template"]["metadata"]["labels"] for w in workloads]

    def selects(selector: dict[str, str]) -> bool:
        return any(selector.items() <= pod.items() for pod in labels)

    for service in (d for d in docs if d["kind"] == "Service"):
        assert selects(service["spec"]["selector"]), service["metadata"]["name"]
    budgets = [
        d["spec"]["selector"]["matchLabels"] for d in docs if d["kind"] == "PodDisruptionBudget"
    ]
    for workload in workloads:
        if workload["spec"]["replicas"] > 1:
            pod = workload["spec"]["template"]["metadata"]["labels"]
            assert any(b.items() <= pod.items() for b in budgets), workload["metadata"]["name"]


def test_k8s_nodes_roles_settings_and_shards():
    docs = manifests()
    by_name = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    for role in ROLES:
        (container,) = by_name["Deployment", f"fulmar-{role}"]["spec"]["template"]["spec"][
            "containers"
        ]
        assert container["args"] == ["serve", "--roles", role]
    secrets = by_name["Secret", "fulmar-secrets"]["stringData"]
    parse_s3_url(secrets["FULMAR_S3_URL"])
    sets = {}
    for (kind, name), doc in by_name.items():
        if kind == "StatefulSet" and name.startswith("mongo-"):
            role, replset, *members = doc["spec"]["template"]["spec"]["containers"][0]["args"]
            assert role == ("configsvr" if replset == "cfg" else "shardsvr")
            replicas = doc["spec"]["replicas"]
            assert members == [
                f"{name}-{i}.{name}.fulmar.svc.cluster.local:27017" for i in range(replicas)
            ]
            sets[replset] = ",".join(members)
    mongos = by_name["Deployment", "mongos"]["spec"]["template"]["spec"]["containers"][0]
    assert dict(a.split("/", 1) for a in mongos["args"]) == sets
    assert "cfg" in sets and len(sets) == 3


def _node_config(environment: dict[str, str], role: str) -> Any:
    """What ``serve --roles ROLE`` would run on with these variables (the config file they
    name is deploy/fulmar.toml, mounted elsewhere)."""
    env = {k: str(v) for k, v in environment.items() if k != "FULMAR_CONFIG"}
    return load_config(DEPLOY / "fulmar.toml", environ=env, roles=role)


def test_k8s_nodes_are_probed_over_http_and_smtp_nodes_listen_outside():
    docs = manifests()
    by_name = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    shared = by_name["ConfigMap", "fulmar-env"]["data"]
    for role in ROLES:
        (container,) = by_name["Deployment", f"fulmar-{role}"]["spec"]["template"]["spec"][
            "containers"
        ]
        probes = [container.get(k) or {} for k in ("readinessProbe", "livenessProbe")]
        assert {"path": "/healthz", "port": 8080} in [p.get("httpGet") for p in probes], role
        assert 8080 in [p["containerPort"] for p in container["ports"]], role
        env = {e["name"]: e["value"] for e in container.get("env", [])}
        config = _node_config({**shared, **env}, role)
        assert roles_problem(config) is None and config.port == 8080
        if role == "smtp":
            ports = {p["containerPort"] for p in container["ports"]}
            for address in (config.smtp_listen, config.submission_listen):
                host, _, port = address.rpartition(":")
                assert host == "0.0.0.0" and int(port) in ports


def test_compose_nodes_have_health_checks_and_smtp_nodes_listen_outside():
    services = compose()["services"]
    for role in ROLES:
        service = services[role]
        assert "/healthz" in " ".join(service["healthcheck"]["test"]), role
        config = _node_config({**service["environment"], "FULMAR_LISTEN": "0.0.0.0:8080"}, role)
        assert roles_problem(config) is None
    smtp = _node_config(services["smtp"]["environment"], "smtp")
    assert smtp.smtp_listen == "0.0.0.0:2525" and smtp.submission_listen == "0.0.0.0:5870"
