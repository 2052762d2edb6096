"""The demo tenant's team and history, so `make run` opens on a working inbox: a
supervisor and two agents, about 25 contacts, sessions waiting, assigned and closed with
CSAT, every message type, a sales pipeline with contacts over its stages, and ad-sourced
leads with spend. Seeded once, when the demo tenant is created; `DEMO_USERS` lists the
logins it creates (the start-up banner prints them)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import structlog

from ventros.contacts import service as contacts
from ventros.conversations.domain import (
    Direction,
    Message,
    MessageContent,
    MessageStatus,
    MessageType,
    Session,
)
from ventros.conversations.repository import MessageRepository, SessionRepository
from ventros.identity import service as identity
from ventros.identity.domain import AgentStatus, Principal, Role
from ventros.kernel.clock import utcnow
from ventros.kernel.events import Actor
from ventros.pipelines import service as pipelines
from ventros.platform.uow import UnitOfWorkFactory
from ventros.tracking import service as tracking
from ventros.tracking.domain import ClickIdType, Source
from ventros.tracking.repository import ad_spend_daily

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class DemoUser:
    role: Role
    name: str
    email: str
    password: str


DEMO_USERS = (
    DemoUser(
        Role.SUPERVISOR, "Sofia Supervisora", "supervisor@demo.ventros.local", "Supervisora-demo1"
    ),
    DemoUser(Role.AGENT, "Ana Atendente", "ana@demo.ventros.local", "Atendente-demo1"),
    DemoUser(Role.AGENT, "Bruno Atendente", "bruno@demo.ventros.local", "Atendente-demo2"),
)

CUSTOMERS = (
    "Mariana Silva", "João Pereira", "Beatriz Santos", "Lucas Oliveira", "Camila Souza",
    "Rafael Lima", "Fernanda Rocha", "Gabriel Alves", "Juliana Ribeiro", "Pedro Carvalho",
    "Larissa Gomes", "Thiago Martins", "Amanda Barbosa", "Felipe Araújo", "Patrícia Melo",
    "Rodrigo Teixeira", "Aline Cardoso", "Marcelo Dias", "Vanessa Castro", "Eduardo Nunes",
    "Carolina Freitas", "Diego Moreira", "Renata Pinto", "Gustavo Ramos",
)  # fmt: skip

EXCHANGES = (
    ("Oi! Vocês entregam em Campinas?", "Entregamos sim! O frete é grátis acima de R$ 200."),
    ("Qual o horário de funcionamento?", "De segunda a sábado, das 9h às 19h."),
    ("Tem a armação Ray-Ban RB5154 em estoque?", "Temos em preto e tartaruga. Quer reservar?"),
    ("Posso parcelar em 10x?", "Pode sim, em até *10x sem juros* no cartão."),
    ("Meu pedido ainda não chegou 😕", "Sinto muito! Vou verificar com a transportadora agora."),
    ("Vocês fazem exame de vista?", "Fazemos, com hora marcada. Amanhã às 15h serve?"),
)


def _text(text: str) -> MessageContent:
    return MessageContent(type=MessageType.TEXT, text=text)


def _every_type() -> list[tuple[Direction, MessageContent]]:
    """One message of each kind the inbox renders."""
    base = "https://picsum.photos/seed/ventros"
    return [
        (Direction.INBOUND, _text("Oi! Vi o anúncio no Instagram 😊")),
        (Direction.INBOUND, MessageContent(
            type=MessageType.IMAGE, caption="Essa aqui, tem?",
            media={"url": f"{base}/640/400", "mimetype": "image/jpeg"})),
        (Direction.OUTBOUND, _text("Temos sim! Segue o catálogo:")),
        (Direction.OUTBOUND, MessageContent(
            type=MessageType.DOCUMENT,
            media={"url": f"{base}/catalogo.pdf", "mimetype": "application/pdf",
                   "filename": "catalogo-verao.pdf"})),
        (Direction.INBOUND, MessageContent(
            type=MessageType.AUDIO, media={"url": f"{base}/audio.ogg", "mimetype": "audio/ogg"})),
        (Direction.OUTBOUND, MessageContent(
            type=MessageType.VIDEO, caption="Veja como fica no rosto",
            media={"url": f"{base}/video.mp4", "mimetype": "video/mp4"})),
        (Direction.OUTBOUND, MessageContent(
            type=MessageType.LOCATION,
            location={"latitude": -23.5614, "longitude": -46.6559, "title": "Loja Paulista"})),
        (Direction.OUTBOUND, MessageContent(
            type=MessageType.CONTACT,
            vcards=("BEGIN:VCARD\nVERSION:3.0\nFN:Loja Ventros Paulista\n"
                    "TEL;type=CELL:+551130000000\nEND:VCARD",))),
        (Direction.INBOUND, MessageContent(
            type=MessageType.STICKER, media={"url": f"{base}/200/200", "mimetype": "image/webp"})),
        (Direction.INBOUND, _text("Perfeito, passo aí _amanhã_ ~cedo~ à tarde. Obrigada!")),
    ]  # fmt: skip


async def seed_demo_team(uow: UnitOfWorkFactory, admin: Principal) -> list[DemoUser]:
    """Creates the demo's team and history in the admin's tenant; returns its users."""
    users: dict[str, uuid.UUID] = {}
    for person in DEMO_USERS:
        user = await identity.register_user(
            uow,
            admin,
            identity.RegisterUser(
                email=person.email,
                name=person.name,
                password=person.password,
                role=person.role,
                max_concurrent_sessions=20,
                skills=(),
            ),
        )
        users[person.email] = user.id
    agents = [users[p.email] for p in DEMO_USERS if p.role is Role.AGENT]
    await _set_available(uow, admin, agents)
    contact_ids = [
        (
            await contacts.create_contact(
                uow,
                admin,
                contacts.CreateContact(
                    name=name,
                    phone=f"+55119{81234000 + index:08d}",
                    tags=["cliente"] if index % 3 else ["lead", "instagram"],
                    custom_fields={"cidade": ("São Paulo", "Campinas", "Santos")[index % 3]},
                ),
            )
        ).id
        for index, name in enumerate(CUSTOMERS)
    ]
    await _conversations(uow, admin.tenant_id, contact_ids, agents)
    await _pipeline(uow, admin, contact_ids)
    await _ads(uow, admin, contact_ids)
    await _agent_tools(uow, admin)
    log.info("demo team seeded", users=len(DEMO_USERS), contacts=len(contact_ids))
    return list(DEMO_USERS)


# Canned replies (typed as /shortcut in the composer) and conversation labels.
DEMO_REPLIES = (
    (
        "ola",
        "Olá, {{contact.first_name}}! Aqui é {{agent.name}}, da Ótica Ventros. Como posso ajudar?",
    ),
    ("frete", "Entregamos em {{custom.cidade}}! O frete é grátis acima de R$ 200."),
    ("horario", "Atendemos de segunda a sábado, das 9h às 19h."),
    ("parcelar", "Parcelamos em até *10x sem juros* no cartão."),
)
DEMO_LABELS = (("VIP", "#7c3aed"), ("Reclamação", "#dc2626"), ("Troca", "#0891b2"))


async def _agent_tools(uow: UnitOfWorkFactory, admin: Principal) -> None:
    from ventros.conversations.service import labels
    from ventros.replies import service as replies

    for shortcut, text in DEMO_REPLIES:
        await replies.create_reply(uow, admin, shortcut=shortcut, text=text)
    for name, color in DEMO_LABELS:
        await labels.create_label(uow, admin, name=name, color=color)


async def _set_available(uow: UnitOfWorkFactory, admin: Principal, agents: list[uuid.UUID]) -> None:
    from ventros.agents import service as agents_service
    from ventros.conversations.service.assignment import load_of

    for agent_id in agents:
        await agents_service.set_status(uow, admin, agent_id, AgentStatus.AVAILABLE, load=load_of)


def _message(
    tenant_id: uuid.UUID, session: Session, direction: Direction, content: MessageContent,
    at: datetime, status: MessageStatus,
) -> Message:  # fmt: skip
    if direction is Direction.INBOUND:
        return Message.receive(
            tenant_id=tenant_id, session=session, content=content, at=at,
            external_id=f"false_demo_{uuid.uuid4().hex}",
        )  # fmt: skip
    return Message.in_session(
        session, tenant_id=tenant_id, direction=direction, content=content, status=status, at=at
    )


async def _conversations(
    uow: UnitOfWorkFactory, tenant_id: uuid.UUID, contact_ids: list[uuid.UUID],
    agents: list[uuid.UUID],
) -> None:  # fmt: skip
    """12 waiting, 12 with an agent, 12 closed with a rating, over the last days."""
    now = utcnow()
    channel_id = uuid.uuid5(uuid.NAMESPACE_URL, f"ventros-demo-history:{tenant_id}")
    plan: list[tuple[uuid.UUID, str, datetime]] = []
    for index, contact_id in enumerate(contact_ids[:12]):
        plan.append((contact_id, "closed", now - timedelta(days=3 + index % 5, hours=index)))
    for index, contact_id in enumerate(contact_ids[12:24]):
        plan.append((contact_id, "assigned", now - timedelta(minutes=5 + 9 * index)))
    for index, contact_id in enumerate(contact_ids[:12]):
        plan.append((contact_id, "waiting", now - timedelta(minutes=2 + 7 * index)))
    async with uow(tenant_id, Actor.system()) as tx:
        sessions, messages = SessionRepository(tx), MessageRepository(tx)
        for index, (contact_id, state, at) in enumerate(plan):
            lines = _every_type() if index == 12 else _exchange(index)
            # The conversation ends at `at`, never in the future.
            session = Session.open(
                tenant_id=tenant_id,
                contact_id=contact_id,
                channel_id=channel_id,
                at=at - timedelta(seconds=40 * len(lines)),
            )
            written: list[Message] = []
            for step, (direction, content) in enumerate(lines):
                if state == "waiting" and direction is Direction.OUTBOUND:
                    continue
                status = MessageStatus.READ if step % 2 else MessageStatus.DELIVERED
                written.append(
                    _message(tenant_id, session, direction, content,
                             at + timedelta(seconds=40 * (step - len(lines))), status)
                )  # fmt: skip
            if state != "waiting":
                session.agent_id = agents[index % len(agents)]
            if state == "closed":
                session.close("agent", at=at + timedelta(minutes=12))
                session.csat_score = 3 + index % 3
                session.csat_comment = "Atendimento rápido!" if index % 2 else None
            assert await sessions.add(session)
            for message in written:
                await messages.add(message)
        await tx.commit()


def _exchange(index: int) -> list[tuple[Direction, MessageContent]]:
    question, answer = EXCHANGES[index % len(EXCHANGES)]
    return [(Direction.INBOUND, _text(question)), (Direction.OUTBOUND, _text(answer))]


async def _pipeline(uow: UnitOfWorkFactory, admin: Principal, contact_ids: list[uuid.UUID]) -> None:
    pipeline = await pipelines.create_pipeline(
        uow,
        admin,
        pipelines.CreatePipeline(
            name="Vendas",
            stages=[
                ("Novo lead", "open"), ("Qualificado", "open"), ("Proposta", "open"),
                ("Ganho", "won"), ("Perdido", "lost"),
            ],
        ),
    )  # fmt: skip
    for index, contact_id in enumerate(contact_ids[:20]):
        stage = pipeline.stages[index % len(pipeline.stages)]
        await pipelines.move_contact(
            uow, admin, pipelines.MoveContact(contact_id, pipeline.id, stage.id)
        )


async def _ads(uow: UnitOfWorkFactory, admin: Principal, contact_ids: list[uuid.UUID]) -> None:
    """Click-to-WhatsApp leads from two campaigns, and a week of their ads' spend."""
    ads: list[tuple[Source, str, str]] = [
        (Source.INSTAGRAM_ADS, "cmp-verao-2026", "ad-oculos-sol"),
        (Source.FACEBOOK_ADS, "cmp-lentes", "ad-lentes-contato"),
    ]
    for index, contact_id in enumerate(contact_ids[::3]):
        source, campaign, ad = ads[index % len(ads)]
        await tracking.create_tracking(
            uow,
            admin,
            tracking.CreateTracking(
                contact_id=contact_id,
                source=source,
                campaign_id=campaign,
                ad_id=ad,
                click_id=f"ARAkLk{uuid.uuid4().hex[:20]}",
                click_id_type=ClickIdType.CTWA_CLID,
            ),
        )
    rows: list[dict[str, Any]] = []
    today = date.today()
    for _, campaign, ad in ads:
        for day in range(7):
            rows.append(
                {
                    "tenant_id": admin.tenant_id, "platform": "meta", "ad_id": ad,
                    "day": today - timedelta(days=day), "campaign_id": campaign,
                    "spend_cents": 4_500 + 700 * day, "currency": "BRL",
                    "impressions": 3_000 + 150 * day, "clicks": 80 + 3 * day, "leads": 4,
                    "fetched_at": utcnow(),
                }
            )  # fmt: skip
    async with uow(admin.tenant_id, Actor.user(admin.user_id)) as tx:
        await tx.connection.execute(ad_spend_daily.insert(), rows)
        await tx.commit()
