"""deploy/ describes a paycore that would start: names, ports and timings agree with core/.

No cluster: every manifest is parsed, the configuration the pods would get is
loaded through core.config exactly as ``paycore run`` loads it (an unknown
PAYCORE_* name or a refused value fails here), and the Deployment's probes,
ports, worker count and drain budget are checked against those settings. With
kubectl on PATH, ``kubectl kustomize`` must also build the whole set.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from core.cli import _STOP_MARGIN_S
from core.config import Settings, load_settings, validate

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def _documents() -> dict[tuple[str, str], dict[str, Any]]:
    """(kind, name) -> manifest, for every document of every manifest file."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(DEPLOY.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for document in yaml.safe_load_all(path.read_text()):
            assert document["apiVersion"] and document["kind"], path
            key = (document["kind"], document["metadata"]["name"])
            assert key not in found, f"{key} twice"
            found[key] = document
    return found


MANIFESTS = _documents()
DEPLOYMENT = MANIFESTS[("Deployment", "paycore")]
POD = DEPLOYMENT["spec"]["template"]
CONTAINER = POD["spec"]["containers"][0]


def _environment() -> dict[str, str]:
    """What envFrom puts in the container: the ConfigMap's and the Secret's entries."""
    env: dict[str, str] = {}
    for source in CONTAINER["envFrom"]:
        if "configMapRef" in source:
            env.update(MANIFESTS[("ConfigMap", source["configMapRef"]["name"])]["data"])
        else:
            env.update(MANIFESTS[("Secret", source["secretRef"]["name"])]["stringData"])
    return env


def _settings() -> Settings:
    return load_settings(environ=_environment())


def _workers() -> int:
    command = CONTAINER["command"]
    assert command[:2] == ["paycore", "run"]
    return int(command[command.index("--workers") + 1])


def test_every_manifest_is_in_the_kustomization_and_parses() -> None:
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    files = {p.name for p in DEPLOY.glob("*.yaml")} - {"kustomization.yaml"}

    assert set(kustomization["resources"]) == files
    kinds = {kind for kind, _ in MANIFESTS}
    assert kinds >= {
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "ConfigMap",
        "Secret",
    }


def test_the_pods_configuration_is_paycores_own_names_and_loads() -> None:
    env = _environment()
    settings = _settings()  # raises ConfigError on an unknown name or a bad value

    assert all(name.startswith("PAYCORE_") for name in env)
    assert {"PAYCORE_POSTGRES_DSN", "PAYCORE_REDIS_URL"} <= env.keys()
    assert settings.postgres_dsn == env["PAYCORE_POSTGRES_DSN"]
    assert settings.redis_url == env["PAYCORE_REDIS_URL"]
    # Reachable from outside the pod (the Service, the kubelet's probes).
    assert settings.host == "0.0.0.0"
    assert settings.http_host == "0.0.0.0"
    # The command's --workers must also be acceptable together with these settings.
    validate(settings.replace(workers=_workers()))


def test_probes_ports_and_services_point_at_the_grpc_port() -> None:
    settings = _settings()
    ports = {port["name"]: port["containerPort"] for port in CONTAINER["ports"]}

    assert ports["grpc"] == settings.port
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        # kubelet's native gRPC probe: grpc.health.v1.Health/Check on the server port.
        assert CONTAINER[probe]["grpc"]["port"] == settings.port, probe
    # Worker i serves /metrics on http_port + i.
    metrics = sorted(port for name, port in ports.items() if name.startswith("metrics"))
    assert metrics == [settings.http_port + i for i in range(_workers())]
    for kind, name in MANIFESTS:
        if kind == "Service":
            service = MANIFESTS[(kind, name)]["spec"]
            assert service["selector"].items() <= POD["metadata"]["labels"].items(), name
            assert {port["targetPort"] for port in service["ports"]} <= ports.keys(), name


def test_the_drain_fits_in_the_termination_grace_period() -> None:
    settings = _settings()
    pre_stop = CONTAINER["lifecycle"]["preStop"]["sleep"]["seconds"]

    needed = pre_stop + settings.grace_period_s + _STOP_MARGIN_S
    assert POD["spec"]["terminationGracePeriodSeconds"] > needed


def test_the_pod_runs_non_root_read_only_with_a_core_per_worker() -> None:
    pod, container = POD["spec"]["securityContext"], CONTAINER["securityContext"]

    assert pod["runAsNonRoot"] is True
    assert pod["runAsUser"] != 0
    assert container["allowPrivilegeEscalation"] is False
    assert container["readOnlyRootFilesystem"] is True
    assert container["capabilities"]["drop"] == ["ALL"]
    resources = CONTAINER["resources"]
    assert int(resources["requests"]["cpu"]) == _workers()
    assert "memory" in resources["limits"]
    # The embedded databases' data_dir (unused here) is on the writable volume.
    mounts = {mount["mountPath"] for mount in CONTAINER["volumeMounts"]}
    assert any(str(_settings().data_dir).startswith(path) for path in mounts)


def test_the_autoscaler_and_the_budget_target_the_deployment() -> None:
    hpa = MANIFESTS[("HorizontalPodAutoscaler", "paycore")]["spec"]
    pdb = MANIFESTS[("PodDisruptionBudget", "paycore")]["spec"]

    assert hpa["scaleTargetRef"]["kind"] == "Deployment"
    assert hpa["scaleTargetRef"]["name"] == DEPLOYMENT["metadata"]["name"]
    assert [m["resource"]["name"] for m in hpa["metrics"]] == ["cpu"]
    assert hpa["minReplicas"] >= 2  # with maxUnavailable 1, a drain leaves one serving
    assert pdb["selector"]["matchLabels"].items() <= POD["metadata"]["labels"].items()
    assert DEPLOYMENT["spec"]["selector"]["matchLabels"] == pdb["selector"]["matchLabels"]


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl not installed")
def test_kustomize_builds_the_whole_set() -> None:
    command = ["kubectl", "kustomize", str(DEPLOY)]
    built = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)

    assert built.returncode == 0, built.stderr
    kinds = [doc["kind"] for doc in yaml.safe_load_all(built.stdout)]
    assert sorted(kinds) == sorted(kind for kind, _ in MANIFESTS)
    assert "image: registry.example.com/paycore:latest" in built.stdout
