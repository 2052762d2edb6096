"""W3C trace context (`traceparent`) for the work in progress.

A request starts a trace (or continues the caller's); every domain event recorded while it
runs carries it; the relay puts it in the message headers and each consumer continues it,
so the events those handlers raise belong to the same trace. Logs show `trace_id`, so one
customer's message can be followed from the HTTP call through every consumer.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_INVALID_TRACE = "0" * 32
_INVALID_SPAN = "0" * 16


@dataclass(frozen=True, slots=True)
class TraceContext:
    trace_id: str  # 32 lower-case hex digits
    span_id: str  # 16 lower-case hex digits: the current operation
    flags: str = "01"  # sampled

    @classmethod
    def parse(cls, header: str | None) -> TraceContext | None:
        """A `traceparent` header's context, or None when absent or malformed."""
        found = _TRACEPARENT.match((header or "").strip().lower())
        if found is None:
            return None
        trace_id, span_id, flags = found.groups()
        if trace_id == _INVALID_TRACE or span_id == _INVALID_SPAN:
            return None
        return cls(trace_id, span_id, flags)

    @classmethod
    def new(cls) -> TraceContext:
        return cls(_random_hex(128), _random_hex(64))

    def child(self) -> TraceContext:
        """A new operation in the same trace."""
        return TraceContext(self.trace_id, _random_hex(64), self.flags)

    @property
    def header(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{self.flags}"


def _random_hex(bits: int) -> str:
    """A random non-zero id, as OpenTelemetry's own generator makes them: ids need to be
    unique, not secret, and the system's entropy source costs a system call per id (a few
    per webhook and per event)."""
    value = 0
    while not value:
        value = random.getrandbits(bits)
    return f"{value:0{bits // 4}x}"


_current: ContextVar[TraceContext | None] = ContextVar("trace_context", default=None)


def current_trace() -> TraceContext | None:
    return _current.get()


def current_traceparent() -> str | None:
    context = _current.get()
    return context.header if context is not None else None


@contextmanager
def traced(context: TraceContext) -> Iterator[TraceContext]:
    """Runs the block as `context` (events recorded inside carry it)."""
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)
