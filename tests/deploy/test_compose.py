"""deploy/compose/compose.yaml starts paycore with everything it reports to, as configured.

Without docker: the file is parsed, each mounted file exists, paycore's
environment loads through core.config (a misspelt PAYCORE_* name or a refused
value fails here), and the pieces point at each other (paycore's OTLP endpoint at
the collector, Prometheus at every worker's /metrics, Grafana's datasource at
Prometheus, with the uid the dashboard expects). With ``docker compose``,
``docker compose config`` must accept the file too.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from core.config import load_settings, validate

COMPOSE_DIR = Path(__file__).resolve().parents[2] / "deploy" / "compose"
COMPOSE_FILE = COMPOSE_DIR / "compose.yaml"
DASHBOARD = COMPOSE_DIR.parent / "grafana" / "paycore.json"


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


COMPOSE = _load(COMPOSE_FILE)
SERVICES = COMPOSE["services"]


def _mounts(service: str) -> dict[str, Path]:
    """Container path -> host path of a service's bind mounts (relative to the file)."""
    mounts = {}
    for volume in SERVICES[service].get("volumes", ()):
        source, target = volume.split(":")[:2]
        if source.startswith("."):
            mounts[target] = (COMPOSE_DIR / source).resolve()
    return mounts


def test_the_stack_has_paycore_its_stores_and_its_observers() -> None:
    assert set(SERVICES) == {
        "paycore",
        "postgres",
        "redis",
        "otel-collector",
        "prometheus",
        "grafana",
    }
    assert (COMPOSE_DIR / SERVICES["paycore"]["build"]["context"]).resolve() == COMPOSE_DIR.parents[
        1
    ]
    dockerfile = COMPOSE_DIR.parents[1] / SERVICES["paycore"]["build"]["dockerfile"]
    assert dockerfile.is_file()


def test_every_mounted_file_exists() -> None:
    mounted = [path for service in SERVICES for path in _mounts(service).values()]

    assert len(mounted) == 5
    for path in mounted:
        assert path.is_file(), path


def test_paycore_environment_is_settings_paycore_accepts() -> None:
    environment = SERVICES["paycore"]["environment"]

    settings = load_settings(environ=environment)
    validate(settings)

    assert settings.postgres_dsn and "@postgres:5432/" in settings.postgres_dsn
    assert settings.redis_url == "redis://redis:6379/0"
    assert settings.otlp_endpoint == "http://otel-collector:4317"
    assert (settings.metrics_exporter, settings.trace_exporter) == ("prometheus", "otlp")


def test_prometheus_scrapes_every_worker_and_the_collector_takes_traces() -> None:
    command = SERVICES["paycore"]["command"]
    workers = int(command[command.index("--workers") + 1])
    settings = load_settings(environ=SERVICES["paycore"]["environment"])
    prometheus = _load(_mounts("prometheus")["/etc/prometheus/prometheus.yml"])
    collector = _load(_mounts("otel-collector")["/etc/otelcol/config.yaml"])

    (job,) = prometheus["scrape_configs"]
    targets = {target for config in job["static_configs"] for target in config["targets"]}
    assert targets == {f"paycore:{settings.http_port + i}" for i in range(workers)}
    assert collector["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"].endswith(":4317")
    assert "otlp" in collector["service"]["pipelines"]["traces"]["receivers"]


def test_grafana_shows_the_dashboard_on_the_prometheus_datasource() -> None:
    mounts = _mounts("grafana")
    (datasource,) = _load(mounts["/etc/grafana/provisioning/datasources/paycore.yaml"])[
        "datasources"
    ]
    (provider,) = _load(mounts["/etc/grafana/provisioning/dashboards/paycore.yaml"])["providers"]
    dashboard = json.loads(DASHBOARD.read_text())
    (variable,) = [v for v in dashboard["templating"]["list"] if v["type"] == "datasource"]

    assert mounts[f"{provider['options']['path']}/paycore.json"] == DASHBOARD.resolve()
    assert datasource["url"] == "http://prometheus:9090"
    assert variable["current"]["value"] == datasource["uid"]


def _docker_compose_missing() -> str:
    """Why ``docker compose`` cannot be run here ("" when it can)."""
    if shutil.which("docker") is None:
        return "docker is not installed"
    version = subprocess.run(
        ["docker", "compose", "version"], capture_output=True, text=True, timeout=60, check=False
    )
    if version.returncode != 0:
        said = (version.stderr or version.stdout).strip().splitlines()
        return f"docker compose is not available ({said[0] if said else 'no output'})"
    return ""


def test_docker_compose_accepts_the_file() -> None:
    reason = _docker_compose_missing()
    if reason:
        pytest.skip(reason)

    checked = subprocess.run(
        ["docker", "compose", "-f", str(COMPOSE_FILE), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert checked.returncode == 0, checked.stderr
