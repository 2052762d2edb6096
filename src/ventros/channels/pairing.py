"""Pairing a phone and watching the WhatsApp session: WAHA's status, QR code, restart, logout.

What WAHA answers is also recorded on the channel (as a `session.status` webhook would be),
so a status read here raises `channel.status_changed` when it is news.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from ventros.channels import service
from ventros.channels.domain import Channel
from ventros.channels.waha_client import WahaClient, WahaTarget
from ventros.identity.domain import Principal
from ventros.kernel.clock import utcnow
from ventros.kernel.errors import Conflict
from ventros.kernel.events import Actor
from ventros.platform.crypto import SecretBox
from ventros.platform.uow import UnitOfWorkFactory

WORKING = "WORKING"
SCAN_QR_CODE = "SCAN_QR_CODE"
ACTIONS = ("restart", "logout")


@dataclass(frozen=True)
class SessionState:
    """WAHA's view of the session. Any status but WORKING (unknown ones too) is not working."""

    status: str
    me_id: str | None = None
    push_name: str | None = None

    @property
    def working(self) -> bool:
        return self.status == WORKING

    @classmethod
    def of(cls, info: dict[str, Any]) -> SessionState:
        status = str(info.get("status") or "UNKNOWN").strip().upper() or "UNKNOWN"
        me = info.get("me") if isinstance(info.get("me"), dict) else {}
        return cls(
            status=status,
            me_id=str(me["id"]) if me and me.get("id") else None,
            push_name=str(me["pushName"]) if me and me.get("pushName") else None,
        )


def target_of(channel: Channel) -> WahaTarget:
    return WahaTarget(channel.base_url, channel.waha_session, channel.api_key)


async def session_state(
    uow: UnitOfWorkFactory,
    box: SecretBox,
    principal: Principal,
    channel_id: uuid.UUID,
    client: WahaClient,
) -> SessionState:
    """WAHA's session status now (WahaError when WAHA does not answer), recorded."""
    channel = await service.get_channel(uow, box, principal, channel_id)
    state = SessionState.of(await client.session_info(target_of(channel)))
    await record_status(uow, box, principal.tenant_id, channel_id, state.status)
    return state


async def record_status(
    uow: UnitOfWorkFactory,
    box: SecretBox,
    tenant_id: uuid.UUID,
    channel_id: uuid.UUID,
    status: str,
) -> bool:
    async with uow(tenant_id, Actor.system()) as tx:
        channel = await service.channel_for_ingest(tx, box, channel_id)
        if channel is None:
            return False
        changed = await service.apply_session_status(tx, box, channel, status, at=utcnow())
        await tx.commit()
    return changed


async def session_qr(
    uow: UnitOfWorkFactory,
    box: SecretBox,
    principal: Principal,
    channel_id: uuid.UUID,
    client: WahaClient,
) -> bytes:
    """The QR code to scan with the phone, PNG; Conflict unless WAHA waits for a scan."""
    state = await session_state(uow, box, principal, channel_id, client)
    if state.status != SCAN_QR_CODE:
        raise Conflict(f"the session is not waiting for a QR scan (status {state.status})")
    channel = await service.get_channel(uow, box, principal, channel_id)
    return await client.qr_png(target_of(channel))


async def session_action(
    uow: UnitOfWorkFactory,
    box: SecretBox,
    principal: Principal,
    channel_id: uuid.UUID,
    client: WahaClient,
    action: str,
) -> None:
    """Restarts the session, or logs the phone out (WAHA then offers a new QR code)."""
    if action not in ACTIONS:
        raise ValueError(action)
    channel = await service.get_channel(uow, box, principal, channel_id)
    await client.session_action(target_of(channel), action)
