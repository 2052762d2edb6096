"""HTTP clients of the ad platforms: Meta Graph (ads, insights, Conversions API), Google Ads
(`uploadClickConversions`) and TikTok (Events API). Base URLs and versions come from
settings, so tests and demos point them at `ventros.stand_ins.ads`.

Every failure is an `AdPlatformError` that says whether trying again later can help
(`transient`) and, when the platform says so, how long to wait (`retry_after_seconds`).
Meta throttles with HTTP 400 (sometimes 403) and an error code, not with 429.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx

from ventros.platform.settings import Settings

# Graph error codes that mean "too many calls, wait": app, user, page, custom and BUC limits.
META_THROTTLING_CODES = frozenset(
    {4, 17, 32, 341, 613, 80000, 80001, 80002, 80003, 80004, 80005, 80006, 80008, 80014}
)
# Graph codes of a token that is invalid, expired or lacks a permission: retrying cannot help.
META_AUTH_CODES = frozenset({102, 190, 200, 10})
# TikTok: "too many requests" and internal errors.
TIKTOK_TRANSIENT_CODES = frozenset({40100, 50000, 50002, 51000})
# Google Ads conversion upload errors worth retrying later (the others are final).
GOOGLE_RETRYABLE_ERRORS = frozenset({"TOO_RECENT_EVENT", "TOO_RECENT_CONVERSION_ACTION"})


@dataclass
class AdPlatformError(Exception):
    platform: str
    message: str
    status_code: int | None = None
    code: int | str | None = None
    subcode: int | None = None
    transient: bool = False
    throttled: bool = False
    retry_after_seconds: float | None = None

    def __str__(self) -> str:
        code = f" code {self.code}" if self.code is not None else ""
        sub = f"/{self.subcode}" if self.subcode is not None else ""
        status = f"HTTP {self.status_code}" if self.status_code is not None else "no answer"
        return f"{self.platform}: {status}{code}{sub}: {self.message}"[:1000]


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _network_error(platform: str, error: httpx.HTTPError) -> AdPlatformError:
    return AdPlatformError(platform, f"{type(error).__name__}: {error}", transient=True)


def _regain_seconds(response: httpx.Response) -> float | None:
    """The longest `estimated_time_to_regain_access` (minutes) of Meta's usage headers."""
    longest: float | None = None
    for header in ("x-business-use-case-usage", "x-ad-account-usage"):
        raw = response.headers.get(header)
        if not raw:
            continue
        try:
            usage = json.loads(raw)
        except ValueError:
            continue
        entries: list[Any] = []
        if isinstance(usage, dict):
            for value in usage.values():
                entries.extend(value if isinstance(value, list) else [value])
            entries.append(usage)
        for entry in entries:
            if isinstance(entry, dict):
                minutes = entry.get("estimated_time_to_regain_access")
                if isinstance(minutes, int | float) and minutes > 0:
                    longest = max(longest or 0.0, float(minutes) * 60)
    return longest


def meta_error(response: httpx.Response) -> AdPlatformError:
    body = _json(response)
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return AdPlatformError(
            "meta",
            response.text[:300] or response.reason_phrase,
            status_code=response.status_code,
            transient=response.status_code >= 500 or response.status_code == 429,
        )
    code = error.get("code")
    throttled = code in META_THROTTLING_CODES
    transient = (
        throttled
        or bool(error.get("is_transient"))
        or (code not in META_AUTH_CODES and response.status_code >= 500)
    )
    return AdPlatformError(
        "meta",
        str(error.get("error_user_msg") or error.get("message") or "error"),
        status_code=response.status_code,
        code=code,
        subcode=error.get("error_subcode"),
        transient=transient,
        throttled=throttled,
        retry_after_seconds=_regain_seconds(response) if throttled else None,
    )


class MetaGraph:
    """Graph API reads (ad, ad set, campaign, insights) and Conversions API sends."""

    def __init__(self, http: httpx.AsyncClient, settings: Settings) -> None:
        self._http = http
        self._base = f"{settings.ads_graph_base_url.rstrip('/')}/{settings.ads_graph_version}"

    async def _call(
        self, method: str, url: str, token: str, *, params: Any = None, body: Any = None
    ) -> dict[str, Any]:
        try:
            response = await self._http.request(
                method,
                url,
                params=params,
                json=body,
                headers={"Authorization": f"Bearer {token}"},
            )
        except httpx.HTTPError as error:
            raise _network_error("meta", error) from error
        if response.status_code != 200:
            raise meta_error(response)
        data = _json(response)
        if not isinstance(data, dict):
            raise AdPlatformError("meta", "not a JSON object", response.status_code, transient=True)
        return data

    async def get_object(self, object_id: str, fields: list[str], token: str) -> dict[str, Any]:
        return await self._call(
            "GET", f"{self._base}/{object_id}", token, params={"fields": ",".join(fields)}
        )

    async def daily_insights(
        self, ad_id: str, since: date, until: date, token: str
    ) -> list[dict[str, Any]]:
        """One row per day (`time_increment=1`), all pages (until no `paging.next`)."""
        fields = (
            "ad_id,ad_name,adset_id,campaign_id,spend,impressions,clicks,actions,account_currency"
        )
        params: Any = {
            "fields": fields,
            "time_range": json.dumps({"since": since.isoformat(), "until": until.isoformat()}),
            "time_increment": "1",
        }
        url: str | None = f"{self._base}/{ad_id}/insights"
        rows: list[dict[str, Any]] = []
        while url is not None:
            page = await self._call("GET", url, token, params=params)
            rows.extend(r for r in page.get("data", []) if isinstance(r, dict))
            paging = page.get("paging")
            url = paging.get("next") if isinstance(paging, dict) else None
            params = None  # the next URL carries its own query
        return rows

    async def send_events(
        self, dataset_id: str, body: dict[str, Any], token: str
    ) -> dict[str, Any]:
        return await self._call("POST", f"{self._base}/{dataset_id}/events", token, body=body)


class GoogleAds:
    def __init__(self, http: httpx.AsyncClient, settings: Settings) -> None:
        self._http = http
        self._base = f"{settings.ads_google_base_url.rstrip('/')}/{settings.ads_google_version}"

    async def upload_click_conversions(
        self,
        customer_id: str,
        conversions: list[dict[str, Any]],
        *,
        access_token: str,
        developer_token: str,
        login_customer_id: str | None = None,
    ) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {access_token}", "developer-token": developer_token}
        if login_customer_id:
            headers["login-customer-id"] = login_customer_id
        body = {"conversions": conversions, "partialFailure": True, "validateOnly": False}
        url = f"{self._base}/customers/{customer_id}:uploadClickConversions"
        try:
            response = await self._http.post(url, json=body, headers=headers)
        except httpx.HTTPError as error:
            raise _network_error("google", error) from error
        data = _json(response)
        if response.status_code != 200 or not isinstance(data, dict):
            found = data.get("error") if isinstance(data, dict) else None
            failure: dict[str, Any] = found if isinstance(found, dict) else {}
            raise AdPlatformError(
                "google",
                str(failure.get("message") or response.text[:300]),
                status_code=response.status_code,
                code=failure.get("status"),
                transient=response.status_code in (429, 500, 502, 503, 504),
                throttled=response.status_code == 429,
            )
        return data


class TikTokEvents:
    def __init__(self, http: httpx.AsyncClient, settings: Settings) -> None:
        self._http = http
        self._url = f"{settings.ads_tiktok_base_url.rstrip('/')}/open_api/v1.3/event/track/"

    async def track(self, body: dict[str, Any], token: str) -> dict[str, Any]:
        try:
            response = await self._http.post(self._url, json=body, headers={"Access-Token": token})
        except httpx.HTTPError as error:
            raise _network_error("tiktok", error) from error
        data = _json(response)
        code = data.get("code") if isinstance(data, dict) else None
        if response.status_code != 200 or not isinstance(data, dict) or code != 0:
            message = data.get("message") if isinstance(data, dict) else response.text[:300]
            raise AdPlatformError(
                "tiktok",
                str(message),
                status_code=response.status_code,
                code=code,
                transient=response.status_code >= 500 or code in TIKTOK_TRANSIENT_CODES,
                throttled=code == 40100,
            )
        return data
