"""Every context's consumers are run by the worker: the runtime's registry, joined from
each context's `wire(container)`, holds them all, on the declared queues."""

from tests.conftest import make_settings
from ventros.runtime.container import bootstrap
from ventros.runtime.registry import Registry, wire


def _registry() -> Registry:
    container = bootstrap(make_settings(), database_url="postgresql://nobody@127.0.0.1:1/none")
    return wire(container)


def test_every_context_consumer_is_registered() -> None:
    assert {c.name for c in _registry().consumers} == {
        "contacts.fetch_profile_picture",
        "conversations.close_sessions_of_deleted_channel",
        "conversations.send_whatsapp",
        "conversations.auto_assign",
        "conversations.drain_assignment_queue",
        "conversations.sla_on_label",
        "conversations.csat_on_close",
        "tracking.enrich",
        "tracking.conversion_on_won",
        "tracking.send_conversion",
        "webhooks.start_deliveries",
        "webhooks.start_contact_deliveries",
        "channels.start_watchdog",
        "media.keep_inbound",
        "analysis.analyze_inbound",
        "analysis.llm",
    }


def test_the_webhook_fan_out_and_contact_enrichment_use_the_declared_queues() -> None:
    queues = _registry().consumers.by_queue()
    [everything_else] = queues["domain.events.all"]
    [contacts] = queues["contact.events.webhook"]
    assert (everything_else.name, contacts.name) == (
        "webhooks.start_deliveries",
        "webhooks.start_contact_deliveries",
    )
    # Each event is fanned out once: contact events by one, the rest by the other.
    for name in ("contact.created", "contact.merged", "message.received", "session.closed"):
        assert everything_else.matches(name) != contacts.matches(name)
    assert [c.name for c in queues["contact.events.enrichment"]] == [
        "contacts.fetch_profile_picture"
    ]


def test_every_context_with_workflows_gives_the_temporal_worker_its_parts() -> None:
    names = {w.__name__ for build in _registry().worker_parts for w in build().workflows}
    assert names == {
        "ScheduledMessageWorkflow",
        "SessionLifecycleWorkflow",
        "SessionTimeoutsWorkflow",
        "SessionServiceWorkflow",
        "WebhookDeliveryWorkflow",
        "EnrichTrackingWorkflow",
        "SendConversionWorkflow",
        "ChannelWatchdogWorkflow",
    }
