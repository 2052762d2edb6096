"""Web app part 2 benchmark: server time of the contacts screen's search at many contacts
and of a pipeline's kanban with many cards (target p95 < 200 ms), rendered in-process
through the real app (ASGI, cookie login, templates) on real PostgreSQL.

    .venv/bin/python bench/web_part2.py [--contacts 500000] [--cards 10000] [--requests 50]
        [--write bench/RESULTS.md]

Seeds one tenant with `--contacts` contacts (bulk COPY, as bench/web.py does, in a
throwaway database created, migrated and dropped the same way) and one five-stage pipeline
holding `--cards` of them, then times `--requests` GETs of: the contacts list's first page,
a search by name, a search by a phone written without the ninth digit, a search that
matches nothing (the worst case: every row read), and the kanban.

Server: VENTROS_BENCH_DATABASE_URL, else VENTROS_TEST_DATABASE_URL, else the local default.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg

# bench/ scripts share helpers by module name (bench/ is the script's folder).
from wa_kit import libpq, scratch_database
from web import PASSWORD, pct, settings, timed

from ventros.identity.domain import Principal, Role
from ventros.identity.service import create_tenant
from ventros.kernel.clock import utcnow
from ventros.kernel.ids import TenantId, UserId, new_id
from ventros.pipelines import service as pipelines
from ventros.platform.migrate import upgrade
from ventros.runtime.container import Container, bootstrap
from ventros.runtime.http import create_app

TARGET_MS = 200
STAGES = [("Novo", "open"), ("Qualificado", "open"), ("Proposta", "open"),
          ("Ganho", "won"), ("Perdido", "lost")]  # fmt: skip
SHARE_OF_FIRST_STAGE = 0.6  # most leads wait in the first stage: its column is the long one


def subscriber(i: int) -> str:
    """The 8-digit subscriber number of contact i (stored with the ninth digit)."""
    return f"{80_000_000 + i:08d}"


def seed_contacts(url: str, tenant_id: uuid.UUID, count: int) -> list[uuid.UUID]:
    """Bulk contacts with COPY (as the owner: a bench of reads, not of the write path)."""
    now = utcnow()
    ids = [new_id() for _ in range(count)]
    with psycopg.connect(libpq(url)) as conn, conn.cursor() as cur:
        with cur.copy(
            "COPY contacts (id, tenant_id, name, phone, tags, source, created_at, updated_at)"
            " FROM STDIN"
        ) as copy:
            for i, contact_id in enumerate(ids):
                tags = ["lead"] if i % 10 == 0 else []
                source = "instagram_ads" if i % 7 == 0 else None
                phone = f"+55119{subscriber(i)}"
                copy.write_row(
                    (contact_id, tenant_id, f"Cliente {i}", phone, tags, source, now, now)
                )
        conn.commit()
        cur.execute("ANALYZE contacts")
    return ids


def seed_cards(
    url: str, tenant_id: uuid.UUID, pipeline: pipelines.Pipeline, contact_ids: list[uuid.UUID]
) -> None:
    """Current positions of these contacts, most in the first stage."""
    now = utcnow()
    first = int(len(contact_ids) * SHARE_OF_FIRST_STAGE)
    others = pipeline.stages[1:]
    with psycopg.connect(libpq(url)) as conn, conn.cursor() as cur:
        with cur.copy(
            "COPY pipeline_stage_history (id, tenant_id, pipeline_id, contact_id, stage_id,"
            " entered_at) FROM STDIN"
        ) as copy:
            for i, contact_id in enumerate(contact_ids):
                stage = pipeline.stages[0] if i < first else others[i % len(others)]
                entered = now - timedelta(minutes=i)
                copy.write_row((new_id(), tenant_id, pipeline.id, contact_id, stage.id, entered))
        conn.commit()
        cur.execute("ANALYZE pipeline_stage_history")


@asynccontextmanager
async def throwaway_database() -> AsyncIterator[tuple[str, Container]]:
    """A migrated database of its own and a container on it; dropped afterwards."""
    with scratch_database("web2") as url:
        upgrade(url, settings().role_passwords())
        container = bootstrap(settings(), database_url=url)
        try:
            yield url, container
        finally:
            await container.aclose()


def figures(name: str, took: list[float]) -> str:
    return f"{name} p50 {pct(took, 0.5):.1f} ms, p95 {pct(took, 0.95):.1f} ms"


async def main(args: argparse.Namespace) -> str:
    async with throwaway_database() as (url, container):
        created = await create_tenant(
            container.uow, name="Bench", admin_email="bench@example.com", admin_password=PASSWORD
        )
        admin = Principal(
            user_id=UserId(created.admin_id),
            tenant_id=TenantId(created.tenant_id),
            role=Role.ADMIN,
            email="bench@example.com",
        )
        contact_ids = seed_contacts(url, created.tenant_id, args.contacts)
        pipeline = await pipelines.create_pipeline(
            container.uow, admin, pipelines.CreatePipeline(name="Vendas", stages=STAGES)
        )
        seed_cards(url, created.tenant_id, pipeline, contact_ids[: args.cards])
        middle = args.contacts // 2
        old_style_phone = f"11 {subscriber(middle)[:4]}-{subscriber(middle)[4:]}"
        pages: dict[str, str] = {
            "contacts first page": "/app/contacts",
            "search by name": f"/app/contacts/rows?q=Cliente+{middle}",
            "search by phone without the ninth digit": (
                f"/app/contacts/rows?q={old_style_phone.replace(' ', '+')}"
            ),
            "search matching nothing": "/app/contacts/rows?q=ninguem+assim",
            "kanban": f"/app/pipelines/{pipeline.id}",
        }
        transport = httpx.ASGITransport(app=create_app(container))
        results: dict[str, list[float]] = {}
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
            login = await http.post(
                "/login", data={"email": "bench@example.com", "password": PASSWORD}
            )
            assert login.status_code == 303, login.text
            found = await http.get(pages["search by phone without the ninth digit"])
            assert str(contact_ids[middle]) in found.text, "the old-style phone found nothing"
            for label, path in pages.items():
                results[label] = await timed(http, path, args.requests)
    worst = max(pct(took, 0.95) for took in results.values())
    line = (
        f"| web part 2 | {args.contacts} contacts, a pipeline of {args.cards} cards |"
        f" {'; '.join(figures(label, took) for label, took in results.items())}"
        f" (target p95 < {TARGET_MS} ms; worst p95 {worst:.1f} ms) |"
    )
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    print(line)
    return line


def _results_row(arguments: Any, row: str) -> None:
    if arguments.write:
        with Path(arguments.write).open("a", encoding="utf-8") as results:
            results.write(row + "\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=500_000)
    parser.add_argument("--cards", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--write", default=None, help="append the result row to this file")
    arguments = parser.parse_args()
    if arguments.cards > arguments.contacts:
        parser.error("--cards cannot exceed --contacts")
    _results_row(arguments, asyncio.run(main(arguments)))
