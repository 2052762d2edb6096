"""The pipelines screens: the list, one pipeline as a kanban whose cards move by drag
and drop or by each card's keyboard menu, and its edit screen for those who manage
pipelines. Moves and edits go through the same use cases as the API (transition rules
apply); a refused move answers its reason and the card goes back, a refused edit comes back
with the message beside its field and what was typed kept."""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from babel.dates import format_timedelta
from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from ventros.contacts import service as contacts
from ventros.identity.permissions import Permission, allows, require
from ventros.kernel.clock import utcnow
from ventros.kernel.errors import NotFound, RuleViolation
from ventros.pipelines import service as pipelines
from ventros.pipelines.domain import KEEP, MAX_STAGES, Pipeline, StageChange, StageHoldsContacts
from ventros.web import i18n
from ventros.web.auth import CheckedWebSession, container_of, form_of
from ventros.web.routing import WebRoute
from ventros.web.settings import FieldError
from ventros.web.views import Shell, ShellDep, _back, _page

router = APIRouter(include_in_schema=False, route_class=WebRoute)

CARDS_PER_COLUMN = 50
PIPELINES_SHOWN = 100
# The stage kinds as a Portuguese speaker writes them, too.
STAGE_KIND_WORDS = {"aberto": "open", "aberta": "open", "ganho": "won", "perdido": "lost"}


def _can_manage(shell: Shell) -> bool:
    return allows(shell.principal.role, Permission.PIPELINES_MANAGE)


async def _list_page(
    request: Request,
    shell: Shell,
    form: dict[str, str] | None = None,
    error: bool = False,
    status_code: int = 200,
) -> Response:
    page = await pipelines.list_pipelines(
        container_of(request).uow, shell.principal, limit=PIPELINES_SHOWN
    )
    context = {
        "pipelines": page.items,
        "can_manage": _can_manage(shell),
        "form": form or {"name": "", "stages": "", "transitions": ""},
        "error": error,
    }
    return _page(request, shell, "pipelines.html", context, status_code)


@router.get("/app/pipelines")
async def pipelines_page(request: Request, shell: ShellDep) -> Response:
    require(shell.principal, Permission.PIPELINES_READ)
    return await _list_page(request, shell)


def _stages(raw: str) -> list[tuple[str, str]]:
    """One stage a line: its name, then optionally `| won` or `| lost` (open otherwise)."""
    stages = []
    for line in raw.splitlines():
        name, _, kind = line.partition("|")
        if name.strip():
            chosen = kind.strip().lower() or "open"
            stages.append((name.strip()[:200], STAGE_KIND_WORDS.get(chosen, chosen)))
    return stages


def _transitions(raw: str) -> list[tuple[str, str]] | None:
    """One allowed move a line, `From > To`; none at all: any move is allowed."""
    moves = []
    for line in raw.splitlines():
        source, arrow, target = line.partition(">")
        if line.strip() and not arrow:
            raise RuleViolation("write a move as From > To", field="allowed_transitions")
        if arrow:
            moves.append((source.strip(), target.strip()))
    return moves or None


@router.post("/app/pipelines")
async def create_pipeline(request: Request, _csrf: CheckedWebSession, shell: ShellDep) -> Response:
    require(shell.principal, Permission.PIPELINES_MANAGE)
    form = await form_of(request)
    values = {key: form.get(key, "")[:5000] for key in ("name", "stages", "transitions")}
    try:
        command = pipelines.CreatePipeline(
            name=values["name"].strip()[:200],
            stages=_stages(values["stages"]),
            allowed_transitions=_transitions(values["transitions"]),
        )
        if not command.name:
            raise RuleViolation("a pipeline needs a name", field="name")
        created = await pipelines.create_pipeline(
            container_of(request).uow, shell.principal, command
        )
    except (RuleViolation, ValueError):
        return await _list_page(request, shell, values, error=True, status_code=422)
    return _back(f"/app/pipelines/{created.id}", toast_info="saved")


def _cursor(after: tuple[datetime, uuid.UUID] | None) -> str | None:
    if after is None:
        return None
    at, contact_id = after
    return f"{int(at.timestamp() * 1_000_000)}_{contact_id}"


def _after(raw: str | None) -> tuple[datetime, uuid.UUID] | None:
    at, _, contact_id = (raw or "").partition("_")
    try:
        return datetime.fromtimestamp(int(at) / 1_000_000, tz=UTC), uuid.UUID(contact_id)
    except ValueError:
        return None


class CardView:
    """What a card shows: the contact and how long it has stood in its stage."""

    def __init__(self, card: pipelines.Card, contact: Any, locale: str) -> None:
        self.contact_id = card.contact_id
        self.contact = contact
        self.entered_at = card.entered_at
        self.in_stage = time_in_stage((utcnow() - card.entered_at).total_seconds(), locale)


# Babel's duration words cost ~0.2 ms each; a board shows hundreds of cards but only a
# few distinct rounded durations, so each is worded once.
_UNITS = ((86_400 * 30, 86_400 * 60), (86_400, 86_400 * 2), (3_600, 3_600 * 2), (60, 0))


def time_in_stage(seconds: float, locale: str) -> str:
    for unit, from_seconds in _UNITS:
        if seconds >= from_seconds:
            return _worded(max(1, round(seconds / unit)) * unit, locale)
    return _worded(60, locale)


@functools.lru_cache(maxsize=4096)
def _worded(seconds: int, locale: str) -> str:
    return format_timedelta(
        timedelta(seconds=seconds), threshold=1, locale=i18n.babel_locale(locale)
    )


async def _cards(
    request: Request, shell: Shell, columns: list[pipelines.Column]
) -> dict[uuid.UUID, list[CardView]]:
    """Every column's cards with their contacts, read in one query."""
    ids = [card.contact_id for column in columns for card in column.cards]
    found = await contacts.contacts_by_ids(container_of(request).uow, shell.principal, ids)
    return {
        column.stage_id: [
            CardView(card, found[card.contact_id], shell.locale)
            for card in column.cards
            if card.contact_id in found
        ]
        for column in columns
    }


def _board_context(pipeline: Pipeline, shell: Shell) -> dict[str, Any]:
    return {
        "pipeline": pipeline,
        "can_move": shell.can_write,
        "cursor": _cursor,
    }


@router.get("/app/pipelines/{pipeline_id}")
async def kanban_page(request: Request, pipeline_id: uuid.UUID, shell: ShellDep) -> Response:
    require(shell.principal, Permission.PIPELINES_READ)
    try:
        board = await pipelines.board(
            container_of(request).uow, shell.principal, pipeline_id, per_stage=CARDS_PER_COLUMN
        )
    except NotFound:
        return _page(request, shell, "error.html", {"code": 404}, status_code=404)
    context = {
        **_board_context(board.pipeline, shell),
        "can_manage": _can_manage(shell),
        "columns": board.columns,
        "cards": await _cards(request, shell, board.columns),
    }
    template = "_kanban_board.html" if request.headers.get("hx-request") else "kanban.html"
    return _page(request, shell, template, context)


@router.get("/app/pipelines/{pipeline_id}/stages/{stage_id}/cards")
async def more_cards(
    request: Request,
    pipeline_id: uuid.UUID,
    stage_id: uuid.UUID,
    shell: ShellDep,
    after: str | None = None,
) -> Response:
    """The next cards of a long column (its "load more")."""
    uow = container_of(request).uow
    try:
        pipeline = await pipelines.get_pipeline(uow, shell.principal, pipeline_id)
        column = await pipelines.stage_page(
            uow,
            shell.principal,
            pipeline_id,
            stage_id,
            limit=CARDS_PER_COLUMN,
            after=_after(after),
        )
    except (NotFound, RuleViolation):
        return Response(status_code=404)
    context = {
        **_board_context(pipeline, shell),
        "column": column,
        "stage": pipeline.stage(stage_id),
        "column_cards": (await _cards(request, shell, [column]))[stage_id],
    }
    return _page(request, shell, "_kanban_cards.html", context)


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


def _refusal(
    shell: Shell, pipeline: Pipeline | None, current: uuid.UUID | None, target: Any
) -> str:
    """Why a move was refused, in the reader's language, naming both stages."""
    translations = i18n.translations(shell.locale)
    if pipeline is None or target is None:
        return translations.gettext("Choose a stage of this pipeline.")
    names = {stage.id: stage.name for stage in pipeline.stages}
    if target not in names:
        return translations.gettext("That stage no longer exists: the board is brought up to date.")
    return translations.gettext(
        "Moving from “%(source)s” to “%(target)s” is not allowed in this pipeline."
    ) % {"source": names.get(current, "—") if current else "—", "target": names.get(target, "—")}


@router.post("/app/pipelines/{pipeline_id}/move")
async def move_card(
    request: Request, pipeline_id: uuid.UUID, _csrf: CheckedWebSession, shell: ShellDep
) -> Response:
    """Moves a card (drag and drop, or its menu): JSON for the page's script, a redirect
    with a toast for a plain form post."""
    require(shell.principal, Permission.PIPELINES_MOVE)
    form = await form_of(request)
    back = f"/app/pipelines/{pipeline_id}"
    uow = container_of(request).uow
    try:
        contact_id = uuid.UUID(form.get("contact_id", ""))
        stage_id = uuid.UUID(form.get("stage_id", ""))
    except ValueError:
        if _wants_json(request):
            return JSONResponse({"error": _refusal(shell, None, None, None)}, status_code=422)
        return _back(back, toast_error="invalid")
    pipeline = await pipelines.get_pipeline(uow, shell.principal, pipeline_id)
    current = (await pipelines.contact_stages(uow, shell.principal, contact_id, [pipeline.id]))[
        pipeline.id
    ]
    try:
        await pipelines.move_contact(
            uow, shell.principal, pipelines.MoveContact(contact_id, pipeline_id, stage_id)
        )
    except NotFound:
        if _wants_json(request):
            return JSONResponse(
                {"error": i18n.translations(shell.locale).gettext("Not found.")}, status_code=404
            )
        return _back(back, toast_error="not_found")
    except RuleViolation:
        reason = _refusal(shell, pipeline, current, stage_id)
        if _wants_json(request):
            # A stage removed meanwhile: the page's script also reloads the board.
            gone = all(stage.id != stage_id for stage in pipeline.stages)
            return JSONResponse({"error": reason, "refresh": gone}, status_code=422)
        return _back(back, toast_error="forbidden_move")
    if _wants_json(request):
        return JSONResponse({"moved": str(contact_id), "stage_id": str(stage_id)})
    return _back(back, toast_info="moved")


# --------------------------------------------------------------------------- the edit screen

# Blank rows under the stages, for new ones.
EXTRA_ROWS = 3


@dataclass
class StageRow:
    """One row of the edit form: an existing stage (`id`) or a blank one for a new stage."""

    index: int
    id: str
    name: str
    kind: str
    order: str
    remove: bool = False
    to: str = ""  # where its contacts go when it is removed
    contacts: int = 0


def _rows_of(pipeline: Pipeline, counts: dict[uuid.UUID, int]) -> list[StageRow]:
    rows = [
        StageRow(i, str(s.id), s.name, s.kind.value, str(i + 1), contacts=counts.get(s.id, 0))
        for i, s in enumerate(pipeline.stages)
    ]
    first = len(rows)
    return rows + [
        StageRow(i, "", "", "open", str(i + 1)) for i in range(first, first + EXTRA_ROWS)
    ]


def _rows_from(form: dict[str, str], counts: dict[uuid.UUID, int]) -> list[StageRow]:
    """The rows as typed (kept on a refusal)."""
    rows = []
    for i in range(2 * (MAX_STAGES + EXTRA_ROWS)):
        if f"stage-{i}-name" not in form:
            break
        typed = {
            name: form.get(f"stage-{i}-{name}", "")[:300]
            for name in ("id", "name", "kind", "order", "remove", "to")
        }
        row = StageRow(
            i,
            typed["id"].strip(),
            typed["name"],
            typed["kind"],
            typed["order"].strip(),
            remove=typed["remove"] == "on",
            to=typed["to"].strip(),
        )
        try:
            row.contacts = counts.get(uuid.UUID(row.id), 0) if row.id else 0
        except ValueError:
            row.contacts = 0
        rows.append(row)
    return rows


def _transition_lines(pipeline: Pipeline) -> str:
    names = {s.id: s.name for s in pipeline.stages}
    order = {s.id: s.position for s in pipeline.stages}
    pairs = sorted(pipeline.allowed_transitions or (), key=lambda p: (order[p[0]], order[p[1]]))
    return "\n".join(f"{names[a]} > {names[b]}" for a, b in pairs)


def _lines(text: str) -> list[str]:
    return [" ".join(line.split()) for line in text.splitlines() if line.strip()]


def _stage_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError as error:
        raise RuleViolation(f"unknown stage id: {raw!r}", field="stages") from error


def _order(row: StageRow) -> tuple[int, int]:
    try:
        return int(row.order), row.index
    except ValueError:
        return row.index + 1, row.index


def _edit_command(
    pipeline_id: uuid.UUID, values: dict[str, str], rows: list[StageRow]
) -> pipelines.EditPipeline:
    """The form as the use case's command: rows in the order asked (ties: as listed), blank
    new rows left out."""
    kept = sorted((r for r in rows if not r.remove and (r.id or r.name.strip())), key=_order)
    # Kept as shown: they follow renames. An empty box means any move, as the label says.
    shown = _lines(values["transitions"])
    unchanged = bool(shown) and shown == _lines(values["transitions_shown"])
    return pipelines.EditPipeline(
        pipeline_id=pipeline_id,
        name=values["name"],
        stages=[
            StageChange(
                _stage_id(r.id) if r.id else None,
                r.name,
                STAGE_KIND_WORDS.get(r.kind.strip().lower(), r.kind.strip().lower()),
            )
            for r in kept
        ],
        allowed_transitions=KEEP if unchanged else _transitions(values["transitions"]),
        move_contacts_to={
            _stage_id(r.id): _stage_id(r.to) for r in rows if r.remove and r.id and r.to
        },
    )


def _edit_errors(shell: Shell, error: RuleViolation) -> dict[str, FieldError]:
    """The refusal beside its field, in the reader's words; the use case's as detail."""
    translations = i18n.translations(shell.locale)
    if isinstance(error, StageHoldsContacts):
        words = translations.ngettext(
            "“%(stage)s” holds %(num)d contact: choose the stage it goes to.",
            "“%(stage)s” holds %(num)d contacts: choose the stage they go to.",
            error.contacts,
        ) % {"stage": error.stage.name, "num": error.contacts}
        return {f"row-{error.stage.id}": FieldError(words)}
    messages = {
        "name": translations.gettext("Give the pipeline a name of at most 200 characters."),
        "stages": translations.gettext(
            "Check the stages: each needs a name, used once, a kind open, won or lost, "
            "and at most 50 stages."
        ),
        "allowed_transitions": translations.gettext(
            "Write one move a line as “From > To”, naming stages of the list."
        ),
        "move_contacts_to": translations.gettext(
            "The contacts of a removed stage go to a stage that stays."
        ),
    }
    key = {"allowed_transitions": "transitions", "move_contacts_to": "destinations"}
    field = error.field if error.field in messages else "stages"
    return {key.get(field, field): FieldError(messages[field], error.detail)}


def _edit_page(
    request: Request,
    shell: Shell,
    pipeline: Pipeline,
    rows: list[StageRow],
    values: dict[str, str],
    errors: dict[str, FieldError] | None = None,
) -> Response:
    context = {"pipeline": pipeline, "rows": rows, "values": values, "errors": errors or {}}
    return _page(request, shell, "pipeline_edit.html", context, 422 if errors else 200)


@router.get("/app/pipelines/{pipeline_id}/edit")
async def edit_page(request: Request, pipeline_id: uuid.UUID, shell: ShellDep) -> Response:
    require(shell.principal, Permission.PIPELINES_MANAGE)
    try:
        pipeline, counts = await pipelines.pipeline_with_counts(
            container_of(request).uow, shell.principal, pipeline_id
        )
    except NotFound:
        return _page(request, shell, "error.html", {"code": 404}, status_code=404)
    shown = _transition_lines(pipeline)
    values = {"name": pipeline.name, "transitions": shown, "transitions_shown": shown}
    return _edit_page(request, shell, pipeline, _rows_of(pipeline, counts), values)


@router.post("/app/pipelines/{pipeline_id}/edit")
async def save_pipeline(
    request: Request, pipeline_id: uuid.UUID, _csrf: CheckedWebSession, shell: ShellDep
) -> Response:
    require(shell.principal, Permission.PIPELINES_MANAGE)
    uow = container_of(request).uow
    form = await form_of(request)
    values = {k: form.get(k, "")[:20000] for k in ("name", "transitions", "transitions_shown")}
    try:
        pipeline, counts = await pipelines.pipeline_with_counts(uow, shell.principal, pipeline_id)
    except NotFound:
        return _page(request, shell, "error.html", {"code": 404}, status_code=404)
    rows = _rows_from(form, counts)
    try:
        await pipelines.edit_pipeline(
            uow, shell.principal, _edit_command(pipeline_id, values, rows)
        )
    except RuleViolation as error:
        return _edit_page(request, shell, pipeline, rows, values, _edit_errors(shell, error))
    return _back(f"/app/pipelines/{pipeline_id}", toast_info="saved")
