"""The demo's WhatsApp: a WAHA simulator inside `ventros run`, and the demo channel on it.

When the demo is on (`ventros run`, VENTROS_DEMO), the supervisor starts a `WahaSimulator`
in its own event loop, next to the API: on VENTROS_WAHA_SIM_PORT (3000, WAHA's default, so
`ventros waha-sim say "..."` reaches it), or any free port when that one is taken. The demo
tenant gets (or keeps) a channel "Demo WhatsApp (simulator)" pointing at it, with fresh
secrets each start; once the API listens, the simulator's webhooks go to
`/webhooks/waha/{channel id}` and a customer writes in, so the demo opens on a conversation.
The customer's message has a fixed WhatsApp id: a restart does not repeat it.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import uuid
from dataclasses import dataclass

import structlog

from ventros.channels import service as channels
from ventros.identity.domain import Principal
from ventros.identity.service import demo_admin
from ventros.platform.crypto import SecretBox
from ventros.platform.settings import Settings
from ventros.platform.uow import UnitOfWorkFactory
from ventros.stand_ins.waha import SimulatorServer, WahaSimulator, server_for

log = structlog.get_logger(__name__)

DEMO_CHANNEL_NAME = "Demo WhatsApp (simulator)"
DEMO_CUSTOMER = "5511976543210"
DEMO_CUSTOMER_NAME = "Mariana Costa"
DEMO_TEXT = "Olá! Vi o anúncio de vocês. Vocês têm armação da Ray-Ban em estoque? 😊"
DEMO_KEY_ID = "DEMO0A1C47D92E5F38B6A04C0FFEE01"


@dataclass
class DemoWhatsApp:
    simulator: WahaSimulator
    server: SimulatorServer
    task: asyncio.Task[None]
    url: str
    channel_id: uuid.UUID | None = None

    async def stop(self) -> None:
        self.server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(self.task, 5)
        if not self.task.done():
            self.task.cancel()

    async def api_ready(self, api_base_url: str) -> None:
        """Points the webhooks at the API and plays the demo customer's first message."""
        if self.channel_id is None:
            return
        self.simulator.webhook_url = f"{api_base_url}/webhooks/waha/{self.channel_id}"
        _, status = await self.simulator.customer_message(
            DEMO_CUSTOMER, DEMO_TEXT, push_name=DEMO_CUSTOMER_NAME, key_id=DEMO_KEY_ID
        )
        log.info("demo customer wrote in", webhook_status=status)


def _listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for candidate in dict.fromkeys((port, 0)):
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, candidate))
        except OSError:
            sock.close()
            if candidate == 0:
                raise
            continue
        sock.set_inheritable(True)
        return sock
    raise OSError("no port")  # pragma: no cover - the loop returns or raises


async def start_demo_whatsapp(
    uow: UnitOfWorkFactory, settings: Settings, box: SecretBox
) -> DemoWhatsApp | None:
    """The simulator listening, and the demo channel on it (None if anything fails: the
    demo goes on without WhatsApp)."""
    try:
        sock = _listening_socket(settings.waha_sim_host, settings.waha_sim_port)
    except OSError as error:
        log.warning("demo WhatsApp simulator not started", error=str(error))
        return None
    port = int(sock.getsockname()[1])
    url = f"http://{settings.waha_sim_host}:{port}"
    simulator = WahaSimulator(
        api_key=secrets.token_urlsafe(16), webhook_secret=secrets.token_urlsafe(24)
    )
    server = server_for(simulator, host=settings.waha_sim_host, port=port)
    task = asyncio.create_task(server.serve(sockets=[sock]), name="demo-waha-simulator")
    demo = DemoWhatsApp(simulator, server, task, url)
    try:
        await asyncio.wait_for(server.ready.wait(), 10)
        demo.channel_id = await _ensure_channel(uow, settings, box, simulator, url)
    except Exception:
        log.exception("demo WhatsApp channel not set up")
        await demo.stop()
        sock.close()
        return None
    return demo


async def _ensure_channel(
    uow: UnitOfWorkFactory, settings: Settings, box: SecretBox, simulator: WahaSimulator, url: str
) -> uuid.UUID | None:
    admin = await demo_admin(uow, email=settings.demo_email)
    if admin is None:
        return None
    existing = await _demo_channel(uow, box, admin)
    assert simulator.webhook_secret is not None
    if existing is None:
        channel = await channels.create_channel(
            uow,
            box,
            admin,
            channels.CreateChannel(
                name=DEMO_CHANNEL_NAME,
                base_url=url,
                webhook_secret=simulator.webhook_secret,
                api_key=simulator.api_key,
            ),
        )
        return channel.id
    fields = {"base_url": url, "api_key": simulator.api_key}
    fields["webhook_secret"] = simulator.webhook_secret
    await channels.update_channel(uow, box, admin, existing, fields)
    return existing


async def _demo_channel(
    uow: UnitOfWorkFactory, box: SecretBox, admin: Principal
) -> uuid.UUID | None:
    before = None
    while True:
        page = await channels.list_channels(uow, box, admin, limit=100, before=before)
        for channel in page.items:
            if channel.name == DEMO_CHANNEL_NAME:
                return channel.id
        if page.next_before is None:
            return None
        before = page.next_before
