"""The live nudges the contact page and the kanban listen for, the cards' stage durations,
and the pipeline form's reading of stages and moves."""

from __future__ import annotations

import uuid

import pytest

from ventros.kernel.errors import RuleViolation
from ventros.kernel.events import DomainEvent
from ventros.web.pipelines import _stages, _transitions, time_in_stage
from ventros.web.views import _contact_nudges


def event(name: str, aggregate_type: str, payload: dict[str, str]) -> DomainEvent:
    return DomainEvent(
        name=name,
        tenant_id=uuid.uuid4(),
        aggregate_type=aggregate_type,
        aggregate_id=uuid.uuid4(),
        payload=payload,
    )


def test_a_stage_change_nudges_its_contact_page_and_its_pipeline_board() -> None:
    contact_id, pipeline_id = str(uuid.uuid4()), str(uuid.uuid4())
    moved = event(
        "contact.pipeline_status_changed",
        "pipeline_position",
        {"contact_id": contact_id, "pipeline_id": pipeline_id},
    )
    assert [n.event for n in _contact_nudges(moved)] == [
        f"contact-{contact_id}",
        f"pipeline-{pipeline_id}",
    ]


def test_a_pipeline_edit_nudges_its_board() -> None:
    pipeline_id = str(uuid.uuid4())
    edited = event("pipeline.updated", "pipeline", {"pipeline_id": pipeline_id})
    assert [n.event for n in _contact_nudges(edited)] == [f"pipeline-{pipeline_id}"]
    created = event("pipeline.created", "pipeline", {"pipeline_id": pipeline_id})
    assert _contact_nudges(created) == []


def test_a_message_nudges_only_its_contact_and_a_channel_event_nobody() -> None:
    contact_id = str(uuid.uuid4())
    received = event("message.received", "message", {"contact_id": contact_id})
    assert [n.event for n in _contact_nudges(received)] == [f"contact-{contact_id}"]
    assert _contact_nudges(event("channel.down", "channel", {})) == []


@pytest.mark.parametrize(
    ("seconds", "english"),
    [(5, "1 minute"), (3 * 60 + 20, "3 minutes"), (2 * 3600 + 100, "2 hours"),
     (3 * 86400 + 5000, "3 days"), (90 * 86400, "3 months")],
)  # fmt: skip
def test_time_in_stage_reads_as_the_locale_writes_it(seconds: float, english: str) -> None:
    assert time_in_stage(seconds, "en") == english
    assert time_in_stage(seconds, "pt-BR") != english


def test_the_pipeline_form_reads_kinds_in_either_language_and_moves_as_arrows() -> None:
    assert _stages("Novo\n\nGanho | ganho\nLost | lost") == [
        ("Novo", "open"),
        ("Ganho", "won"),
        ("Lost", "lost"),
    ]
    assert _transitions("Novo > Ganho\n") == [("Novo", "Ganho")]
    assert _transitions("  \n") is None
    with pytest.raises(RuleViolation):
        _transitions("Novo Ganho")
