"""Every context's consumers are run by the worker: a `CONSUMERS` list in a module that
`HANDLER_MODULES` does not name would never see an event outside the tests."""

import importlib
import pkgutil

import ventros
from ventros.platform.consumers import HANDLER_MODULES, load_consumers


def _modules_with_consumers() -> set[str]:
    found = set()
    for module in pkgutil.walk_packages(ventros.__path__, "ventros."):
        if module.name.endswith("handlers") or ".handlers." in module.name:
            if hasattr(importlib.import_module(module.name), "CONSUMERS"):
                found.add(module.name)
    return found


def test_every_module_with_consumers_is_listed_in_handler_modules() -> None:
    assert _modules_with_consumers() == set(HANDLER_MODULES)


def test_the_webhook_fan_out_and_contact_enrichment_use_the_declared_queues() -> None:
    queues = load_consumers().by_queue()
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
