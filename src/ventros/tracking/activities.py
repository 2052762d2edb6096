"""Temporal activities of conversion delivery: one send to the platform that brought the
lead (recorded), and the record of a delivery that failed for good after the retries."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import httpx
import structlog
from temporalio import activity
from temporalio.exceptions import ApplicationError

from ventros.kernel.clock import utcnow
from ventros.kernel.errors import RuleViolation
from ventros.kernel.events import Actor
from ventros.platform.crypto import SecretBox
from ventros.platform.settings import Settings
from ventros.platform.tracing import TracedTransport
from ventros.platform.uow import UnitOfWorkFactory
from ventros.tracking import conversions as c
from ventros.tracking.ad_clients import (
    GOOGLE_RETRYABLE_ERRORS,
    AdPlatformError,
    GoogleAds,
    MetaGraph,
    TikTokEvents,
)
from ventros.tracking.integrations import Integration, Platform, load_integration

if TYPE_CHECKING:
    from ventros.runtime.container import Container

log = structlog.get_logger(__name__)

RETRY_LATER = "ConversionRetryLater"


@dataclass
class SendInput:
    tenant_id: str
    conversion_id: str


@dataclass
class SendResult:
    status: str  # sent | failed | skipped | done (nothing pending: sent before)
    error: str | None = None


@dataclass
class SendFailureInput:
    tenant_id: str
    conversion_id: str
    error: str


class _Final(Exception):
    """A failure retrying cannot fix: recorded as failed (with the exchange, if any)."""

    def __init__(self, message: str, request: Any = None, response: Any = None) -> None:
        super().__init__(message)
        self.request = request
        self.response = response


class ConversionActivities:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        box: SecretBox,
        settings: Settings,
        *,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self._uow = uow
        self._box = box
        self._http = http or httpx.AsyncClient(
            timeout=httpx.Timeout(settings.ads_timeout_seconds),
            trust_env=False,
            transport=TracedTransport("ads"),
        )
        self._meta = MetaGraph(self._http, settings)
        self._google = GoogleAds(self._http, settings)
        self._tiktok = TikTokEvents(self._http, settings)

    @classmethod
    def build(cls, container: Container) -> ConversionActivities:
        box = container.secret_box
        return cls(container.uow, box, container.settings)

    async def close(self) -> None:
        await self._http.aclose()

    @activity.defn(name="tracking_send_conversion")
    async def send(self, params: SendInput) -> SendResult:
        tenant_id, conversion_id = uuid.UUID(params.tenant_id), uuid.UUID(params.conversion_id)
        async with self._uow(tenant_id, Actor.system()) as tx:
            prepared = await c.prepare_send(tx, conversion_id)
            if prepared is None:
                return SendResult("done")
            integration = await load_integration(tx, self._box, prepared.platform)
            if integration is None:
                error = f"no {prepared.platform.value} integration for this tenant"
                await c.record_attempt(tx, conversion_id, status=c.SKIPPED, error=error)
                await tx.commit()
                return SendResult(c.SKIPPED, error)
        try:
            request, response = await self._send(prepared, integration)
        except _Final as final:
            return await self._record(
                tenant_id, conversion_id, c.FAILED, final.request, final.response, str(final)
            )
        except AdPlatformError as error:
            if not error.transient:
                return await self._record(
                    tenant_id, conversion_id, c.FAILED, None, None, str(error)
                )
            async with self._uow(tenant_id, Actor.system()) as tx:
                await c.record_attempt(tx, conversion_id, status=c.PENDING, error=str(error))
                await tx.commit()
            delay = error.retry_after_seconds
            raise ApplicationError(
                str(error),
                type=RETRY_LATER,
                next_retry_delay=timedelta(seconds=delay) if delay else None,
            ) from error
        return await self._record(tenant_id, conversion_id, c.SENT, request, response, None)

    async def _record(
        self,
        tenant_id: uuid.UUID,
        conversion_id: uuid.UUID,
        status: str,
        request: Any,
        response: Any,
        error: str | None,
    ) -> SendResult:
        async with self._uow(tenant_id, Actor.system()) as tx:
            await c.record_attempt(
                tx, conversion_id, status=status, request=request, response=response, error=error
            )
            await tx.commit()
        log.info(
            "conversion delivery", conversion_id=str(conversion_id), status=status, error=error
        )
        return SendResult(status, error)

    async def _send(
        self, prepared: c.PreparedSend, integration: Integration
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        conversion, tracking = prepared.conversion, prepared.tracking
        try:
            if prepared.platform is Platform.META:
                if c.too_old(conversion, utcnow()):
                    raise _Final("older than the 7 days Meta accepts")
                dataset = integration.config.get("dataset_id")
                if not dataset:
                    raise _Final("the Meta integration has no dataset_id")
                event = c.meta_event(conversion, tracking, prepared.person, integration)
                body = c.meta_body(event, integration)
                return body, await self._meta.send_events(str(dataset), body, integration.token)
            if prepared.platform is Platform.GOOGLE:
                row = c.google_conversion(conversion, tracking, integration)
                response = await self._google.upload_click_conversions(
                    str(integration.config["customer_id"]),
                    [row],
                    access_token=integration.token,
                    developer_token=integration.secrets["developer_token"],
                    login_customer_id=integration.config.get("login_customer_id"),
                )
                failure = c.google_row_error(response)
                request = {"conversions": [row], "partialFailure": True}
                if failure is not None:  # partial failure: our only row was refused
                    code, message = failure
                    if code in GOOGLE_RETRYABLE_ERRORS:
                        raise AdPlatformError(
                            "google", f"{code}: {message}", 200, code, transient=True
                        )
                    raise _Final(f"google: {code}: {message}", request, response)
                return request, response
            body = c.tiktok_body(conversion, tracking, prepared.person, integration)
            return body, await self._tiktok.track(body, integration.token)
        except (RuleViolation, KeyError) as error:
            raise _Final(f"cannot build the request: {error}") from error

    @activity.defn(name="tracking_conversion_failed")
    async def record_failure(self, params: SendFailureInput) -> None:
        async with self._uow(uuid.UUID(params.tenant_id), Actor.system()) as tx:
            await c.record_final_failure(tx, uuid.UUID(params.conversion_id), params.error)
            await tx.commit()
