"""TenantSettings: the stored settings over the documented defaults, validated once."""

from __future__ import annotations

import pytest

from ventros.identity.domain import DEFAULT_TENANT_SETTINGS, TenantSettings
from ventros.kernel.errors import RuleViolation


def test_the_defaults_are_the_documented_ones() -> None:
    assert DEFAULT_TENANT_SETTINGS == {
        "session_timeout_seconds": 1800,
        "rate_limit_per_minute": 100,
        "auto_assign": False,
        "default_region": "BR",
        "csat_on_close": False,
        "csat_question": (
            "Como você avalia o nosso atendimento? Responda com um número de 1 (ruim) a 5 (ótimo)."
        ),
        "deleted_contact_retention_days": 30,
    }


def test_stored_values_override_the_defaults_and_unknown_keys_are_ignored() -> None:
    settings = TenantSettings.of({"session_timeout_seconds": 2, "auto_assign": True, "x": 1})
    assert (settings.session_timeout_seconds, settings.auto_assign) == (2, True)
    assert settings.rate_limit_per_minute == 100


@pytest.mark.parametrize(
    "stored",
    [
        {"session_timeout_seconds": 0},
        {"rate_limit_per_minute": -5},
        {"deleted_contact_retention_days": 0},
        {"default_region": "brazil"},
        {"csat_question": "  "},
    ],
)
def test_nonsense_is_refused(stored: dict[str, object]) -> None:
    with pytest.raises(RuleViolation):
        TenantSettings.of(stored)
