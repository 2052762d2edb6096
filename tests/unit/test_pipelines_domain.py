"""Pipeline rules: stages, allowed transitions, moves and the metrics arithmetic. No I/O."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from ventros.kernel.errors import RuleViolation
from ventros.pipelines.domain import (
    Pipeline,
    PipelinePosition,
    StageFigures,
    StageKind,
    metrics_of,
)

TENANT = uuid.uuid4()
STAGES = [("Lead", "open"), ("Qualified", "open"), ("Won", "won"), ("Lost", "lost")]


def _pipeline(transitions: list[tuple[str, str]] | None = None) -> Pipeline:
    return Pipeline.create(
        tenant_id=TENANT, name=" Sales ", stages=STAGES, allowed_transitions=transitions
    )


def _position(pipeline: Pipeline) -> PipelinePosition:
    return PipelinePosition(id=uuid.uuid4(), tenant_id=TENANT, pipeline_id=pipeline.id)


def _stage(pipeline: Pipeline, name: str) -> uuid.UUID:
    return next(s.id for s in pipeline.stages if s.name == name)


def test_a_new_pipeline_keeps_its_stages_in_order_and_records_pipeline_created() -> None:
    pipeline = _pipeline()
    assert pipeline.name == "Sales"
    assert [(s.name, s.kind, s.position) for s in pipeline.stages] == [
        ("Lead", StageKind.OPEN, 0),
        ("Qualified", StageKind.OPEN, 1),
        ("Won", StageKind.WON, 2),
        ("Lost", StageKind.LOST, 3),
    ]
    [event] = pipeline.pull_events()
    assert event.name == "pipeline.created"
    assert event.payload["allowed_transitions"] is None
    assert [s["name"] for s in event.payload["stages"]] == ["Lead", "Qualified", "Won", "Lost"]


@pytest.mark.parametrize(
    ("stages", "transitions", "field"),
    [
        ([], None, "stages"),
        ([("A", "open"), ("a", "won")], None, "stages"),
        ([("A", "maybe")], None, "stages"),
        ([("A", "open"), ("B", "won")], [("A", "Nowhere")], "allowed_transitions"),
    ],
)
def test_invalid_stages_or_transitions_to_unknown_stages_are_refused(
    stages: list[tuple[str, str]], transitions: list[tuple[str, str]] | None, field: str
) -> None:
    with pytest.raises(RuleViolation) as caught:
        Pipeline.create(tenant_id=TENANT, name="P", stages=stages, allowed_transitions=transitions)
    assert caught.value.field == field


def test_the_first_placement_may_be_any_stage_even_with_transition_rules() -> None:
    pipeline = _pipeline([("Lead", "Qualified")])
    position = _position(pipeline)
    assert position.move_to(pipeline, _stage(pipeline, "Won"))
    assert position.pending_exit is None
    assert position.pending_entry is not None
    [event] = position.pull_events()
    assert event.name == "contact.pipeline_status_changed"
    assert event.aggregate_type == "contact"
    assert event.aggregate_id == position.contact_id
    assert event.payload["from_stage_id"] is None
    assert event.payload["to_stage_id"] == str(_stage(pipeline, "Won"))


def test_a_move_the_pipeline_does_not_allow_is_refused() -> None:
    pipeline = _pipeline([("Lead", "Qualified"), ("Qualified", "Won")])
    position = _position(pipeline)
    position.move_to(pipeline, _stage(pipeline, "Lead"))
    with pytest.raises(RuleViolation):
        position.move_to(pipeline, _stage(pipeline, "Won"))
    assert position.stage_id == _stage(pipeline, "Lead")


def test_an_allowed_move_closes_the_previous_stay_and_opens_the_next() -> None:
    pipeline = _pipeline([("Lead", "Qualified")])
    position = _position(pipeline)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    by = uuid.uuid4()
    position.move_to(pipeline, _stage(pipeline, "Lead"), by=by, at=start)
    first = position.pending_entry
    assert first is not None
    position.pending_entry = None
    position.pull_events()

    position.move_to(pipeline, _stage(pipeline, "Qualified"), by=by, at=start + timedelta(hours=1))
    assert position.pending_exit is not None
    assert position.pending_exit.entry_id == first.id
    assert position.pending_exit.next_stage_id == _stage(pipeline, "Qualified")
    assert position.pending_exit.at == start + timedelta(hours=1)
    [event] = position.pull_events()
    assert event.payload["from_stage_id"] == str(_stage(pipeline, "Lead"))


def test_moving_to_the_current_stage_changes_nothing() -> None:
    pipeline = _pipeline()
    position = _position(pipeline)
    position.move_to(pipeline, _stage(pipeline, "Lead"))
    position.pull_events()
    assert not position.move_to(pipeline, _stage(pipeline, "Lead"))
    assert position.pull_events() == []


def test_a_stage_of_another_pipeline_is_refused() -> None:
    pipeline = _pipeline()
    with pytest.raises(RuleViolation):
        _position(pipeline).move_to(pipeline, uuid.uuid4())


def test_metrics_derive_conversion_and_win_rates_from_the_counts() -> None:
    pipeline = _pipeline()
    lead, qualified, won, lost = (s.id for s in pipeline.stages)
    metrics = metrics_of(
        pipeline,
        {
            lead: StageFigures(lead, contacts=1, entered=4, exited_to_next=3),
            won: StageFigures(won, contacts=3, entered=3),
            lost: StageFigures(lost, contacts=1, entered=1),
        },
    )
    rates = [m.conversion_rate for m in metrics.stages]
    assert rates == [0.75, None, 0.0, 0.0]
    assert metrics.stages[1].figures == StageFigures(qualified)
    assert metrics.win_rate == 0.75


def test_without_won_or_lost_entries_the_win_rate_is_unknown() -> None:
    assert metrics_of(_pipeline(), {}).win_rate is None
