"""Persistence of pipelines, their stages and the stage history; the stage metrics query."""

from __future__ import annotations

import builtins
import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    DateTime,
    Double,
    Index,
    Integer,
    PrimaryKeyConstraint,
    Row,
    Select,
    Table,
    Text,
    UniqueConstraint,
    case,
    func,
    select,
    text,
    tuple_,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError

from ventros.kernel.errors import Conflict
from ventros.kernel.ids import new_id
from ventros.pipelines.domain import Pipeline, PipelinePosition, Stage, StageFigures, StageKind
from ventros.platform.db import metadata
from ventros.platform.uow import UnitOfWork

pipelines = Table(
    "pipelines",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("name", Text, nullable=False),
    # [[from_stage_id, to_stage_id], ...] or NULL when any move is allowed.
    Column("allowed_transitions", JSONB),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_pipelines_tenant_id_id", "tenant_id", text("id DESC")),
)

pipeline_stages = Table(
    "pipeline_stages",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("pipeline_id", UUID(as_uuid=True), nullable=False),
    Column("name", Text, nullable=False),
    Column("kind", Text, nullable=False),
    Column("position", Integer, nullable=False),
    UniqueConstraint("pipeline_id", "position"),
)

# One row per stay of a contact in a stage. The open row (exited_at IS NULL) is where the
# contact is now; the partial unique index keeps it to one stage per contact per pipeline.
pipeline_stage_history = Table(
    "pipeline_stage_history",
    metadata,
    Column("id", UUID(as_uuid=True), primary_key=True),
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("pipeline_id", UUID(as_uuid=True), nullable=False),
    Column("contact_id", UUID(as_uuid=True), nullable=False),
    Column("stage_id", UUID(as_uuid=True), nullable=False),
    Column("entered_at", DateTime(timezone=True), nullable=False),
    Column("entered_by", UUID(as_uuid=True)),
    Column("exited_at", DateTime(timezone=True)),
    Column("exited_by", UUID(as_uuid=True)),
    Column("next_stage_id", UUID(as_uuid=True)),
    Index(
        "uq_pipeline_stage_history_current",
        "tenant_id",
        "pipeline_id",
        "contact_id",
        unique=True,
        postgresql_where=text("exited_at IS NULL"),
    ),
    # "Contacts there now": an index-only count per stage.
    Index(
        "ix_pipeline_stage_history_current_stage",
        "tenant_id",
        "pipeline_id",
        "stage_id",
        postgresql_where=text("exited_at IS NULL"),
    ),
    # Metrics over a date range of entries: an index-only range scan.
    Index(
        "ix_pipeline_stage_history_entered",
        "tenant_id",
        "pipeline_id",
        "entered_at",
        postgresql_include=["stage_id", "exited_at", "next_stage_id"],
    ),
    Index("ix_pipeline_stage_history_contact", "tenant_id", "contact_id", "entered_at"),
)

# Daily rollup of the history, by the day (UTC) a stay began, kept in the transaction of each
# move: metrics over whole days read a few rows per stage instead of every stay.
pipeline_stage_daily = Table(
    "pipeline_stage_daily",
    metadata,
    Column("tenant_id", UUID(as_uuid=True), nullable=False),
    Column("pipeline_id", UUID(as_uuid=True), nullable=False),
    Column("stage_id", UUID(as_uuid=True), nullable=False),
    Column("day", Date, nullable=False),
    Column("entered", BigInteger, nullable=False, server_default=text("0")),
    Column("exits", BigInteger, nullable=False, server_default=text("0")),
    Column("exited_to_next", BigInteger, nullable=False, server_default=text("0")),
    Column("seconds", Double, nullable=False, server_default=text("0")),
    PrimaryKeyConstraint("tenant_id", "pipeline_id", "stage_id", "day"),
)


def _pipeline_from(row: Row[Any], stage_rows: list[Row[Any]]) -> Pipeline:
    stages = sorted(
        (Stage(s.id, s.name, StageKind(s.kind), s.position) for s in stage_rows),
        key=lambda s: s.position,
    )
    transitions = (
        None
        if row.allowed_transitions is None
        else frozenset((uuid.UUID(a), uuid.UUID(b)) for a, b in row.allowed_transitions)
    )
    return Pipeline(
        id=row.id,
        tenant_id=row.tenant_id,
        name=row.name,
        stages=stages,
        allowed_transitions=transitions,
        created_at=row.created_at,
    )


def _transitions(pipeline: Pipeline) -> builtins.list[builtins.list[str]] | None:
    if pipeline.allowed_transitions is None:
        return None
    return sorted([str(a), str(b)] for a, b in pipeline.allowed_transitions)


# "update": an edit's (FOR UPDATE); "share": a move's (FOR KEY SHARE, which only an edit's
# lock waits for).
Lock = Literal["update", "share"]


class PipelineRepository:
    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    async def add(self, pipeline: Pipeline) -> None:
        await self._uow.connection.execute(
            pipelines.insert().values(
                id=pipeline.id,
                tenant_id=pipeline.tenant_id,
                name=pipeline.name,
                allowed_transitions=_transitions(pipeline),
                created_at=pipeline.created_at,
            )
        )
        await self._insert_stages(pipeline)
        self._uow.track(pipeline)

    async def save(self, pipeline: Pipeline) -> None:
        """Writes an edited pipeline. Its stage rows are written anew (same ids): nothing
        references them by key, and positions are unique per pipeline, so updating them in
        place could collide mid-reorder."""
        connection = self._uow.connection
        await connection.execute(
            pipelines.update()
            .where(pipelines.c.id == pipeline.id)
            .values(name=pipeline.name, allowed_transitions=_transitions(pipeline))
        )
        await connection.execute(
            pipeline_stages.delete().where(pipeline_stages.c.pipeline_id == pipeline.id)
        )
        await self._insert_stages(pipeline)
        self._uow.track(pipeline)

    async def _insert_stages(self, pipeline: Pipeline) -> None:
        await self._uow.connection.execute(
            pipeline_stages.insert(),
            [
                {
                    "id": s.id,
                    "tenant_id": pipeline.tenant_id,
                    "pipeline_id": pipeline.id,
                    "name": s.name,
                    "kind": s.kind.value,
                    "position": s.position,
                }
                for s in pipeline.stages
            ],
        )

    async def get(self, pipeline_id: uuid.UUID, *, lock: Lock | None = None) -> Pipeline | None:
        """One pipeline; `lock` takes its row first, so the stages read are those after any
        edit that held it: "update" for an edit, "share" for a move (moves do not wait for
        one another, only for an edit)."""
        found = await self._load([pipeline_id], lock=lock)
        return self._uow.track(found[0]) if found else None

    async def list(self, *, limit: int, before: uuid.UUID | None) -> list[Pipeline]:
        query = select(pipelines.c.id).order_by(pipelines.c.id.desc()).limit(limit)
        if before is not None:
            query = query.where(pipelines.c.id < before)
        ids = list((await self._uow.connection.execute(query)).scalars())
        return await self._load(ids)

    async def _load(
        self, ids: builtins.list[uuid.UUID], *, lock: Lock | None = None
    ) -> builtins.list[Pipeline]:
        if not ids:
            return []
        connection = self._uow.connection
        query = select(pipelines).where(pipelines.c.id.in_(ids)).order_by(pipelines.c.id.desc())
        if lock == "update":
            query = query.with_for_update()
        elif lock == "share":
            query = query.with_for_update(read=True, key_share=True)
        rows = (await connection.execute(query)).all()
        stage_rows = (
            await connection.execute(
                select(pipeline_stages).where(pipeline_stages.c.pipeline_id.in_(ids))
            )
        ).all()
        by_pipeline: dict[uuid.UUID, list[Row[Any]]] = {}
        for stage in stage_rows:
            by_pipeline.setdefault(stage.pipeline_id, []).append(stage)
        return [_pipeline_from(row, by_pipeline.get(row.id, [])) for row in rows]


def contacts_placed(pipeline_id: uuid.UUID | None, stage_id: uuid.UUID | None) -> Select[Any]:
    """Ids of the contacts now in the pipeline and/or stage: a subquery for other contexts'
    lists to filter by (the index on current positions answers it)."""
    h = pipeline_stage_history
    query = select(h.c.contact_id).where(h.c.exited_at.is_(None))
    if pipeline_id is not None:
        query = query.where(h.c.pipeline_id == pipeline_id)
    if stage_id is not None:
        query = query.where(h.c.stage_id == stage_id)
    return query


# A card: who stands in a stage now, and since when. A column pages by (entered_at, id).
CardCursor = tuple[datetime, uuid.UUID]


async def stage_counts(uow: UnitOfWork, pipeline_id: uuid.UUID) -> dict[uuid.UUID, int]:
    """Contacts in each stage now: an index-only count over current positions."""
    h = pipeline_stage_history
    query = (
        select(h.c.stage_id, func.count())
        .where(h.c.pipeline_id == pipeline_id, h.c.exited_at.is_(None))
        .group_by(h.c.stage_id)
    )
    return {row[0]: int(row[1]) for row in await uow.connection.execute(query)}


async def stage_cards(
    uow: UnitOfWork,
    pipeline_id: uuid.UUID,
    stage_id: uuid.UUID,
    *,
    limit: int,
    after: CardCursor | None,
) -> builtins.list[tuple[uuid.UUID, datetime]]:
    """(contact id, entered at) of a stage's contacts now, latest arrivals first."""
    h = pipeline_stage_history
    query = select(h.c.contact_id, h.c.entered_at).where(
        h.c.pipeline_id == pipeline_id, h.c.stage_id == stage_id, h.c.exited_at.is_(None)
    )
    if after is not None:
        query = query.where(tuple_(h.c.entered_at, h.c.contact_id) < tuple_(*after))
    query = query.order_by(h.c.entered_at.desc(), h.c.contact_id.desc()).limit(limit)
    return [(row.contact_id, row.entered_at) for row in await uow.connection.execute(query)]


class PositionRepository:
    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    async def get(self, pipeline_id: uuid.UUID, contact_id: uuid.UUID) -> PipelinePosition:
        """The contact's position, locked for the rest of the transaction (not yet placed:
        an empty position)."""
        h = pipeline_stage_history
        query = (
            select(h.c.id, h.c.stage_id, h.c.entered_at)
            .where(
                h.c.pipeline_id == pipeline_id,
                h.c.contact_id == contact_id,
                h.c.exited_at.is_(None),
            )
            .with_for_update()
        )
        row = (await self._uow.connection.execute(query)).first()
        position = PipelinePosition(
            id=contact_id,
            tenant_id=self._uow.tenant_id,
            pipeline_id=pipeline_id,
            stage_id=row.stage_id if row else None,
            entry_id=row.id if row else None,
            entered_at=row.entered_at if row else None,
        )
        return self._uow.track(position)

    async def save(self, position: PipelinePosition) -> None:
        h = pipeline_stage_history
        connection = self._uow.connection
        if position.pending_exit is not None:
            exit_ = position.pending_exit
            await connection.execute(
                h.update()
                .where(h.c.id == exit_.entry_id)
                .values(exited_at=exit_.at, exited_by=exit_.by, next_stage_id=exit_.next_stage_id)
            )
            await self._add_daily(
                position,
                exit_.stage_id,
                _day(exit_.entered_at),
                exits=1,
                exited_to_next=int(exit_.to_next),
                seconds=exit_.seconds,
            )
        if position.pending_entry is not None:
            entry = position.pending_entry
            try:
                async with connection.begin_nested():
                    await connection.execute(
                        h.insert().values(
                            id=entry.id,
                            tenant_id=position.tenant_id,
                            pipeline_id=position.pipeline_id,
                            contact_id=position.contact_id,
                            stage_id=entry.stage_id,
                            entered_at=entry.at,
                            entered_by=entry.by,
                        )
                    )
            except IntegrityError as error:
                # Two first placements of the same contact raced; the other one won.
                raise Conflict("the contact was placed in this pipeline concurrently") from error
            await self._add_daily(position, entry.stage_id, _day(entry.at), entered=1)
        position.pending_exit = position.pending_entry = None
        self._uow.track(position)

    async def _add_daily(
        self,
        position: PipelinePosition,
        stage_id: uuid.UUID,
        day: date,
        *,
        entered: int = 0,
        exits: int = 0,
        exited_to_next: int = 0,
        seconds: float = 0.0,
    ) -> None:
        d = pipeline_stage_daily
        statement = pg_insert(d).values(
            tenant_id=position.tenant_id,
            pipeline_id=position.pipeline_id,
            stage_id=stage_id,
            day=day,
            entered=entered,
            exits=exits,
            exited_to_next=exited_to_next,
            seconds=seconds,
        )
        new = statement.excluded
        await self._uow.connection.execute(
            statement.on_conflict_do_update(
                index_elements=[d.c.tenant_id, d.c.pipeline_id, d.c.stage_id, d.c.day],
                set_={
                    "entered": d.c.entered + new.entered,
                    "exits": d.c.exits + new.exits,
                    "exited_to_next": d.c.exited_to_next + new.exited_to_next,
                    "seconds": d.c.seconds + new.seconds,
                },
            )
        )


async def relocate(
    uow: UnitOfWork,
    pipeline_id: uuid.UUID,
    moves: dict[uuid.UUID, uuid.UUID],
    *,
    at: datetime,
    by: uuid.UUID | None,
) -> builtins.list[tuple[uuid.UUID, uuid.UUID, uuid.UUID, uuid.UUID]]:
    """Sends everyone standing in a removed stage (a key of `moves`) to its destination:
    their stay there ends now and one begins in the destination. Set-based, two statements
    whatever the number of contacts; the caller rebuilds the daily rollup afterwards.
    Returns (contact id, removed stage id, destination id, new entry id) per contact."""
    if not moves:
        return []
    h = pipeline_stage_history
    connection = uow.connection
    moved = (
        await connection.execute(
            h.update()
            .where(
                h.c.pipeline_id == pipeline_id,
                h.c.exited_at.is_(None),
                h.c.stage_id.in_(builtins.list(moves)),
            )
            .values(
                # Never a negative stay, even if this clock lags the one that placed it.
                exited_at=func.greatest(h.c.entered_at, at),
                exited_by=by,
                next_stage_id=case(moves, value=h.c.stage_id),
            )
            .returning(h.c.contact_id, h.c.stage_id, h.c.next_stage_id)
        )
    ).all()
    found = [(row.contact_id, row.stage_id, row.next_stage_id, new_id()) for row in moved]
    if found:
        await connection.execute(
            h.insert(),
            [
                {
                    "id": entry_id,
                    "tenant_id": uow.tenant_id,
                    "pipeline_id": pipeline_id,
                    "contact_id": contact_id,
                    "stage_id": target,
                    "entered_at": at,
                    "entered_by": by,
                }
                for contact_id, _source, target, entry_id in found
            ],
        )
    return found


def _day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


REBUILD_DAILY_SQL = text(
    """
    WITH stages AS (
        SELECT id, lead(id) OVER (ORDER BY position) AS next_id
        FROM pipeline_stages WHERE pipeline_id = :pipeline_id
    )
    INSERT INTO pipeline_stage_daily
        (tenant_id, pipeline_id, stage_id, day, entered, exits, exited_to_next, seconds)
    SELECT h.tenant_id, h.pipeline_id, h.stage_id, (h.entered_at AT TIME ZONE 'UTC')::date,
           count(*), count(h.exited_at), count(*) FILTER (WHERE h.next_stage_id = s.next_id),
           coalesce(sum(date_part('epoch', h.exited_at - h.entered_at)), 0)
    FROM pipeline_stage_history h JOIN stages s ON s.id = h.stage_id
    WHERE h.pipeline_id = :pipeline_id
    GROUP BY 1, 2, 3, 4
    """
)


async def rebuild_daily(uow: UnitOfWork, pipeline_id: uuid.UUID) -> None:
    """Recomputes a pipeline's daily rollup from its history (backfills, repairs)."""
    d = pipeline_stage_daily
    await uow.connection.execute(d.delete().where(d.c.pipeline_id == pipeline_id))
    await uow.connection.execute(REBUILD_DAILY_SQL, {"pipeline_id": pipeline_id})


# One statement. Contacts there now: an index-only count of the open rows. Entries in
# [from, to): whole UTC days from the daily rollup, the partial days at either edge from the
# history (an index range scan). date_part (double precision) rather than EXTRACT (numeric
# since PostgreSQL 14, several times slower to sum).
METRICS_SQL = text(
    """
    WITH stages AS (
        SELECT id, lead(id) OVER (ORDER BY position) AS next_id
        FROM pipeline_stages WHERE pipeline_id = :pipeline_id
    ),
    current AS (
        SELECT stage_id, count(*) AS contacts
        FROM pipeline_stage_history
        WHERE tenant_id = :tenant_id AND pipeline_id = :pipeline_id AND exited_at IS NULL
        GROUP BY stage_id
    ),
    days AS (
        SELECT stage_id, sum(entered) AS entered, sum(exited_to_next) AS exited_to_next,
               sum(exits) AS exits, sum(seconds) AS seconds
        FROM pipeline_stage_daily
        WHERE tenant_id = :tenant_id AND pipeline_id = :pipeline_id
          AND day >= :first_day AND day < :end_day
        GROUP BY stage_id
    ),
    edges AS (
        SELECT h.stage_id, count(*) AS entered,
               count(*) FILTER (WHERE h.next_stage_id = s.next_id) AS exited_to_next,
               count(h.exited_at) AS exits,
               coalesce(sum(date_part('epoch', h.exited_at - h.entered_at)), 0) AS seconds
        FROM pipeline_stage_history h JOIN stages s ON s.id = h.stage_id
        WHERE h.tenant_id = :tenant_id AND h.pipeline_id = :pipeline_id
          AND ((h.entered_at >= :from_ AND h.entered_at < :head_end)
               OR (h.entered_at >= :tail_start AND h.entered_at < :to_))
        GROUP BY h.stage_id
    ),
    per_stage AS (
        SELECT stage_id, sum(entered) AS entered, sum(exited_to_next) AS exited_to_next,
               sum(seconds) / nullif(sum(exits), 0) AS avg_seconds
        FROM (SELECT * FROM days UNION ALL SELECT * FROM edges) AS parts
        GROUP BY stage_id
    )
    SELECT s.id AS stage_id,
           coalesce(c.contacts, 0) AS contacts,
           coalesce(p.entered, 0) AS entered,
           coalesce(p.exited_to_next, 0) AS exited_to_next,
           p.avg_seconds
    FROM stages s
    LEFT JOIN current c ON c.stage_id = s.id
    LEFT JOIN per_stage p ON p.stage_id = s.id
    """
)


def _split(since: datetime, until: datetime) -> dict[str, Any]:
    """[since, until) as whole UTC days [first_day, end_day) plus the partial days around."""
    since, until = since.astimezone(UTC), until.astimezone(UTC)
    first_day = since.date() + timedelta(days=0 if since.time() == time() else 1)
    end_day = until.date()
    if first_day >= end_day:  # no whole day inside: the history answers for all of it
        return {"first_day": end_day, "end_day": end_day, "head_end": until, "tail_start": until}
    return {
        "first_day": first_day,
        "end_day": end_day,
        "head_end": datetime.combine(first_day, time(), UTC),
        "tail_start": datetime.combine(end_day, time(), UTC),
    }


async def stage_figures(
    uow: UnitOfWork, pipeline_id: uuid.UUID, *, since: datetime, until: datetime
) -> dict[uuid.UUID, StageFigures]:
    rows = await uow.connection.execute(
        METRICS_SQL,
        {
            "tenant_id": uow.tenant_id,
            "pipeline_id": pipeline_id,
            "from_": since,
            "to_": until,
            **_split(since, until),
        },
    )
    return {
        row.stage_id: StageFigures(
            stage_id=row.stage_id,
            contacts=int(row.contacts),
            entered=int(row.entered),
            exited_to_next=int(row.exited_to_next),
            avg_seconds_in_stage=None if row.avg_seconds is None else float(row.avg_seconds),
        )
        for row in rows
    }


async def reassign_contact(uow: UnitOfWork, from_id: uuid.UUID, to_id: uuid.UUID) -> int:
    """Moves a contact's stage history to another contact (contact merge). In pipelines
    where both stand somewhere now, the duplicate's current stay is ended first, so the
    survivor keeps its stage and one current row per contact and pipeline holds."""
    from sqlalchemy import func

    h = pipeline_stage_history
    connection = uow.connection
    survivor_pipelines = (
        select(h.c.pipeline_id).where(h.c.contact_id == to_id, h.c.exited_at.is_(None))
    ).scalar_subquery()
    await connection.execute(
        h.update()
        .where(
            h.c.contact_id == from_id,
            h.c.exited_at.is_(None),
            h.c.pipeline_id.in_(survivor_pipelines),
        )
        .values(exited_at=func.now())
    )
    moved = await connection.execute(
        h.update().where(h.c.contact_id == from_id).values(contact_id=to_id)
    )
    return int(moved.rowcount or 0)
