"""The Pipelines context's events: one frozen dataclass each, serialised to the event JSON
of the API contract (kernel.typed_events)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import ClassVar

from ventros.kernel.typed_events import Event


@dataclass(frozen=True)
class StageSnapshot:
    stage_id: uuid.UUID
    name: str
    kind: str


@dataclass(frozen=True)
class PipelineCreated(Event):
    NAME: ClassVar[str] = "pipeline.created"

    pipeline_id: uuid.UUID
    name: str
    stages: tuple[StageSnapshot, ...]
    allowed_transitions: tuple[tuple[str, str], ...] | None  # stage names, sorted


@dataclass(frozen=True)
class PipelineUpdated(Event):
    """An admin's edit: the pipeline as it now is, the stages it removed, and where the
    contacts of those went (each of them also raises contact.pipeline_status_changed)."""

    NAME: ClassVar[str] = "pipeline.updated"

    pipeline_id: uuid.UUID
    name: str
    stages: tuple[StageSnapshot, ...]
    allowed_transitions: tuple[tuple[str, str], ...] | None  # stage names, sorted
    removed_stage_ids: tuple[uuid.UUID, ...]
    move_contacts_to: dict[uuid.UUID, uuid.UUID]  # removed stage id -> stage id


@dataclass(frozen=True)
class ContactPipelineStatusChanged(Event):
    """Raised on the contact (aggregate_type "contact") so it lands on the contact's
    timeline."""

    NAME: ClassVar[str] = "contact.pipeline_status_changed"

    contact_id: uuid.UUID
    pipeline_id: uuid.UUID
    from_stage_id: uuid.UUID | None
    to_stage_id: uuid.UUID
    to_stage_kind: str  # open | won | lost

    @property
    def won(self) -> bool:
        return self.to_stage_kind == "won"


PIPELINE_CREATED = PipelineCreated.NAME
PIPELINE_UPDATED = PipelineUpdated.NAME
CONTACT_PIPELINE_STATUS_CHANGED = ContactPipelineStatusChanged.NAME
