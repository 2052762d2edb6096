"""Rules of agents (users who serve sessions). Pure: no I/O.

The agent is the identity context's `User`; this module holds the rules about it as an
agent: status changes, and what may be changed about it.
"""

from __future__ import annotations

from datetime import datetime

from ventros.identity.domain import AgentStatus, Role, User
from ventros.kernel.clock import utcnow
from ventros.kernel.errors import RuleViolation

AGENT_STATUS_CHANGED = "agent.status_changed"
AGENT_UPDATED = "agent.updated"
AGENT_DEACTIVATED = "agent.deactivated"
AGENT_REACTIVATED = "agent.reactivated"
MAX_SKILLS = 50


def clean_skills(skills: list[str]) -> list[str]:
    cleaned = sorted({s.strip().lower() for s in skills if s.strip()})
    if len(cleaned) > MAX_SKILLS:
        raise RuleViolation(f"at most {MAX_SKILLS} skills", field="skills")
    return cleaned


def change_status(agent: User, status: AgentStatus, *, at: datetime | None = None) -> bool:
    """Sets the agent's status; records `agent.status_changed` if it changed."""
    if agent.status is status:
        return False
    previous = agent.status
    agent.status = status
    agent.status_changed_at = at or utcnow()
    agent.updated_at = agent.status_changed_at
    agent.record(
        AGENT_STATUS_CHANGED,
        {
            "agent_id": str(agent.id),
            "status": status.value,
            "previous_status": previous.value,
            "changed_at": agent.status_changed_at.isoformat().replace("+00:00", "Z"),
        },
    )
    return True


def update_agent(
    agent: User,
    *,
    name: str | None = None,
    role: Role | None = None,
    max_concurrent_sessions: int | None = None,
    skills: list[str] | None = None,
) -> None:
    changes: dict[str, object] = {}
    if name is not None:
        if not name.strip():
            raise RuleViolation("name must not be empty", field="name")
        agent.name = name.strip()
        changes["name"] = agent.name
    if role is not None:
        agent.role = role
        changes["role"] = role.value
    if max_concurrent_sessions is not None:
        if max_concurrent_sessions < 0:
            raise RuleViolation(
                "max_concurrent_sessions must be >= 0", field="max_concurrent_sessions"
            )
        agent.max_concurrent_sessions = max_concurrent_sessions
        changes["max_concurrent_sessions"] = max_concurrent_sessions
    if skills is not None:
        agent.skills = clean_skills(skills)
        changes["skills"] = agent.skills
    if changes:
        agent.updated_at = utcnow()
        agent.record(AGENT_UPDATED, {"agent_id": str(agent.id), "changes": changes})


def deactivate(agent: User, *, requeued_sessions: list[str]) -> None:
    """The user can no longer log in or act; they go offline. Their open sessions went back
    to the waiting queue (`requeued_sessions`)."""
    if not agent.active:
        return
    change_status(agent, AgentStatus.OFFLINE)
    agent.active = False
    agent.updated_at = utcnow()
    agent.record(
        AGENT_DEACTIVATED,
        {"agent_id": str(agent.id), "requeued_sessions": requeued_sessions},
    )


def reactivate(agent: User) -> None:
    """The user may log in again (offline until they say otherwise)."""
    if agent.active:
        return
    agent.active = True
    agent.updated_at = utcnow()
    agent.record(AGENT_REACTIVATED, {"agent_id": str(agent.id)})


def covers(agent_skills: list[str], required: list[str]) -> bool:
    return set(required) <= set(agent_skills)
