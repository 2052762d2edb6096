"""The Prometheus alert rules pass `promtool check rules` and their unit tests (each alert
fires), the Grafana dashboards are well-formed, and every metric they name is one the
application exposes on /metrics."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
import yaml

DEPLOY = Path(__file__).parents[2] / "deploy"
PROMETHEUS = DEPLOY / "prometheus"
DASHBOARDS = sorted((DEPLOY / "grafana" / "dashboards").glob("*.json"))

# PromQL words that are not metric names.
_FUNCTIONS = {
    "sum",
    "max",
    "min",
    "avg",
    "count",
    "rate",
    "irate",
    "increase",
    "delta",
    "by",
    "without",
    "histogram_quantile",
    "and",
    "or",
    "unless",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "topk",
    "bottomk",
    "abs",
    "absent",
    "clamp_min",
    "clamp_max",
    "time",
    "vector",
    "offset",
}


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        reason = "no promtool (Debian package `prometheus`): alert rules not checked"
        if os.environ.get("VENTROS_REQUIRE_SERVICES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return found


def test_promtool_checks_the_alert_rules() -> None:
    result = subprocess.run(
        [promtool(), "check", "rules", "alerts.yml"], cwd=PROMETHEUS, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 5 rules found" in result.stdout


def test_promtool_unit_tests_fire_every_alert() -> None:
    result = subprocess.run(
        [promtool(), "test", "rules", "alerts_test.yml"],
        cwd=PROMETHEUS,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    rules = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"][0]["rules"]
    tested = yaml.safe_load((PROMETHEUS / "alerts_test.yml").read_text())["tests"]
    fired = {
        case["alertname"]
        for test in tested
        for case in test["alert_rule_test"]
        if case.get("exp_alerts")
    }
    assert fired == {rule["alert"] for rule in rules}


def expressions() -> list[str]:
    found = [
        rule["expr"]
        for group in yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"]
        for rule in group["rules"]
    ]
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        found += [target["expr"] for panel in board["panels"] for target in panel["targets"]]
    return found


def metric_names(expression: str) -> set[str]:
    text = re.sub(r'"[^"]*"', "", expression)  # label values
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges
    text = re.sub(r"\b(by|without|on|ignoring)\s*\([^)]*\)", "", text)  # grouping labels
    words = {
        m.group()
        for m in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", text)
        if not text[m.end() :].lstrip().startswith("(")  # a function call
    }
    return {w for w in words if w not in _FUNCTIONS and "_" in w}


def test_the_dashboards_are_well_formed() -> None:
    assert {p.stem for p in DASHBOARDS} == {
        "service-overview",
        "whatsapp",
        "backbone",
        "conversations",
    }
    uids = set()
    for path in DASHBOARDS:
        board = json.loads(path.read_text())
        assert board["uid"] not in uids
        uids.add(board["uid"])
        assert board["panels"]
        for panel in board["panels"]:
            assert panel["datasource"]["uid"] == "prometheus"
            assert panel["targets"]
            assert all(t["expr"] for t in panel["targets"])


def test_the_metric_name_extraction_sees_names_not_labels_or_functions() -> None:
    assert metric_names(
        'sum by (le, route) (rate(http_request_duration_seconds_bucket{status=~"5.."}[5m]))'
        " / max(outbox_lag_seconds) > 0.5"
    ) == {"http_request_duration_seconds_bucket", "outbox_lag_seconds"}


async def test_every_metric_the_dashboards_and_alerts_use_is_exposed(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/metrics")
    assert response.status_code == 200
    exposed: set[str] = set()
    for name, kind in re.findall(r"(?m)^# TYPE (\S+) (\S+)$", response.text):
        exposed.add(name)
        if kind == "counter":
            exposed.add(f"{name}_total")
        if kind == "histogram":
            exposed |= {f"{name}_bucket", f"{name}_count", f"{name}_sum"}
    used = set().union(*(metric_names(e) for e in expressions()))
    assert used, "no metric names found in the dashboards and alerts"
    assert used - exposed == set()
