"""Temporal activities of webhook delivery: one signed POST (recorded), and the report of a
delivery that failed for good. They hold their dependencies; the workflow only ids."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

import httpx
import structlog
from temporalio import activity

from ventros.kernel.clock import utcnow
from ventros.kernel.events import Actor, DomainEvent
from ventros.platform.crypto import SecretBox
from ventros.platform.metrics import PROCESS
from ventros.platform.settings import Settings
from ventros.platform.tracing import SpanKind, span
from ventros.platform.uow import UnitOfWorkFactory
from ventros.webhooks import service, ssrf
from ventros.webhooks.domain import short_error, signature

if TYPE_CHECKING:
    from ventros.runtime.container import Container

log = structlog.get_logger(__name__)

USER_AGENT = "Ventros-Webhooks/1"
EVENT_HEADER = "X-Ventros-Event"
DELIVERY_HEADER = "X-Ventros-Delivery"
SIGNATURE_HEADER = "X-Ventros-Signature"

DELIVERED = "delivered"
FAILED = "failed"
GONE = "gone"  # subscription deleted or disabled, or event no longer stored: stop


@dataclass
class AttemptInput:
    tenant_id: str
    subscription_id: str
    event_id: str
    event_name: str
    attempt: int


@dataclass
class AttemptResult:
    outcome: str  # DELIVERED, FAILED or GONE
    status_code: int | None = None
    error: str | None = None
    duration_ms: int = 0
    final: bool = False  # FAILED, and no retry: this attempt disabled the subscription


@dataclass
class FailureInput:
    tenant_id: str
    subscription_id: str
    event_id: str
    event_name: str
    attempts: int
    status_code: int | None
    error: str | None


def body_of(event: DomainEvent) -> bytes:
    """The request body: the event JSON of the API contract."""
    return json.dumps(event.to_json(), separators=(",", ":"), ensure_ascii=False).encode()


class WebhookActivities:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        box: SecretBox,
        settings: Settings,
        *,
        http: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._uow = uow
        self._box = box
        self._settings = settings
        self._clock = clock
        # No redirects (a 3xx is a failure, and could lead inside); no proxies from the
        # environment (the connection goes to the checked address); no keep-alive, so a
        # connection pinned to one host's address is never reused for another host.
        self._http = http or httpx.AsyncClient(
            follow_redirects=False,
            trust_env=False,
            timeout=httpx.Timeout(settings.webhooks_timeout_seconds),
            limits=httpx.Limits(max_keepalive_connections=0),
        )

    @classmethod
    def build(cls, container: Container) -> WebhookActivities:
        box = container.secret_box
        return cls(container.uow, box, container.settings)

    async def close(self) -> None:
        await self._http.aclose()

    @activity.defn(name="webhook_attempt_delivery")
    async def attempt_delivery(self, params: AttemptInput) -> AttemptResult:
        """POST the event once, signed; record the attempt and the subscription's health."""
        tenant_id = uuid.UUID(params.tenant_id)
        subscription_id = uuid.UUID(params.subscription_id)
        event_id = uuid.UUID(params.event_id)
        async with self._uow(tenant_id, Actor.system()) as tx:
            prepared = await service.prepare_delivery(tx, self._box, subscription_id, event_id)
        if prepared is None:
            return AttemptResult(GONE)
        status_code, error, duration_ms = await self._post(prepared)
        outcome = service.AttemptOutcome(
            event_id=event_id,
            event_name=prepared.event.name,
            attempt=params.attempt,
            status_code=status_code,
            error=error,
            duration_ms=duration_ms,
            at=utcnow(),
        )
        async with self._uow(tenant_id, Actor.system()) as tx:
            disabled = await service.record_attempt(
                tx,
                subscription_id,
                outcome,
                disable_after=timedelta(seconds=self._settings.webhooks_disable_after_seconds),
            )
            await tx.commit()
        delivered = error is None
        PROCESS.webhook_deliveries_total.labels(
            "disabled" if disabled else "delivered" if delivered else "failed"
        ).inc()
        log.info(
            "webhook attempt",
            tenant_id=params.tenant_id,
            webhook_id=params.subscription_id,
            event_id=params.event_id,
            attempt=params.attempt,
            status_code=status_code,
            error=error,
            duration_ms=duration_ms,
        )
        if disabled:
            log.warning(
                "webhook disabled after failing for too long", webhook_id=params.subscription_id
            )
            return AttemptResult(FAILED, status_code, error, duration_ms, final=True)
        return AttemptResult(DELIVERED if delivered else FAILED, status_code, error, duration_ms)

    async def _post(self, prepared: service.PreparedDelivery) -> tuple[int | None, str | None, int]:
        body = body_of(prepared.event)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            EVENT_HEADER: prepared.event.name,
            DELIVERY_HEADER: str(prepared.event.id),
            SIGNATURE_HEADER: signature(prepared.secret, body, int(self._clock())),
        }
        timeout = self._settings.webhooks_timeout_seconds
        status_code: int | None = None
        error: str | None = None
        started = time.perf_counter()
        try:
            async with asyncio.timeout(timeout):
                target = await ssrf.check_target(
                    prepared.url, allow_private=self._settings.webhooks_allow_private
                )
                if target.host_header:
                    headers["Host"] = target.host_header
                extensions = {"sni_hostname": target.sni_hostname} if target.sni_hostname else {}
                with span("webhook POST", kind=SpanKind.CLIENT) as trace:
                    headers["traceparent"] = trace.header
                    async with self._http.stream(
                        "POST",
                        target.connect_url,
                        content=body,
                        headers=headers,
                        extensions=extensions,
                    ) as response:
                        status_code = response.status_code
            if not 200 <= status_code < 300:
                error = f"HTTP {status_code}"
        except ssrf.UnsafeTarget as refused:
            error = f"refused: {refused.detail}"
        except TimeoutError:
            error = f"timed out after {timeout:g} s"
        except httpx.HTTPError as failure:
            error = short_error(f"{type(failure).__name__}: {failure}".rstrip(": "))
        duration_ms = round((time.perf_counter() - started) * 1000)
        return status_code, error, duration_ms

    @activity.defn(name="webhook_record_failure")
    async def record_failure(self, params: FailureInput) -> bool:
        """`webhook.delivery_failed`, once per subscription and event."""
        async with self._uow(uuid.UUID(params.tenant_id), Actor.system()) as tx:
            raised = await service.record_final_failure(
                tx,
                uuid.UUID(params.subscription_id),
                event_id=uuid.UUID(params.event_id),
                event_name=params.event_name,
                attempts=params.attempts,
                status_code=params.status_code,
                error=params.error,
            )
            await tx.commit()
        if raised:
            log.warning(
                "webhook delivery failed",
                tenant_id=params.tenant_id,
                webhook_id=params.subscription_id,
                event_id=params.event_id,
                attempts=params.attempts,
            )
        return raised
