"""Teams, routing rules, business hours and SLA policies. Pure: no I/O.

Business time: a schedule is a set of weekly intervals in a time zone, minus holidays.
`BusinessHours.add(start, seconds)` walks the open intervals from `start`, so an SLA of
one business hour that starts ten minutes before closing ends fifty minutes after the next
opening. Intervals are built per local date with zoneinfo, so a DST change shortens or
lengthens the wall-clock day, never the business time counted.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ventros.kernel.errors import RuleViolation

DEFAULT_TIMEZONE = "America/Sao_Paulo"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_NAME = 200
MAX_REPLY = 4096
MAX_KEYWORDS = 100
MAX_PATTERN = 500
# How far ahead an opening is looked for: a schedule with no hours at all never opens.
SEARCH_DAYS = 400
SLA_WARNING_FRACTION = 0.8

HOURS_WITHIN = "within"
HOURS_OUTSIDE = "outside"


def fold(text: str) -> str:
    """Lower case without accents: "Preço" and "preco" read the same."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _clock(value: str, where: str) -> time | None:
    """ "HH:MM" or "HH:MM:SS"; "24:00" is the end of the day (None)."""
    if value in ("24:00", "24:00:00"):
        return None
    try:
        return time.fromisoformat(value)
    except ValueError as error:
        raise RuleViolation(f"{value!r} is not a time of day (HH:MM)", field=where) from error


@dataclass(frozen=True)
class Interval:
    start: time
    end: time | None  # None: midnight at the end of the day

    def seconds(self) -> tuple[float, float]:
        end = 86400.0 if self.end is None else _secs(self.end)
        return _secs(self.start), end


def _secs(t: time) -> float:
    return t.hour * 3600 + t.minute * 60 + t.second + t.microsecond / 1e6


def parse_weekly(weekly: dict[str, list[list[str]]]) -> dict[int, tuple[Interval, ...]]:
    """{"mon": [["09:00", "12:00"], ["13:00", "18:00"]], ...} → intervals per weekday
    (0 = Monday), sorted; overlapping or empty intervals are refused."""
    parsed: dict[int, tuple[Interval, ...]] = {}
    for day, ranges in weekly.items():
        where = f"weekly.{day}"
        if day not in WEEKDAYS:
            raise RuleViolation(f"unknown weekday {day!r} (use {', '.join(WEEKDAYS)})", field=where)
        intervals = []
        for pair in ranges:
            if len(pair) != 2:
                raise RuleViolation("an interval is [start, end]", field=where)
            start = _clock(pair[0], where)
            if start is None:
                raise RuleViolation("an interval cannot start at 24:00", field=where)
            interval = Interval(start, _clock(pair[1], where))
            low, high = interval.seconds()
            if high <= low:
                raise RuleViolation(
                    f"{pair[0]}-{pair[1]}: the end must follow the start", field=where
                )
            intervals.append(interval)
        intervals.sort(key=lambda i: i.seconds())
        for before, after in itertools.pairwise(intervals):
            if after.seconds()[0] < before.seconds()[1]:
                raise RuleViolation("intervals of one day must not overlap", field=where)
        parsed[WEEKDAYS.index(day)] = tuple(intervals)
    return parsed


def zone_of(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise RuleViolation(f"unknown time zone {name!r}", field="timezone") from error


@dataclass(eq=False)
class BusinessHours:
    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    timezone: str = DEFAULT_TIMEZONE
    weekly: dict[str, list[list[str]]] = field(default_factory=dict)
    holidays: list[date] = field(default_factory=list)
    # Sent once per session that starts while closed (None: no automatic reply).
    outside_hours_reply: str | None = None

    def __post_init__(self) -> None:
        self.name = self.name.strip()[:MAX_NAME]
        if not self.name:
            raise RuleViolation("a name is required", field="name")
        self._zone = zone_of(self.timezone)
        self._days = parse_weekly(self.weekly)
        self._holidays = frozenset(self.holidays)  # a holiday on a closed day is a no-op
        if self.outside_hours_reply is not None:
            self.outside_hours_reply = self.outside_hours_reply.strip()[:MAX_REPLY] or None

    def _open_spans(self, day: date) -> list[tuple[datetime, datetime]]:
        """The day's open intervals as UTC instants (DST-exact)."""
        if day in self._holidays:
            return []
        spans = []
        for interval in self._days.get(day.weekday(), ()):
            start = datetime.combine(day, interval.start, tzinfo=self._zone)
            end = (
                datetime.combine(day + timedelta(days=1), time(0), tzinfo=self._zone)
                if interval.end is None
                else datetime.combine(day, interval.end, tzinfo=self._zone)
            )
            spans.append((start.astimezone(UTC), end.astimezone(UTC)))
        return spans

    def _spans_from(self, at: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Open intervals that end after `at`, clipped to start no earlier than it."""
        local_day = at.astimezone(self._zone).date() - timedelta(days=1)
        for offset in range(SEARCH_DAYS):
            for start, end in self._open_spans(local_day + timedelta(days=offset)):
                if end > at:
                    yield max(start, at), end

    def is_open(self, at: datetime) -> bool:
        return any(start <= at < end for start, end in self._spans_from_window(at))

    def _spans_from_window(self, at: datetime) -> list[tuple[datetime, datetime]]:
        day = at.astimezone(self._zone).date()
        return [s for d in (-1, 0, 1) for s in self._open_spans(day + timedelta(days=d))]

    def next_opening(self, at: datetime) -> datetime | None:
        """`at` itself when open, else the next moment the team opens (None: never)."""
        for start, _ in self._spans_from(at):
            return start
        return None

    def add(self, start: datetime, seconds: float) -> datetime | None:
        """The instant when `seconds` of business time have passed since `start`."""
        left = max(seconds, 0.0)
        for span_start, span_end in self._spans_from(start):
            length = (span_end - span_start).total_seconds()
            if left <= length:
                return span_start + timedelta(seconds=left)
            left -= length
        return None

    def elapsed(self, start: datetime, end: datetime) -> float:
        """Business seconds between two instants."""
        total = 0.0
        for span_start, span_end in self._spans_from(start):
            if span_start >= end:
                break
            total += (min(span_end, end) - span_start).total_seconds()
        return total


class AlwaysOpen:
    """The hours of a team without a schedule: business time is wall-clock time."""

    outside_hours_reply: str | None = None

    def is_open(self, at: datetime) -> bool:  # noqa: ARG002
        return True

    def next_opening(self, at: datetime) -> datetime | None:
        return at

    def add(self, start: datetime, seconds: float) -> datetime | None:
        return start + timedelta(seconds=max(seconds, 0.0))

    def elapsed(self, start: datetime, end: datetime) -> float:
        return max((end - start).total_seconds(), 0.0)


Hours = BusinessHours | AlwaysOpen


@dataclass(frozen=True)
class FollowUp:
    """Nudge a customer who went silent after our reply, then close the session."""

    nudge_after_seconds: int
    nudge_text: str
    close_after_seconds: int

    @classmethod
    def of(cls, data: dict[str, Any] | None) -> FollowUp | None:
        if not data:
            return None
        return cls(
            int(data["nudge_after_seconds"]),
            str(data["nudge_text"]),
            int(data["close_after_seconds"]),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "nudge_after_seconds": self.nudge_after_seconds,
            "nudge_text": self.nudge_text,
            "close_after_seconds": self.close_after_seconds,
        }


@dataclass(eq=False)
class Team:
    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    members: list[uuid.UUID] = field(default_factory=list)
    business_hours_id: uuid.UUID | None = None
    follow_up: FollowUp | None = None

    def __post_init__(self) -> None:
        self.name = self.name.strip()[:MAX_NAME]
        if not self.name:
            raise RuleViolation("a name is required", field="name")
        self.members = list(dict.fromkeys(self.members))


@dataclass(frozen=True)
class Conditions:
    """All given conditions must hold (an empty set matches every session)."""

    channel_ids: tuple[uuid.UUID, ...] = ()
    keywords: tuple[str, ...] = ()  # any of them, as whole words, accents and case folded
    pattern: str | None = None  # a regular expression over the folded first message
    tags: tuple[str, ...] = ()  # the contact has any of them
    sources: tuple[str, ...] = ()  # the contact's source is one of them
    hours: str | None = None  # "within" / "outside" the team's business hours

    def __post_init__(self) -> None:
        if len(self.keywords) > MAX_KEYWORDS:
            raise RuleViolation("too many keywords", field="conditions.keywords")
        if self.pattern is not None:
            if len(self.pattern) > MAX_PATTERN:
                raise RuleViolation("pattern too long", field="conditions.pattern")
            try:
                re.compile(self.pattern)
            except re.error as error:
                raise RuleViolation(
                    f"invalid regular expression: {error}", field="conditions.pattern"
                ) from error
        if self.hours not in (None, HOURS_WITHIN, HOURS_OUTSIDE):
            raise RuleViolation("hours is 'within' or 'outside'", field="conditions.hours")

    def to_json(self) -> dict[str, Any]:
        return {
            "channel_ids": [str(c) for c in self.channel_ids],
            "keywords": list(self.keywords),
            "pattern": self.pattern,
            "tags": list(self.tags),
            "sources": list(self.sources),
            "hours": self.hours,
        }

    @classmethod
    def of(cls, data: dict[str, Any]) -> Conditions:
        return cls(
            channel_ids=tuple(uuid.UUID(str(c)) for c in data.get("channel_ids") or ()),
            keywords=tuple(data.get("keywords") or ()),
            pattern=data.get("pattern"),
            tags=tuple(data.get("tags") or ()),
            sources=tuple(data.get("sources") or ()),
            hours=data.get("hours"),
        )


@dataclass(frozen=True)
class SessionFacts:
    """What routing looks at when a session starts."""

    channel_id: uuid.UUID
    first_message: str
    tags: tuple[str, ...]
    source: str | None
    at: datetime


def _keyword_regex(keyword: str) -> re.Pattern[str]:
    return re.compile(r"(?<!\w)" + re.escape(fold(keyword).strip()) + r"(?!\w)")


@dataclass(eq=False)
class RoutingRule:
    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    position: int
    team_id: uuid.UUID
    conditions: Conditions = field(default_factory=Conditions)
    required_skills: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.name = self.name.strip()[:MAX_NAME]
        if not self.name:
            raise RuleViolation("a name is required", field="name")
        self.required_skills = sorted(
            {s.strip().lower() for s in self.required_skills if s.strip()}
        )

    def matches(self, facts: SessionFacts, hours: Hours) -> bool:
        c = self.conditions
        text = fold(facts.first_message)
        if c.channel_ids and facts.channel_id not in c.channel_ids:
            return False
        if c.keywords and not any(_keyword_regex(k).search(text) for k in c.keywords if k.strip()):
            return False
        if c.pattern is not None and re.search(c.pattern, text) is None:
            return False
        if c.tags and not {fold(t) for t in c.tags} & {fold(t) for t in facts.tags}:
            return False
        if c.sources and fold(facts.source or "") not in {fold(s) for s in c.sources}:
            return False
        if c.hours is not None and hours.is_open(facts.at) != (c.hours == HOURS_WITHIN):
            return False
        return True


def label_key(name: str) -> str:
    """How a policy's label meets a session's: spaces collapsed, case folded (label names
    are unique case-insensitively, so `VIP` is `vip`)."""
    return " ".join(name.split()).casefold()


@dataclass(frozen=True)
class SlaPolicy:
    """Targets in business seconds. Without a label: the team's policy, for every session
    of the team. With a label: for the sessions carrying that label — of `team_id` only
    when it names a team, of any team (or none) when it does not."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    first_response_seconds: int | None
    resolution_seconds: int | None
    team_id: uuid.UUID | None = None
    label: str | None = None

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise RuleViolation("a name is required", field="name")
        if self.label is not None:
            object.__setattr__(self, "label", " ".join(self.label.split()) or None)
        if self.team_id is None and not self.label:
            raise RuleViolation("a policy applies to a team or a label", field="team_id")
        if self.first_response_seconds is None and self.resolution_seconds is None:
            raise RuleViolation(
                "give a first-response or a resolution target", field="first_response_seconds"
            )

    def applies_to(self, team_id: uuid.UUID | None, labels: frozenset[str]) -> bool:
        """Whether a session of `team_id` carrying `labels` (their `label_key`s) is held to
        this policy."""
        if self.label is None:
            return self.team_id is not None and self.team_id == team_id
        if self.team_id is not None and self.team_id != team_id:
            return False
        return label_key(self.label) in labels


class Targets(Protocol):
    """First-response and resolution targets in business seconds (None: no such target)."""

    @property
    def first_response_seconds(self) -> int | None: ...

    @property
    def resolution_seconds(self) -> int | None: ...


@dataclass(frozen=True)
class SlaTargets:
    """The targets a session is held to: each the strictest (smallest) among the policies
    that apply — its team's and its labels' — so adding a label can only bring a deadline
    forward, and taking it off puts the team's back. The deadlines always count from the
    session's start: a label added later recomputes them, it never starts a second clock."""

    first_response_seconds: int | None
    resolution_seconds: int | None


def _smallest(values: Iterable[int | None]) -> int | None:
    given = [v for v in values if v is not None]
    return min(given) if given else None


def strictest_targets(
    policies: Iterable[SlaPolicy], team_id: uuid.UUID | None, labels: Iterable[str] = ()
) -> SlaTargets | None:
    """The session's targets from the policies that apply to it (None: no SLA)."""
    keys = frozenset(label_key(label) for label in labels)
    applying = [p for p in policies if p.applies_to(team_id, keys)]
    if not applying:
        return None
    return SlaTargets(
        first_response_seconds=_smallest(p.first_response_seconds for p in applying),
        resolution_seconds=_smallest(p.resolution_seconds for p in applying),
    )


@dataclass(frozen=True)
class SlaPoint:
    """One moment an SLA clock raises something: `kind` first_response|resolution,
    `level` warning|breached."""

    kind: str
    level: str
    at: datetime

    @property
    def key(self) -> str:
        return f"{self.kind}.{self.level}"


def sla_points(policy: Targets, hours: Hours, started_at: datetime) -> list[SlaPoint]:
    """The warning (80 %) and breach (100 %) instants of each target, in business time."""
    points = []
    for kind, target in (
        ("first_response", policy.first_response_seconds),
        ("resolution", policy.resolution_seconds),
    ):
        if target is None:
            continue
        for level, fraction in (("warning", SLA_WARNING_FRACTION), ("breached", 1.0)):
            at = hours.add(started_at, target * fraction)
            if at is not None:
                points.append(SlaPoint(kind, level, at))
    return sorted(points, key=lambda p: p.at)


@dataclass(frozen=True)
class Route:
    """Where a new session goes: its team (None: the tenant's common queue) and the
    skills its agent needs; with the team's hours, SLA and follow-up."""

    team_id: uuid.UUID | None = None
    rule_id: uuid.UUID | None = None
    required_skills: tuple[str, ...] = ()
    members: tuple[uuid.UUID, ...] | None = None  # None: anyone in the tenant
    hours: Hours = field(default_factory=AlwaysOpen)
    # The team's SLA policies and every label policy its sessions may be held to.
    sla_policies: tuple[SlaPolicy, ...] = ()
    follow_up: FollowUp | None = None

    def sla(self, labels: Iterable[str] = ()) -> SlaTargets | None:
        """The targets of a session of this route carrying `labels` (None: no SLA)."""
        return strictest_targets(self.sla_policies, self.team_id, labels)

    @property
    def has_label_policies(self) -> bool:
        """Whether a session's labels can change its SLA (else they need not be read)."""
        return any(p.label is not None for p in self.sla_policies)
