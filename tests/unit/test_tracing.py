"""W3C trace context: parsing, children, and events recorded inside a trace."""

import uuid

import pytest

from ventros.kernel.events import DomainEvent
from ventros.kernel.tracing import TraceContext, current_trace, traced

VALID = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_a_valid_traceparent_is_parsed() -> None:
    context = TraceContext.parse(VALID)
    assert context == TraceContext("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", "01")
    assert context.header == VALID


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "garbage",
        "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # unknown version
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # invalid trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # invalid span id
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",  # short trace id
    ],
)
def test_a_missing_or_malformed_traceparent_is_none(header: str | None) -> None:
    assert TraceContext.parse(header) is None


def test_a_child_is_a_new_operation_of_the_same_trace() -> None:
    parent = TraceContext.new()
    child = parent.child()
    assert child.trace_id == parent.trace_id
    assert child.span_id != parent.span_id
    assert TraceContext.parse(child.header) == child


def test_events_recorded_inside_a_trace_carry_it_and_others_do_not() -> None:
    def event() -> DomainEvent:
        return DomainEvent("test.happened", uuid.uuid4(), "test", uuid.uuid4(), {})

    context = TraceContext.new()
    with traced(context):
        inside = event()
        assert current_trace() == context
    assert current_trace() is None
    assert inside.traceparent == context.header
    assert event().traceparent is None
    assert DomainEvent.from_json({**inside.to_json(), "traceparent": VALID}).traceparent == VALID
    assert "traceparent" not in inside.to_json()  # not part of the API's event JSON
