"""The Helm chart, rendered by Helm itself (Helm's Go SDK through the helm-python-sdk
wheel), with the default and the production values; every manifest validates against the
Kubernetes schemas, and the chart does what docs/deploy.md promises."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

HELM = Path(__file__).parents[2] / "deploy" / "helm"
CHART = HELM / "ventros"
KUBERNETES = "1.30.0"
ROLES = {"api", "worker", "relay", "ingest", "temporal-worker"}
# Custom resources: no schema in kubernetes-validate; checked by hand below.
CUSTOM = {"ServiceMonitor"}


def render(values: dict[str, Any]) -> list[dict[str, Any]]:
    with helm.Chart.load(str(CHART)) as chart:
        rendered = chart.render(values, name="ventros", namespace="crm")
    return [doc for text in rendered.values() for doc in yaml.safe_load_all(text) if doc]


def production_values() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((HELM / "values-production.yaml").read_text())
    return loaded


@pytest.fixture(params=["default", "production"])
def manifests(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return render({} if request.param == "default" else production_values())


def of_kind(manifests: list[dict[str, Any]], kind: str) -> Iterator[dict[str, Any]]:
    return (m for m in manifests if m["kind"] == kind)


def test_every_manifest_validates_against_the_kubernetes_schemas(
    manifests: list[dict[str, Any]],
) -> None:
    assert manifests
    for manifest in manifests:
        if manifest["kind"] in CUSTOM:
            continue
        kubernetes_validate.validate(manifest, KUBERNETES, strict=True)


def test_a_deployment_per_role_non_root_read_only_with_probes(
    manifests: list[dict[str, Any]],
) -> None:
    deployments = {
        d["metadata"]["labels"]["app.kubernetes.io/component"]: d
        for d in of_kind(manifests, "Deployment")
    }
    assert set(deployments) == ROLES
    for role, deployment in deployments.items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        [container] = pod["containers"]
        assert container["args"] == [role]
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert container["resources"]["requests"]
        assert container["resources"]["limits"]
        assert {m["mountPath"] for m in container["volumeMounts"]} >= {"/var/lib/ventros", "/tmp"}
        assert container["livenessProbe"]
        assert container["readinessProbe"]
    api = deployments["api"]["spec"]["template"]["spec"]["containers"][0]
    assert api["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert api["readinessProbe"]["httpGet"]["path"] == "/health/ready"


def test_migrations_run_as_a_hook_before_install_and_upgrade(
    manifests: list[dict[str, Any]],
) -> None:
    [job] = of_kind(manifests, "Job")
    hooks = job["metadata"]["annotations"]["helm.sh/hook"].split(",")
    assert set(hooks) == {"pre-install", "pre-upgrade"}
    [container] = job["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["migrate"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"


def test_autoscaling_disruption_budgets_service_and_monitoring(
    manifests: list[dict[str, Any]],
) -> None:
    scaled = {
        h["spec"]["scaleTargetRef"]["name"] for h in of_kind(manifests, "HorizontalPodAutoscaler")
    }
    assert scaled == {"ventros-api", "ventros-worker"}
    budgets = {p["metadata"]["name"] for p in of_kind(manifests, "PodDisruptionBudget")}
    assert {"ventros-api", "ventros-worker", "ventros-relay", "ventros-temporal-worker"} <= budgets
    services = {s["metadata"]["name"] for s in of_kind(manifests, "Service")}
    assert services == {"ventros-api", "ventros-metrics"}
    [monitor] = of_kind(manifests, "ServiceMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert {e["port"] for e in monitor["spec"]["endpoints"]} == {"http", "metrics"}
    assert all(e["path"] == "/metrics" for e in monitor["spec"]["endpoints"])
    [config] = of_kind(manifests, "ConfigMap")
    assert config["data"]["VENTROS_METRICS_PORT"] == "9100"


def test_production_values_use_an_existing_secret_an_ingress_and_tracing() -> None:
    manifests = render(production_values())
    assert not list(of_kind(manifests, "Secret"))  # credentials come from ventros-credentials
    [ingress] = of_kind(manifests, "Ingress")
    assert ingress["spec"]["rules"][0]["host"] == "crm.example.com"
    assert ingress["spec"]["tls"][0]["secretName"] == "ventros-tls"
    [config] = of_kind(manifests, "ConfigMap")
    assert config["data"]["OTEL_EXPORTER_OTLP_ENDPOINT"].endswith(":4318")
    for deployment in of_kind(manifests, "Deployment"):
        refs = deployment["spec"]["template"]["spec"]["containers"][0]["envFrom"]
        assert {"secretRef": {"name": "ventros-credentials"}} in refs
    [job] = of_kind(manifests, "Job")
    assert job["spec"]["template"]["spec"]["containers"][0]["envFrom"] == [
        {"secretRef": {"name": "ventros-credentials"}}
    ]


def test_defaults_put_the_credentials_in_a_secret_and_the_migration_gets_its_own_copy() -> None:
    manifests = render(
        {"secretKey": "k" * 40, "s3": {"bucket": "media", "endpoint": "http://minio:9000"}}
    )
    secrets = {s["metadata"]["name"]: s for s in of_kind(manifests, "Secret")}
    assert set(secrets) == {"ventros-secrets", "ventros-migrate"}
    assert secrets["ventros-secrets"]["stringData"] == secrets["ventros-migrate"]["stringData"]
    assert secrets["ventros-secrets"]["stringData"]["VENTROS_SECRET_KEY"] == "k" * 40
    assert secrets["ventros-secrets"]["stringData"]["VENTROS_MEDIA_S3_BUCKET"] == "media"
    assert secrets["ventros-secrets"]["stringData"]["VENTROS_MEDIA_STORE"] == "s3"
    assert "helm.sh/hook" in secrets["ventros-migrate"]["metadata"]["annotations"]
