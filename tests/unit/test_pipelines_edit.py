"""Editing a pipeline: stages keep their id through a rename, a kind change or a move; new
ones are added, left-out ones removed, and the contacts of a removed stage need a stage
that stays to go to. No I/O."""

import uuid
from datetime import UTC, datetime

import pytest

from ventros.kernel.errors import RuleViolation
from ventros.pipelines.domain import (
    Pipeline,
    PipelinePosition,
    StageChange,
    StageHoldsContacts,
    StageKind,
)

TENANT = uuid.uuid4()


def _pipeline(transitions: list[tuple[str, str]] | None = None) -> Pipeline:
    pipeline = Pipeline.create(
        tenant_id=TENANT,
        name="Sales",
        stages=[("Lead", "open"), ("Qualified", "open"), ("Won", "won"), ("Lost", "lost")],
        allowed_transitions=transitions,
    )
    pipeline.pull_events()
    return pipeline


def _ids(pipeline: Pipeline) -> dict[str, uuid.UUID]:
    return {s.name: s.id for s in pipeline.stages}


def _same(pipeline: Pipeline, *names: str) -> list[StageChange]:
    """The pipeline's stages named, unchanged, in the order given."""
    by_name = {s.name: s for s in pipeline.stages}
    return [StageChange(by_name[n].id, n, by_name[n].kind.value) for n in names]


def test_a_rename_a_kind_change_and_a_reorder_keep_each_stages_id() -> None:
    pipeline = _pipeline()
    ids = _ids(pipeline)
    change = pipeline.edit(
        name=" Vendas ",
        stages=[
            StageChange(ids["Qualified"], "Qualificado", "open"),
            StageChange(ids["Lead"], "Novo", "open"),
            StageChange(ids["Won"], "Fechado", "won"),
            StageChange(ids["Lost"], "Lost", "open"),
        ],
    )
    assert pipeline.name == "Vendas"
    assert [(s.id, s.name, s.kind, s.position) for s in pipeline.stages] == [
        (ids["Qualified"], "Qualificado", StageKind.OPEN, 0),
        (ids["Lead"], "Novo", StageKind.OPEN, 1),
        (ids["Won"], "Fechado", StageKind.WON, 2),
        (ids["Lost"], "Lost", StageKind.OPEN, 3),
    ]
    assert change.removed == []
    assert change.moves == {}
    assert change.order_changed


def test_a_rename_alone_leaves_the_order_as_it_was() -> None:
    pipeline = _pipeline()
    stages = _same(pipeline, "Lead", "Qualified", "Won", "Lost")
    stages[0] = StageChange(stages[0].id, "New lead", "open")
    assert not pipeline.edit(stages=stages).order_changed


def test_a_stage_without_id_is_new_and_one_left_out_is_removed() -> None:
    pipeline = _pipeline()
    ids = _ids(pipeline)
    change = pipeline.edit(
        stages=[*_same(pipeline, "Lead", "Won", "Lost"), StageChange(None, "Proposal", "open")]
    )
    assert [s.name for s in pipeline.stages] == ["Lead", "Won", "Lost", "Proposal"]
    new = pipeline.stages[3]
    assert new.id not in ids.values()
    assert [s.id for s in change.removed] == [ids["Qualified"]]
    [event] = pipeline.pull_events()
    assert event.name == "pipeline.updated"
    assert event.payload["removed_stage_ids"] == [str(ids["Qualified"])]
    assert [s["name"] for s in event.payload["stages"]] == ["Lead", "Won", "Lost", "Proposal"]


def test_a_removed_stage_holding_contacts_needs_a_destination_naming_it_and_its_count() -> None:
    pipeline = _pipeline()
    ids = _ids(pipeline)
    with pytest.raises(StageHoldsContacts) as refused:
        pipeline.edit(stages=_same(pipeline, "Lead", "Won", "Lost"), contacts={ids["Qualified"]: 3})
    assert refused.value.field == "move_contacts_to"
    assert "'Qualified'" in refused.value.detail
    assert "3 contact" in refused.value.detail
    assert refused.value.contacts == 3
    # Nothing changed on a refusal.
    assert [s.name for s in pipeline.stages] == ["Lead", "Qualified", "Won", "Lost"]
    assert pipeline.pull_events() == []


def test_a_removed_empty_stage_needs_no_destination() -> None:
    pipeline = _pipeline()
    ids = _ids(pipeline)
    change = pipeline.edit(stages=_same(pipeline, "Lead", "Won", "Lost"), contacts={ids["Lead"]: 5})
    assert change.moves == {}


def test_the_contacts_of_a_removed_stage_go_where_the_edit_says() -> None:
    pipeline = _pipeline()
    ids = _ids(pipeline)
    change = pipeline.edit(
        stages=_same(pipeline, "Lead", "Won", "Lost"),
        move_contacts_to={ids["Qualified"]: ids["Lead"]},
        contacts={ids["Qualified"]: 2},
    )
    assert change.moves == {ids["Qualified"]: ids["Lead"]}
    [event] = pipeline.pull_events()
    assert event.payload["move_contacts_to"] == {str(ids["Qualified"]): str(ids["Lead"])}


@pytest.mark.parametrize("target", ["Lost", "new", "elsewhere"])
def test_the_destination_must_be_a_stage_that_stays(target: str) -> None:
    """Removed too, a stage added by this edit (it has no id yet), another pipeline's."""
    pipeline = _pipeline()
    ids = _ids(pipeline)
    destination = ids.get(target, uuid.uuid4())
    with pytest.raises(RuleViolation) as refused:
        pipeline.edit(
            stages=[*_same(pipeline, "Lead", "Won"), StageChange(None, "new", "open")],
            move_contacts_to={ids["Qualified"]: destination},
            contacts={ids["Qualified"]: 1},
        )
    assert refused.value.field == "move_contacts_to"
    assert "stays" in refused.value.detail


def test_a_destination_for_a_stage_that_is_not_removed_is_refused() -> None:
    pipeline = _pipeline()
    ids = _ids(pipeline)
    with pytest.raises(RuleViolation) as refused:
        pipeline.edit(move_contacts_to={ids["Lead"]: ids["Won"]})
    assert refused.value.field == "move_contacts_to"


def test_an_unknown_or_repeated_stage_id_is_refused() -> None:
    pipeline = _pipeline()
    ids = _ids(pipeline)
    for stages in (
        [*_same(pipeline, "Lead", "Won"), StageChange(uuid.uuid4(), "Other", "open")],
        [*_same(pipeline, "Lead", "Won"), StageChange(ids["Lead"], "Lead again", "open")],
    ):
        with pytest.raises(RuleViolation) as refused:
            pipeline.edit(stages=stages)
        assert refused.value.field == "stages"


@pytest.mark.parametrize(
    "stages",
    [
        [],
        [StageChange(None, "A", "open"), StageChange(None, " a ", "won")],
        [StageChange(None, "A", "maybe")],
        [StageChange(None, "   ", "open")],
        [StageChange(None, f"S{n}", "open") for n in range(51)],
    ],
)
def test_the_rules_of_create_hold_for_an_edit(stages: list[StageChange]) -> None:
    pipeline = _pipeline()
    with pytest.raises(RuleViolation) as refused:
        pipeline.edit(stages=stages)
    assert refused.value.field == "stages"


def test_a_duplicate_of_a_renamed_stage_is_refused() -> None:
    pipeline = _pipeline()
    stages = _same(pipeline, "Lead", "Qualified", "Won", "Lost")
    stages[1] = StageChange(stages[1].id, "LEAD", "open")
    with pytest.raises(RuleViolation, match="duplicate"):
        pipeline.edit(stages=stages)


@pytest.mark.parametrize("name", ["  ", "a\x00b"])
def test_an_empty_name_or_one_with_a_nul_is_refused(name: str) -> None:
    with pytest.raises(RuleViolation) as refused:
        _pipeline().edit(name=name)
    assert refused.value.field == "name"
    with pytest.raises(RuleViolation) as refused:
        _pipeline().edit(stages=[StageChange(None, name, "open")])
    assert refused.value.field == "stages"


def test_transitions_name_the_stages_as_edited() -> None:
    pipeline = _pipeline([("Lead", "Qualified")])
    ids = _ids(pipeline)
    stages = _same(pipeline, "Lead", "Qualified", "Won", "Lost")
    stages[1] = StageChange(ids["Qualified"], "Proposal", "open")
    pipeline.edit(stages=stages, allowed_transitions=[("lead", "proposal"), ("Proposal", "Won")])
    assert pipeline.allowed_transitions == {
        (ids["Lead"], ids["Qualified"]),
        (ids["Qualified"], ids["Won"]),
    }
    with pytest.raises(RuleViolation) as refused:
        pipeline.edit(stages=stages, allowed_transitions=[("Qualified", "Won")])  # the old name
    assert refused.value.field == "allowed_transitions"


def test_kept_transitions_follow_renames_and_lose_the_removed_stages() -> None:
    pipeline = _pipeline([("Lead", "Qualified"), ("Qualified", "Won"), ("Lead", "Lost")])
    ids = _ids(pipeline)
    pipeline.edit(
        stages=[StageChange(ids["Lead"], "Novo", "open"), *_same(pipeline, "Won", "Lost")]
    )
    assert pipeline.allowed_transitions == {(ids["Lead"], ids["Lost"])}
    assert not pipeline.allows(ids["Lead"], ids["Won"])


def test_no_transitions_allow_any_move_again() -> None:
    pipeline = _pipeline([("Lead", "Qualified")])
    ids = _ids(pipeline)
    pipeline.edit(allowed_transitions=None)
    assert pipeline.allowed_transitions is None
    assert pipeline.allows(ids["Lead"], ids["Lost"])


def test_a_position_in_a_removed_stage_can_no_longer_move_there() -> None:
    pipeline = _pipeline()
    ids = _ids(pipeline)
    pipeline.edit(stages=_same(pipeline, "Lead", "Won", "Lost"))
    position = PipelinePosition(id=uuid.uuid4(), tenant_id=TENANT, pipeline_id=pipeline.id)
    with pytest.raises(RuleViolation, match="does not belong"):
        position.move_to(pipeline, ids["Qualified"])


def test_a_relocated_contact_raises_the_event_of_a_move() -> None:
    pipeline = _pipeline([("Lead", "Qualified")])
    ids = _ids(pipeline)
    contact = uuid.uuid4()
    position = PipelinePosition.relocated(
        pipeline,
        contact,
        from_stage_id=uuid.uuid4(),
        to_stage_id=ids["Won"],  # not an allowed move: the rules do not apply
        entry_id=uuid.uuid4(),
        at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    [event] = position.pull_events()
    assert event.name == "contact.pipeline_status_changed"
    assert event.aggregate_id == contact
    assert event.payload["to_stage_id"] == str(ids["Won"])
    assert event.payload["to_stage_kind"] == "won"
