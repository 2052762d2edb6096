"""The date range of every report and metric: query `from`/`to`, response `from`/`to`."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated

from fastapi import Query
from pydantic import BaseModel, Field

from ventros.kernel.clock import utcnow
from ventros.kernel.errors import RuleViolation

_BOUND = "RFC 3339 time, or a date (YYYY-MM-DD; as `to`, the whole day is included)"
Since = Annotated[str | None, Query(alias="from", max_length=40, description=_BOUND)]
Until = Annotated[str | None, Query(alias="to", max_length=40, description=_BOUND)]


class DateRangeRead(BaseModel):
    """The range a report covers, as every report answers it."""

    since: datetime = Field(serialization_alias="from", description="start, included")
    until: datetime = Field(serialization_alias="to", description="end, excluded")


def parse_bound(value: str | None, *, name: str, end: bool) -> datetime | None:
    """A date or an RFC 3339 time; a date as `to` includes that whole day."""
    if value is None:
        return None
    try:
        if len(value) == 10:
            day = date.fromisoformat(value) + timedelta(days=1 if end else 0)
            moment = datetime.combine(day, time(), UTC)
        else:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as error:
        raise RuleViolation(f"'{name}' is not a date or time: {value!r}", field=name) from error
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def date_range(since: str | None, until: str | None) -> tuple[datetime, datetime]:
    """Defaults: from the beginning of time until now."""
    start = parse_bound(since, name="from", end=False) or datetime(1970, 1, 1, tzinfo=UTC)
    stop = parse_bound(until, name="to", end=True) or utcnow()
    if start > stop:
        raise RuleViolation("'from' must not be after 'to'", field="from")
    return start, stop
