"""Every typed event round-trips: its JSON data (the event JSON of the API contract, as
consumers, webhooks and timelines see it) parses into the dataclass and serialises back
unchanged. A new event type without a sample here fails the first test."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

import ventros.pipelines.events as pipelines
from ventros.kernel.events import DomainEvent
from ventros.kernel.typed_events import Event, every_event_type
from ventros.pipelines.domain import Pipeline

A, B, C = (str(uuid.UUID(int=n)) for n in (1, 2, 3))
SAMPLES: dict[type[Event], dict[str, Any]] = {
    pipelines.PipelineCreated: {
        "pipeline_id": A,
        "name": "Vendas",
        "stages": [
            {"stage_id": B, "name": "Novo", "kind": "open"},
            {"stage_id": C, "name": "Ganho", "kind": "won"},
        ],
        "allowed_transitions": [["Novo", "Ganho"]],
    },
    pipelines.PipelineUpdated: {
        "pipeline_id": A,
        "name": "Vendas",
        "stages": [{"stage_id": B, "name": "Ganho", "kind": "won"}],
        "allowed_transitions": None,
        "removed_stage_ids": [C],
        "move_contacts_to": {C: B},
    },
    pipelines.ContactPipelineStatusChanged: {
        "contact_id": A,
        "pipeline_id": B,
        "from_stage_id": None,
        "to_stage_id": C,
        "to_stage_kind": "won",
    },
}


def test_every_typed_event_has_a_sample() -> None:
    assert set(every_event_type()) == set(SAMPLES)


@pytest.mark.parametrize("event_type", sorted(SAMPLES, key=lambda t: t.NAME))
def test_the_event_json_round_trips_unchanged(event_type: type[Event]) -> None:
    data = SAMPLES[event_type]
    stored = DomainEvent(event_type.NAME, uuid.uuid4(), "x", uuid.uuid4(), data)
    typed = event_type.parse(stored)
    assert typed.payload() == data
    assert DomainEvent.from_json(stored.to_json()).payload == typed.payload()


def test_an_event_of_another_name_does_not_parse() -> None:
    other = DomainEvent("pipeline.deleted", uuid.uuid4(), "pipeline", uuid.uuid4(), {})
    with pytest.raises(ValueError, match=r"pipeline\.deleted"):
        pipelines.PipelineCreated.parse(other)


def test_the_aggregates_raise_the_same_json_as_before() -> None:
    pipeline = Pipeline.create(
        tenant_id=uuid.uuid4(),
        name="Vendas",
        stages=[("Novo", "open"), ("Ganho", "won")],
    )
    [created] = pipeline.pull_events()
    assert created.name == "pipeline.created"
    assert created.payload == {
        "pipeline_id": str(pipeline.id),
        "name": "Vendas",
        "stages": [
            {"stage_id": str(s.id), "name": s.name, "kind": s.kind.value} for s in pipeline.stages
        ],
        "allowed_transitions": None,
    }
    assert pipelines.PipelineCreated.parse(created).stages[1].name == "Ganho"
