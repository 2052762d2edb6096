"""Pipelines: the Pipeline aggregate (ordered stages, allowed transitions) and the position of
one contact in one pipeline. Pure: no I/O."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum, StrEnum
from typing import Any, Literal

from ventros.kernel.aggregate import AggregateRoot
from ventros.kernel.clock import utcnow
from ventros.kernel.errors import RuleViolation
from ventros.kernel.ids import new_id
from ventros.pipelines import events

MAX_NAME_LENGTH = 200
MAX_STAGES = 50


class StageKind(StrEnum):
    OPEN = "open"
    WON = "won"
    LOST = "lost"


@dataclass(frozen=True, slots=True)
class Stage:
    id: uuid.UUID
    name: str
    kind: StageKind
    position: int


def _clean_name(name: str, field_name: str) -> str:
    cleaned = " ".join(name.split())
    if "\x00" in cleaned:  # PostgreSQL text cannot hold it (the web forms reach here unchecked)
        raise RuleViolation(f"{field_name} must not contain the NUL character", field=field_name)
    if not cleaned:
        raise RuleViolation(f"{field_name} must not be empty", field=field_name)
    if len(cleaned) > MAX_NAME_LENGTH:
        raise RuleViolation(
            f"{field_name} must be at most {MAX_NAME_LENGTH} characters", field=field_name
        )
    return cleaned


class Keep(Enum):
    """An edit leaves this part as it is."""

    KEEP = "keep"


KEEP: Literal[Keep.KEEP] = Keep.KEEP


@dataclass(frozen=True, slots=True)
class StageChange:
    """One stage of an edit, in its new place: an existing stage's id (kept: renamed,
    re-kinded or moved), or None for a new stage."""

    id: uuid.UUID | None
    name: str
    kind: str


class StageHoldsContacts(RuleViolation):
    """A stage with contacts in it was removed without saying where they go."""

    def __init__(self, stage: Stage, contacts: int) -> None:
        super().__init__(
            f"stage {stage.name!r} holds {contacts} contact(s): say where they go in "
            "move_contacts_to",
            field="move_contacts_to",
        )
        self.stage = stage
        self.contacts = contacts


@dataclass(frozen=True, slots=True)
class Restructure:
    """What an edit did beyond the pipeline's own fields: the stages removed, where their
    contacts go, and whether the sequence of stages changed (the rollup's "next stage")."""

    removed: list[Stage]
    moves: dict[uuid.UUID, uuid.UUID]  # removed stage id -> stage its contacts go to
    order_changed: bool


def _stage_kind(kind: str) -> StageKind:
    try:
        return StageKind(kind)
    except ValueError as error:
        raise RuleViolation(f"unknown stage kind: {kind!r}", field="stages") from error


@dataclass(eq=False)
class Pipeline(AggregateRoot):
    aggregate_type = "pipeline"

    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    stages: list[Stage]
    # None: any move is allowed. Otherwise the (from, to) stage id pairs that are.
    allowed_transitions: frozenset[tuple[uuid.UUID, uuid.UUID]] | None = None
    created_at: datetime = field(default_factory=utcnow)

    @classmethod
    def create(
        cls,
        *,
        tenant_id: uuid.UUID,
        name: str,
        stages: list[tuple[str, str]],
        allowed_transitions: list[tuple[str, str]] | None = None,
    ) -> Pipeline:
        """`stages` are (name, kind) in order; transitions name stages (case-insensitive)."""
        built = _built([StageChange(None, stage_name, kind) for stage_name, kind in stages])
        pipeline = cls(
            id=new_id(),
            tenant_id=tenant_id,
            name=_clean_name(name, "name"),
            stages=built,
            allowed_transitions=_resolved(built, allowed_transitions),
        )
        pipeline.raise_event(events.PipelineCreated.from_payload(pipeline.snapshot()))
        return pipeline

    def edit(
        self,
        *,
        name: str | None = None,
        stages: list[StageChange] | None = None,
        allowed_transitions: list[tuple[str, str]] | Literal[Keep.KEEP] | None = KEEP,
        move_contacts_to: Mapping[uuid.UUID, uuid.UUID] | None = None,
        contacts: Mapping[uuid.UUID, int] | None = None,
    ) -> Restructure:
        """Renames, re-kinds, reorders, adds and removes stages, under the rules of
        `create`. `stages` is the whole new list in order (None: as they are); a stage keeps
        its id when the change names it, one left out is removed. A removed stage that holds
        contacts (`contacts`: how many each stage holds now) needs a stage that stays to
        send them to (`move_contacts_to`). `allowed_transitions` name stages; KEEP keeps the
        current pairs between stages that stay, None allows any move."""
        current = {stage.id: stage for stage in self.stages}
        changes = (
            stages
            if stages is not None
            else [StageChange(s.id, s.name, s.kind.value) for s in self.stages]
        )
        seen: set[uuid.UUID] = set()
        for change in changes:
            if change.id is None:
                continue
            if change.id not in current:
                raise RuleViolation(
                    f"unknown stage id: {change.id} (not a stage of this pipeline)",
                    field="stages",
                )
            if change.id in seen:
                raise RuleViolation(f"stage id listed twice: {change.id}", field="stages")
            seen.add(change.id)
        built = _built(changes)
        removed = [stage for stage in self.stages if stage.id not in seen]
        moves = _moves(removed, seen, move_contacts_to or {}, contacts or {})
        if allowed_transitions is KEEP:
            transitions = (
                None
                if self.allowed_transitions is None
                else frozenset(
                    (a, b) for a, b in self.allowed_transitions if a in seen and b in seen
                )
            )
        else:
            transitions = _resolved(built, allowed_transitions)
        order_changed = [s.id for s in built] != [s.id for s in self.stages]
        self.name = self.name if name is None else _clean_name(name, "name")
        self.stages = built
        self.allowed_transitions = transitions
        self.raise_event(
            events.PipelineUpdated.from_payload(
                {
                    **self.snapshot(),
                    "removed_stage_ids": [str(stage.id) for stage in removed],
                    "move_contacts_to": {str(a): str(b) for a, b in moves.items()},
                }
            )
        )
        return Restructure(removed, moves, order_changed)

    def snapshot(self) -> dict[str, Any]:
        names = {stage.id: stage.name for stage in self.stages}
        return {
            "pipeline_id": str(self.id),
            "name": self.name,
            "stages": [
                {"stage_id": str(s.id), "name": s.name, "kind": s.kind.value} for s in self.stages
            ],
            "allowed_transitions": None
            if self.allowed_transitions is None
            else sorted([names[a], names[b]] for a, b in self.allowed_transitions),
        }

    def stage(self, stage_id: uuid.UUID) -> Stage:
        for stage in self.stages:
            if stage.id == stage_id:
                return stage
        raise RuleViolation("the stage does not belong to this pipeline", field="stage_id")

    def next_stage(self, stage: Stage) -> Stage | None:
        following = [s for s in self.stages if s.position == stage.position + 1]
        return following[0] if following else None

    def allows(self, source: uuid.UUID | None, target: uuid.UUID) -> bool:
        """A first placement may be any stage; later moves follow `allowed_transitions`."""
        self.stage(target)
        if source is None or self.allowed_transitions is None:
            return True
        return (source, target) in self.allowed_transitions


def _built(changes: list[StageChange]) -> list[Stage]:
    """The stages in order, each with its id (a new one when it has none); names are
    cleaned and unique (case-insensitive), kinds known."""
    if not changes:
        raise RuleViolation("a pipeline needs at least one stage", field="stages")
    if len(changes) > MAX_STAGES:
        raise RuleViolation(f"at most {MAX_STAGES} stages", field="stages")
    built: list[Stage] = []
    names: set[str] = set()
    for position, change in enumerate(changes):
        stage = Stage(
            change.id or new_id(),
            _clean_name(change.name, "stages"),
            _stage_kind(change.kind),
            position,
        )
        key = stage.name.casefold()
        if key in names:
            raise RuleViolation(f"duplicate stage name: {stage.name!r}", field="stages")
        names.add(key)
        built.append(stage)
    return built


def _resolved(
    stages: list[Stage], allowed_transitions: list[tuple[str, str]] | None
) -> frozenset[tuple[uuid.UUID, uuid.UUID]] | None:
    """Transitions written with stage names, as stage id pairs (None: any move)."""
    if allowed_transitions is None:
        return None
    by_name = {stage.name.casefold(): stage for stage in stages}
    return frozenset(
        (_named(by_name, source).id, _named(by_name, target).id)
        for source, target in allowed_transitions
    )


def _moves(
    removed: list[Stage],
    staying: set[uuid.UUID],
    move_contacts_to: Mapping[uuid.UUID, uuid.UUID],
    contacts: Mapping[uuid.UUID, int],
) -> dict[uuid.UUID, uuid.UUID]:
    """Where the contacts of each removed stage go: a stage that stays, said for every
    removed stage that holds contacts."""
    removed_ids = {stage.id for stage in removed}
    for source, target in move_contacts_to.items():
        if source not in removed_ids:
            raise RuleViolation(
                f"move_contacts_to names {source}, which is not a removed stage",
                field="move_contacts_to",
            )
        if target not in staying:
            raise RuleViolation(
                f"move_contacts_to sends contacts to {target}, which is not a stage that stays",
                field="move_contacts_to",
            )
    for stage in removed:
        held = contacts.get(stage.id, 0)
        if held and stage.id not in move_contacts_to:
            raise StageHoldsContacts(stage, held)
    return dict(move_contacts_to)


def _named(by_name: dict[str, Stage], name: str) -> Stage:
    stage = by_name.get(" ".join(name.split()).casefold())
    if stage is None:
        raise RuleViolation(
            f"allowed_transitions names an unknown stage: {name!r}", field="allowed_transitions"
        )
    return stage


@dataclass(frozen=True, slots=True)
class StageEntry:
    """A history row to open: the contact entered `stage_id` at `at`."""

    id: uuid.UUID
    stage_id: uuid.UUID
    at: datetime
    by: uuid.UUID | None


@dataclass(frozen=True, slots=True)
class StageExit:
    """A history row to close: the contact left `stage_id` (entered at `entered_at`) for
    `next_stage_id`; `to_next` when that is the immediately following stage."""

    entry_id: uuid.UUID
    stage_id: uuid.UUID
    entered_at: datetime
    next_stage_id: uuid.UUID
    to_next: bool
    at: datetime
    by: uuid.UUID | None

    @property
    def seconds(self) -> float:
        return (self.at - self.entered_at).total_seconds()


@dataclass(eq=False)
class PipelinePosition(AggregateRoot):
    """Where one contact stands in one pipeline (at most one stage at a time).

    Its events belong to the contact, so `id` is the contact's id.
    """

    aggregate_type = "contact"

    id: uuid.UUID
    tenant_id: uuid.UUID
    pipeline_id: uuid.UUID
    stage_id: uuid.UUID | None = None
    entry_id: uuid.UUID | None = None
    entered_at: datetime | None = None
    # Changes not yet persisted; the repository writes and clears them.
    pending_exit: StageExit | None = None
    pending_entry: StageEntry | None = None

    @property
    def contact_id(self) -> uuid.UUID:
        return self.id

    @classmethod
    def relocated(
        cls,
        pipeline: Pipeline,
        contact_id: uuid.UUID,
        *,
        from_stage_id: uuid.UUID,
        to_stage_id: uuid.UUID,
        entry_id: uuid.UUID,
        at: datetime,
    ) -> PipelinePosition:
        """A contact sent out of a stage the pipeline's edit removed (the repository moved
        the rows, set-based). The transition rules do not apply: the stage is gone. It
        raises the event of any move, so boards, timelines and conversions follow."""
        target = pipeline.stage(to_stage_id)
        position = cls(
            id=contact_id,
            tenant_id=pipeline.tenant_id,
            pipeline_id=pipeline.id,
            stage_id=target.id,
            entry_id=entry_id,
            entered_at=at,
        )
        position._changed(pipeline, from_stage_id, target)
        return position

    def _changed(self, pipeline: Pipeline, source: uuid.UUID | None, target: Stage) -> None:
        self.raise_event(
            events.ContactPipelineStatusChanged(
                contact_id=self.contact_id,
                pipeline_id=pipeline.id,
                from_stage_id=source,
                to_stage_id=target.id,
                to_stage_kind=target.kind.value,
            )
        )

    def move_to(
        self,
        pipeline: Pipeline,
        stage_id: uuid.UUID,
        *,
        by: uuid.UUID | None = None,
        at: datetime | None = None,
    ) -> bool:
        """Moves the contact; False when it already is in that stage. Raises if forbidden."""
        if pipeline.id != self.pipeline_id:
            raise ValueError("position and pipeline disagree")
        target = pipeline.stage(stage_id)
        if self.stage_id == target.id:
            return False
        if not pipeline.allows(self.stage_id, target.id):
            source = pipeline.stage(self.stage_id) if self.stage_id else None
            raise RuleViolation(
                f"pipeline {pipeline.name!r} does not allow moving from "
                f"{source.name if source else None!r} to {target.name!r}",
                field="stage_id",
            )
        now = at or utcnow()
        if self.entered_at is not None and now < self.entered_at:
            now = self.entered_at  # clocks of two writers may disagree; never a negative stay
        previous = self.stage_id
        if self.entry_id is not None and self.stage_id is not None and self.entered_at:
            current = pipeline.stage(self.stage_id)
            self.pending_exit = StageExit(
                entry_id=self.entry_id,
                stage_id=current.id,
                entered_at=self.entered_at,
                next_stage_id=target.id,
                to_next=pipeline.next_stage(current) == target,
                at=now,
                by=by,
            )
        entry = StageEntry(new_id(), target.id, now, by)
        self.pending_entry = entry
        self.stage_id, self.entry_id, self.entered_at = target.id, entry.id, now
        self._changed(pipeline, previous or None, target)
        return True


@dataclass(frozen=True, slots=True)
class StageFigures:
    """Raw counts of one stage: `contacts` there now; the rest over entries in a range."""

    stage_id: uuid.UUID
    contacts: int = 0
    entered: int = 0
    exited_to_next: int = 0
    avg_seconds_in_stage: float | None = None


@dataclass(frozen=True, slots=True)
class StageMetrics:
    stage: Stage
    figures: StageFigures

    @property
    def conversion_rate(self) -> float | None:
        """exited_to_next / entered; None when nobody entered (no rate to speak of)."""
        if self.figures.entered == 0:
            return None
        return self.figures.exited_to_next / self.figures.entered


@dataclass(frozen=True, slots=True)
class PipelineMetrics:
    pipeline_id: uuid.UUID
    stages: list[StageMetrics]

    @property
    def win_rate(self) -> float | None:
        """Entries into won stages / entries into won or lost stages, within the range."""
        won = sum(m.figures.entered for m in self.stages if m.stage.kind is StageKind.WON)
        lost = sum(m.figures.entered for m in self.stages if m.stage.kind is StageKind.LOST)
        return None if won + lost == 0 else won / (won + lost)


def metrics_of(pipeline: Pipeline, figures: dict[uuid.UUID, StageFigures]) -> PipelineMetrics:
    return PipelineMetrics(
        pipeline.id,
        [StageMetrics(s, figures.get(s.id, StageFigures(s.id))) for s in pipeline.stages],
    )


def check_range(since: datetime, until: datetime) -> None:
    if since > until:
        raise RuleViolation("'from' must not be after 'to'", field="from")
