"""Analysis runs beside the conversation, never in it: consumers of the events ingest and
the lifecycle raise, each on a queue of its own (so each has its own dead-letter queue,
and a slow LLM never delays the local analysis).

- `analysis.analyze_inbound`: `message.received` -> local verdict, `message.analyzed`,
  the session's mood and `session.needs_attention`. It takes each batch the bus hands over
  at once (one transaction per tenant, one statement per kind of row); `processed_events`
  makes a redelivery harmless (and the verdict's row is keyed by message id as well).
- `analysis.llm`: when the tenant has a provider on: a voice note's transcript, the
  model's intent when the rules found none (`message.received`), a summary on
  `session.transferred` and `session.closed`. A provider failure is counted
  (`llm_requests_total`) and swallowed: the event is handled, nothing is retried, the
  conversation never waits. Only our own failures (the database) go back to the bus.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

import structlog

from ventros.analysis import service
from ventros.analysis.llm import LlmClient, LlmFailed
from ventros.analysis.local import local_analyzer
from ventros.conversations import events as conversations
from ventros.kernel.events import DomainEvent
from ventros.platform.consumers import Consumer
from ventros.platform.crypto import SecretBox
from ventros.platform.uow import UnitOfWork

log = structlog.get_logger(__name__)

ANALYZE = "analysis.analyze_inbound"
LLM = "analysis.llm"


async def when_messages_received_analyze(received: Sequence[DomainEvent], tx: UnitOfWork) -> None:
    """A batch at once: its verdicts, events and moods are one statement each."""
    await service.analyze_many(tx, local_analyzer(), [service.Received.of(e) for e in received])


@dataclass
class WhenLlmWorkArrives:
    """The LLM consumer: the runtime gives it the container's secret box (`wire`); the
    client is made on first use in the worker's loop unless a test gives its own."""

    client: LlmClient | None = None
    box: SecretBox | None = None
    _client: LlmClient | None = field(default=None, init=False)

    def _llm(self) -> tuple[LlmClient, SecretBox]:
        if self._client is None:
            self._client = self.client or LlmClient()
        if self.box is None:
            raise RuntimeError("the LLM consumer was wired without the secret box")
        return self._client, self.box

    async def __call__(self, event: DomainEvent, tx: UnitOfWork) -> None:
        client, box = self._llm()
        try:
            if event.name == conversations.MESSAGE_RECEIVED:
                await self._message(tx, client, box, service.Received.of(event))
            else:
                trigger = (
                    "transferred" if event.name == conversations.SESSION_TRANSFERRED else ("closed")
                )
                session_id = uuid.UUID(str(event.payload.get("session_id") or event.aggregate_id))
                await service.summarize_session(tx, client, box, session_id, trigger)
        except LlmFailed as failure:
            log.warning("LLM unavailable; the conversation goes on", outcome=failure.outcome)

    async def _message(
        self, tx: UnitOfWork, client: LlmClient, box: SecretBox, received: service.Received
    ) -> None:
        if not received.inbound:
            return
        config = await service.llm_config(tx, box)
        if config is None:
            return
        if received.is_voice_note:
            await service.transcribe_voice_note(tx, client, config, local_analyzer(), received)
        else:
            await service.classify_intents(tx, client, config, local_analyzer(), received)


def consumers(box: SecretBox | None = None) -> list[Consumer]:
    return [
        Consumer.batched(
            ANALYZE, (conversations.MESSAGE_RECEIVED,), when_messages_received_analyze
        ),
        Consumer(
            LLM,
            (
                conversations.MESSAGE_RECEIVED,
                conversations.SESSION_TRANSFERRED,
                conversations.SESSION_CLOSED,
            ),
            WhenLlmWorkArrives(box=box),
        ),
    ]


# Names and queues (the runtime wires its own, with the container's secret box).
CONSUMERS = consumers()
