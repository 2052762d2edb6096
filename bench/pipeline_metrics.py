"""Pipeline metrics at scale: 500k contacts' stage history for one tenant, then the metrics
query timed as the application role (row-level security on), min and median over runs.

    .venv/bin/python bench/pipeline_metrics.py [--contacts 500000] [--runs 7]

Server: VENTROS_BENCH_DATABASE_URL, else VENTROS_TEST_DATABASE_URL, else the local default.
A throwaway database is created, migrated, and dropped at the end (--keep keeps it).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from ventros.kernel.events import Actor
from ventros.pipelines.domain import Pipeline, metrics_of
from ventros.pipelines.repository import REBUILD_DAILY_SQL, stage_figures
from ventros.platform.db import Database
from ventros.platform.migrate import upgrade
from ventros.platform.settings import Settings
from ventros.platform.uow import UnitOfWork

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
# The same secret as the test suite: the roles are cluster-wide, and their password derives
# from it, so a bench run must not change it under a concurrent test run.
SECRET = "test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"
STAGES = [
    ("Lead", "open"),
    ("Contacted", "open"),
    ("Qualified", "open"),
    ("Won", "won"),
    ("Lost", "lost"),
]
START = datetime(2025, 1, 1, tzinfo=UTC)

# Contact i takes 1 + i % 4 steps along Lead → Contacted → Qualified → Won|Lost, starting on
# a random day of one year, each stay 1-72 hours; the last stay is still open.
SEED_SQL = """
WITH contacts AS (
    SELECT i, gen_random_uuid() AS contact_id, 1 + i %% 4 AS depth, (i %% 7 < 3) AS won,
           %(start)s::timestamptz + random() * interval '365 days' AS started
    FROM generate_series(1, %(contacts)s) AS i
),
steps AS (
    SELECT c.*, k,
           CASE WHEN k = 3 THEN CASE WHEN c.won THEN 4 ELSE 5 END ELSE k + 1 END AS stage_no,
           CASE WHEN k = 2 THEN CASE WHEN c.won THEN 4 ELSE 5 END ELSE k + 2 END AS next_no
    FROM contacts c, generate_series(0, c.depth - 1) AS k
)
INSERT INTO pipeline_stage_history
    (id, tenant_id, pipeline_id, contact_id, stage_id, entered_at, exited_at, next_stage_id)
SELECT gen_random_uuid(), %(tenant)s, %(pipeline)s, contact_id,
       (%(stages)s::uuid[])[stage_no],
       started + k * interval '3 days',
       CASE WHEN k < depth - 1
            THEN started + k * interval '3 days' + (1 + (i * 7 + k) %% 72) * interval '1 hour' END,
       CASE WHEN k < depth - 1 THEN (%(stages)s::uuid[])[next_no] END
FROM steps
"""


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def seed(owner_url: str, tenant_id: uuid.UUID, pipeline: Pipeline, contacts: int) -> int:
    stage_ids = [s.id for s in pipeline.stages]
    with psycopg.connect(_libpq(owner_url), autocommit=True) as conn:
        with conn.transaction():
            conn.execute(
                "INSERT INTO pipelines (id, tenant_id, name, created_at)"
                " VALUES (%s, %s, %s, now())",
                (pipeline.id, tenant_id, pipeline.name),
            )
            for stage in pipeline.stages:
                conn.execute(
                    "INSERT INTO pipeline_stages (id, tenant_id, pipeline_id, name, kind, position)"
                    " VALUES (%s, %s, %s, %s, %s, %s)",
                    (
                        stage.id,
                        tenant_id,
                        pipeline.id,
                        stage.name,
                        stage.kind.value,
                        stage.position,
                    ),
                )
            conn.execute(
                SEED_SQL,
                {
                    "start": START,
                    "contacts": contacts,
                    "tenant": tenant_id,
                    "pipeline": pipeline.id,
                    "stages": stage_ids,
                },
            )
            # The rollup that moves keep up to date, built here in one pass.
            conn.execute(
                str(REBUILD_DAILY_SQL).replace(":pipeline_id", "%(pipeline_id)s"),
                {"pipeline_id": pipeline.id},
            )
        conn.execute("VACUUM ANALYZE pipeline_stage_history")
        conn.execute("VACUUM ANALYZE pipeline_stage_daily")
        row = conn.execute("SELECT count(*) FROM pipeline_stage_history").fetchone()
        return int(row[0]) if row else 0


async def time_metrics(
    database: Database,
    tenant_id: uuid.UUID,
    pipeline: Pipeline,
    since: datetime,
    until: datetime,
    runs: int,
) -> tuple[list[float], str]:
    timings: list[float] = []
    summary = ""
    for _ in range(runs + 1):  # the first run warms the pool and caches; not counted
        started = time.perf_counter()
        async with UnitOfWork(database.app, tenant_id, Actor.system()) as tx:
            figures = await stage_figures(tx, pipeline.id, since=since, until=until)
        metrics = metrics_of(pipeline, figures)
        timings.append(time.perf_counter() - started)
        summary = (
            ", ".join(
                f"{m.stage.name}: now={m.figures.contacts} in={m.figures.entered} "
                f"next={m.figures.exited_to_next}"
                for m in metrics.stages
            )
            + f"; win_rate={metrics.win_rate:.3f}"
        )
    return timings[1:], summary


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts", type=int, default=500_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()

    server = os.environ.get(
        "VENTROS_BENCH_DATABASE_URL", os.environ.get("VENTROS_TEST_DATABASE_URL", DEFAULT_SERVER)
    )
    name = f"ventros_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(_libpq(server), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    owner_url = make_url(server).set(database=name).render_as_string(hide_password=False)
    passwords = Settings(secret_key=SECRET, database_url=None).role_passwords()
    database = Database(owner_url=owner_url, password=passwords.app)
    try:
        # "heads": works while parallel branches of the migration history await merging.
        upgrade(owner_url, passwords, "heads")
        tenant_id = uuid.uuid4()
        pipeline = Pipeline.create(tenant_id=tenant_id, name="Bench", stages=STAGES)
        started = time.perf_counter()
        rows = seed(owner_url, tenant_id, pipeline, args.contacts)
        print(
            f"seeded {args.contacts:,} contacts, {rows:,} history rows "
            f"in {time.perf_counter() - started:.1f} s (incl. VACUUM ANALYZE)"
        )
        mid = START + timedelta(days=180, hours=9, minutes=30)
        windows = {
            "whole history (400 days)": (START, START + timedelta(days=400)),
            "30 whole days": (START + timedelta(days=180), START + timedelta(days=210)),
            "30 days from 09:30 (partial edge days)": (mid, mid + timedelta(days=30)),
            "6 hours (no whole day: history only)": (mid, mid + timedelta(hours=6)),
        }
        for label, (since, until) in windows.items():
            timings, summary = await time_metrics(
                database, tenant_id, pipeline, since, until, args.runs
            )
            print(
                f"metrics, {label}: min {min(timings) * 1000:.1f} ms, "
                f"median {statistics.median(timings) * 1000:.1f} ms over {args.runs} runs"
            )
            print(f"  {summary}")
    finally:
        await database.dispose()
        if not args.keep:
            with psycopg.connect(_libpq(server), autocommit=True) as conn:
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )


if __name__ == "__main__":
    asyncio.run(main())
