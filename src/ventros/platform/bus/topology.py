"""The declared topology: exchanges, the queues every deployment has, and their names.

Every domain event is published to `domain.events` with its name as routing key.
`contact.events` is bound to it for `contact.#`, so contact events also reach the queues
of that exchange without the relay publishing twice. `waha.events` (inbound WhatsApp
envelopes) and `webhooks.outbound` are fed directly by their producers.

Outbound webhooks are fanned out from two queues: contact events from
`contact.events.webhook`, every other event from `domain.events.all` (its consumer leaves
contact events out), so a flood of message events never delays a contact's webhooks.
`contact.events.enrichment` feeds the contact enrichment consumer (profile pictures).

Each queue `q` is durable with a 24 h message TTL and dead-letters into `q.dlq` (through
the direct exchange `ventros.dlx`, routing key `q`). Retries wait in `q.retry.<ms>ms`
queues whose TTL returns the message to `q` (through the default exchange) when it ends.
"""

from __future__ import annotations

from dataclasses import dataclass

from ventros.platform.bus import (
    CONTACT_EVENTS,
    DOMAIN_EVENTS,
    WAHA_EVENTS,
    WEBHOOKS_OUTBOUND,
    Binding,
    QueueSpec,
)

EXCHANGES = (DOMAIN_EVENTS, WAHA_EVENTS, CONTACT_EVENTS, WEBHOOKS_OUTBOUND)
DEAD_LETTER_EXCHANGE = "ventros.dlx"


@dataclass(frozen=True, slots=True)
class ExchangeBinding:
    source: str
    destination: str
    pattern: str


EXCHANGE_BINDINGS = (ExchangeBinding(DOMAIN_EVENTS, CONTACT_EVENTS, "contact.#"),)

WAHA_MESSAGES = "waha.messages"
CONTACT_ENRICHMENT = "contact.events.enrichment"
CONTACT_WEBHOOK = "contact.events.webhook"
WEBHOOKS_DELIVERY = "webhooks.delivery"
DOMAIN_EVENTS_ALL = "domain.events.all"

QUEUES = (
    QueueSpec(WAHA_MESSAGES, (Binding(WAHA_EVENTS, "#"),)),
    QueueSpec(CONTACT_ENRICHMENT, (Binding(CONTACT_EVENTS, "#"),)),
    QueueSpec(CONTACT_WEBHOOK, (Binding(CONTACT_EVENTS, "#"),)),
    QueueSpec(WEBHOOKS_DELIVERY, (Binding(WEBHOOKS_OUTBOUND, "#"),)),
    QueueSpec(DOMAIN_EVENTS_ALL, (Binding(DOMAIN_EVENTS, "#"),)),
)


def dlq_name(queue: str) -> str:
    return f"{queue}.dlq"


def retry_queue_name(queue: str, delay_seconds: float) -> str:
    return f"{queue}.retry.{round(delay_seconds * 1000)}ms"


def reached_exchanges(exchange: str, routing_key: str) -> list[str]:
    """`exchange` and every exchange bound to it (transitively) for this routing key."""
    from ventros.platform.bus import topic_matches

    reached = [exchange]
    for current in reached:
        for binding in EXCHANGE_BINDINGS:
            if (
                binding.source == current
                and binding.destination not in reached
                and topic_matches(binding.pattern, routing_key)
            ):
                reached.append(binding.destination)
    return reached


def merge_queues(*groups: tuple[QueueSpec, ...] | list[QueueSpec]) -> list[QueueSpec]:
    """One spec per queue name, bindings united, first-seen order."""
    merged: dict[str, QueueSpec] = {}
    for group in groups:
        for spec in group:
            merged[spec.name] = merged[spec.name].merged(spec) if spec.name in merged else spec
    return list(merged.values())
