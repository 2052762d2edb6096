"""A refused permission reads as a sentence: who cannot do what, and whom to ask."""

from ventros.identity.domain import Role
from ventros.identity.permissions import Permission, allows, refusal


def test_every_refusal_is_a_sentence_without_a_permission_code() -> None:
    for permission in Permission:
        for role in Role:
            if allows(role, permission):
                continue
            sentence = refusal(role, permission)
            assert sentence.startswith(f"{role.value}s cannot "), sentence
            assert permission.value not in sentence
            assert ":" not in sentence
            assert "; ask " in sentence


def test_a_viewer_creating_a_contact_is_told_to_ask_someone_who_may() -> None:
    assert refusal(Role.VIEWER, Permission.CONTACTS_WRITE) == (
        "viewers cannot create or change contacts; ask an admin, a supervisor or an agent"
    )
    assert refusal(Role.SUPERVISOR, Permission.WEBHOOKS_MANAGE) == (
        "supervisors cannot manage webhooks; ask an admin"
    )


def test_an_agent_refused_reports_is_told_to_ask_a_supervisor_not_a_viewer() -> None:
    assert refusal(Role.AGENT, Permission.REPORTS_READ) == (
        "agents cannot read reports; ask an admin or a supervisor"
    )
