"""The receiver example of docs/webhooks.md verifies what Ventros signs.

The integration tests run the same example as the receiving server, so what the docs say
is what a third party needs, and nothing more.
"""

import re
import time
from pathlib import Path
from typing import Any

from ventros.webhooks.domain import signature

DOCS = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


def receiver_example() -> dict[str, Any]:
    """The namespace of the docs' Python example (its `verify`, `Receiver`, ...)."""
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(), flags=re.DOTALL)
    assert len(blocks) == 1, "docs/webhooks.md should hold one Python example"
    namespace: dict[str, Any] = {"__name__": "webhook_receiver_example"}
    exec(compile(blocks[0], str(DOCS), "exec"), namespace)
    return namespace


def test_the_documented_check_accepts_a_ventros_signature() -> None:
    verify = receiver_example()["verify"]
    body = b'{"id":"0193","name":"contact.created"}'
    header = signature("whsec_docs-example-secret", body, int(time.time()))
    assert verify("whsec_docs-example-secret", header, body)


def test_the_documented_check_refuses_tampering_other_secrets_and_replays() -> None:
    verify = receiver_example()["verify"]
    body = b'{"id":"0193","name":"contact.created"}'
    now = int(time.time())
    header = signature("whsec_docs-example-secret", body, now)
    assert not verify("whsec_docs-example-secret", header, body.replace(b"0193", b"0194"))
    assert not verify("whsec_another-secret-value", header, body)
    old = signature("whsec_docs-example-secret", body, now - 301)
    assert not verify("whsec_docs-example-secret", old, body)
    assert not verify("whsec_docs-example-secret", "", body)
