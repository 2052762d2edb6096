"""Session.check_writer: the one rule of every write into a session (issue 19, item 1),
and CSAT only once a session is closed (item 4)."""

from __future__ import annotations

import uuid

import pytest

from ventros.conversations.domain import Session
from ventros.kernel.clock import utcnow
from ventros.kernel.errors import Conflict, PermissionDenied

ALICE = uuid.uuid4()
BOB = uuid.uuid4()


def a_session(agent_id: uuid.UUID | None = None) -> Session:
    session = Session.open(
        tenant_id=uuid.uuid4(), contact_id=uuid.uuid4(), channel_id=uuid.uuid4(), at=utcnow()
    )
    if agent_id is not None:
        session.assign(agent_id)
    return session


def test_an_agent_writes_into_their_own_session_without_taking_it() -> None:
    assert a_session(ALICE).check_writer(ALICE, supervises=False, doing="send into") is False


def test_an_agent_takes_an_unassigned_open_session_they_write_into() -> None:
    assert a_session().check_writer(ALICE, supervises=False, doing="send into") is True


def test_an_agent_cannot_write_into_another_agents_session() -> None:
    with pytest.raises(PermissionDenied, match="assigned to another agent"):
        a_session(BOB).check_writer(ALICE, supervises=False, doing="send into")


def test_a_supervisor_writes_into_any_session_without_taking_it() -> None:
    assert a_session(BOB).check_writer(ALICE, supervises=True, doing="send into") is False
    assert a_session().check_writer(ALICE, supervises=True, doing="close") is False


def test_nobody_takes_a_closed_session() -> None:
    session = a_session()
    session.close("resolved")
    assert session.check_writer(ALICE, supervises=False, doing="rate") is False


def test_only_a_closed_session_is_rated() -> None:
    session = a_session(ALICE)
    with pytest.raises(Conflict, match="closed"):
        session.record_csat(5)
    session.close("resolved")
    session.record_csat(5)
    assert session.csat_score == 5
