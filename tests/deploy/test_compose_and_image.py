"""deploy/compose.yaml against the Compose Specification's schema (and `docker compose
config` where Docker's compose plugin runs), and the Dockerfile's structure (no Docker
engine here to build it)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).parents[2]
COMPOSE = ROOT / "deploy" / "compose.yaml"
SCHEMA = Path(__file__).parent / "schemas" / "compose-spec.json"
ROLES = ("api", "worker", "relay", "ingest", "temporal-worker")
BACKING = (
    "postgres",
    "rabbitmq",
    "redis",
    "temporal",
    "temporal-ui",
    "jaeger",
    "prometheus",
    "grafana",
    "waha-sim",
)


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def test_the_compose_file_follows_the_compose_specification() -> None:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft7Validator(schema).validate(compose())


def test_the_schema_check_catches_a_broken_file() -> None:
    broken = compose()
    broken["services"]["api"]["deploy"]["replicas"] = "two"
    broken["services"]["worker"]["restart_policy"] = "always"  # not a service key
    errors = list(jsonschema.Draft7Validator(json.loads(SCHEMA.read_text())).iter_errors(broken))
    assert errors


def test_the_production_layout_runs_every_role_on_the_backing_services() -> None:
    services = compose()["services"]
    assert set(services) >= {*ROLES, *BACKING, "migrate"}
    assert services["api"]["deploy"]["replicas"] == 2
    for role in ROLES:
        assert services[role]["command"] == [role]
        assert (
            services[role]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        )
        env = services[role]["environment"]
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://jaeger:4318"
        assert env["OTEL_SERVICE_NAME"] == f"ventros-{role}"
    assert services["migrate"]["command"] == ["migrate"]
    assert services["migrate"]["restart"] == "no"
    assert "management" in services["rabbitmq"]["image"]
    grafana_mounts = " ".join(services["grafana"]["volumes"])
    assert "./grafana/dashboards" in grafana_mounts
    assert "./grafana/provisioning" in grafana_mounts
    for mount in [*services["grafana"]["volumes"], *services["prometheus"]["volumes"]]:
        assert (COMPOSE.parent / mount.split(":")[0]).exists(), mount


def test_docker_compose_config_accepts_the_file() -> None:
    docker = shutil.which("docker")
    if (
        docker is None
        or subprocess.run([docker, "compose", "version"], capture_output=True).returncode
    ):
        pytest.skip("no `docker compose` here: the schema test above checks the file")
    result = subprocess.run(
        [docker, "compose", "-f", str(COMPOSE), "config", "--quiet"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def stages(dockerfile: str) -> list[str]:
    return re.split(r"(?m)^FROM ", dockerfile)[1:]


def test_the_image_is_multi_stage_slim_non_root_with_a_health_check() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    built = stages(dockerfile)
    assert len(built) >= 2, "multi-stage"
    final = built[-1]
    assert final.startswith("python:3.11-slim")
    assert "build-essential" not in final
    assert "apt-get install" not in final
    assert "COPY --from=build /opt/ventros /opt/ventros" in final
    [user] = re.findall(r"(?m)^USER (\S+)", final)
    assert user.split(":")[0] not in {"0", "root"}
    assert re.search(r"(?m)^HEALTHCHECK .*", final)
    assert "/health/live" in final
    assert re.search(r'(?m)^ENTRYPOINT \["ventros"\]', final)
    assert re.search(r'(?m)^CMD \["api"\]', final)


def test_the_build_context_leaves_out_what_the_image_does_not_need() -> None:
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", ".venv", ".ventros", "tests", "bench"} <= ignored
    for needed in ("requirements.lock", "pyproject.toml", "README.md", "src"):
        assert needed not in ignored
        assert (ROOT / needed).exists()
