"""Local stand-in for the ad platforms: Meta Graph (ad, ad set and campaign reads, daily
insights, Conversions API), Google Ads `uploadClickConversions` and TikTok Events API.

An HTTP server on 127.0.0.1 that checks requests against the real wire formats
(`shared/fixtures/ads`, `reference/ads-apis.md`) and answers like the real APIs, error
bodies included: Graph errors are `{"error": {message, type, code, error_subcode,
is_transient, fbtrace_id}}` with HTTP 400 (throttling too: code 17 / 2446079, not 429);
Google partial failures are `results[i] = {}` plus `partialFailureError`; TikTok answers
HTTP 200 with `code != 0` on errors.

Tests steer it: `throttle_next(n, code)` throttles the next n Graph calls, a token outside
`tokens` is refused (code 190), `google_known_clicks` holds the clicks Google can attribute.
Everything received is kept in `capi_events`, `google_conversions`, `tiktok_events`.

Demo: `python -m ventros.stand_ins.ads [--port 8765]`, then point VENTROS_ADS_GRAPH_BASE_URL,
VENTROS_ADS_GOOGLE_BASE_URL and VENTROS_ADS_TIKTOK_BASE_URL at it.
"""

from __future__ import annotations

import argparse
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

FIXTURE_AD_ID = "120226305854810726"
VALID_TOKEN = "stand-in-token"  # noqa: S105 - a fake token for tests and demos
ACTION_SOURCES = frozenset(
    {
        "email",
        "website",
        "app",
        "phone_call",
        "chat",
        "physical_store",
        "system_generated",
        "business_messaging",
        "other",
    }
)
MESSAGING_EVENTS = frozenset(
    {
        "Purchase",
        "LeadSubmitted",
        "InitiateCheckout",
        "AddToCart",
        "ViewContent",
        "OrderCreated",
        "OrderShipped",
        "OrderDelivered",
        "OrderCanceled",
        "OrderReturned",
        "CartAbandoned",
        "QualifiedLead",
        "RatingProvided",
        "ReviewProvided",
    }
)
HASHED_KEYS = ("em", "ph", "fn", "ln", "db", "ge", "ct", "st", "zp", "country")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
GOOGLE_FAILURE_TYPE = "type.googleapis.com/google.ads.googleads.v22.errors.GoogleAdsFailure"
_GOOGLE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}$")
_ACTION = re.compile(r"^customers/\d+/conversionActions/\d+$")
_GOOGLE_PATH = re.compile(r"^/v\d+/customers/(\d+):uploadClickConversions$")
_GRAPH_PATH = re.compile(r"^/v\d+\.\d+/(?P<id>[A-Za-z0-9_]+)(?:/(?P<edge>[a-z_]+))?$")


@dataclass
class AdTree:
    """One ad with its ad set and campaign (the fixture's ids and names by default)."""

    ad_id: str = FIXTURE_AD_ID
    ad_name: str = "CTWA | Summer succulents | Image A"
    adset_id: str = "120226305854810700"
    adset_name: str = "Succulents | BR | 25-45"
    campaign_id: str = "120226305854810600"
    campaign_name: str = "Summer succulents 2025"
    daily_spend: str = "25.40"
    daily_impressions: int = 3120
    daily_clicks: int = 96
    daily_conversations: int = 12


@dataclass
class AdsState:
    tokens: set[str] = field(default_factory=lambda: {VALID_TOKEN})
    ads: dict[str, AdTree] = field(default_factory=lambda: {FIXTURE_AD_ID: AdTree()})
    now: float | None = None  # fake "now" for CAPI's 7-day rule (None: the clock)
    throttle: list[int] = field(default_factory=list)  # codes for the next Graph calls
    google_developer_token: str = "stand-in-developer-token"  # noqa: S105
    google_known_clicks: set[str] = field(default_factory=set)
    graph_calls: list[tuple[str, str]] = field(default_factory=list)
    capi_events: list[dict[str, Any]] = field(default_factory=list)
    capi_requests: list[dict[str, Any]] = field(default_factory=list)
    google_requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    google_conversions: list[dict[str, Any]] = field(default_factory=list)
    google_order_ids: set[str] = field(default_factory=set)
    tiktok_events: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def clock(self) -> float:
        return self.now if self.now is not None else time.time()


def graph_error(
    code: int,
    message: str,
    *,
    subcode: int | None = None,
    kind: str = "OAuthException",
    transient: bool = False,
    title: str | None = None,
) -> dict[str, Any]:
    error: dict[str, Any] = {
        "message": message,
        "type": kind,
        "is_transient": transient,
        "code": code,
        "fbtrace_id": "Stand" + uuid.uuid4().hex[:18],
    }
    if subcode is not None:
        error["error_subcode"] = subcode
    if title is not None:
        error["error_user_title"] = title
        error["error_user_msg"] = message
    return {"error": error}


THROTTLE_MESSAGES = {
    4: (None, "Application request limit reached"),
    17: (2446079, "User request limit reached"),
    32: (None, "Page request limit reached"),
    613: (
        1487742,
        "There have been too many calls from this ad-account. Wait a bit and try again.",
    ),
    80004: (None, "There have been too many calls to this ad-account. Wait a bit and try again."),
}


class _Handler(BaseHTTPRequestHandler):
    state: AdsState

    def log_message(self, *args: object) -> None:
        pass

    # --- plumbing ---------------------------------------------------------------------

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(raw)

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return None
        if "application/x-www-form-urlencoded" in (self.headers.get("Content-Type") or ""):
            form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
            if "data" in form:
                form["data"] = json.loads(form["data"])
            return form
        return json.loads(raw)

    def _graph_token(self, query: dict[str, list[str]], body: Any) -> str | None:
        auth = self.headers.get("Authorization") or ""
        if auth.startswith("Bearer "):
            return auth[7:]
        if "access_token" in query:
            return query["access_token"][0]
        if isinstance(body, dict) and "access_token" in body:
            return str(body["access_token"])
        return None

    # --- routing ------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def _route(self, method: str) -> None:
        url = urlsplit(self.path)
        try:
            body = self._body() if method == "POST" else None
        except ValueError:
            self._send(400, graph_error(100, "Invalid JSON body", kind="GraphMethodException"))
            return
        if url.path == "/open_api/v1.3/event/track/" and method == "POST":
            self._tiktok(body)
            return
        if match := _GOOGLE_PATH.match(url.path):
            self._google(match.group(1), body) if method == "POST" else self._send(404, {})
            return
        if match := _GRAPH_PATH.match(url.path):
            self._graph(method, match.group("id"), match.group("edge"), parse_qs(url.query), body)
            return
        self._send(404, graph_error(803, f"Unknown path {url.path}", kind="OAuthException"))

    # --- Meta Graph -----------------------------------------------------------------------

    def _graph(
        self, method: str, object_id: str, edge: str | None, query: dict[str, list[str]], body: Any
    ) -> None:
        state = self.state
        with state.lock:
            state.graph_calls.append((method, self.path))
            code = state.throttle.pop(0) if state.throttle else None
        if code is not None:
            subcode, message = THROTTLE_MESSAGES.get(code, (None, "Calls throttled"))
            usage = {"0": [{"type": "ads_management", "estimated_time_to_regain_access": 0}]}
            self._send(
                400,
                graph_error(code, message, subcode=subcode, transient=True),
                {"X-Business-Use-Case-Usage": json.dumps(usage)},
            )
            return
        token = self._graph_token(query, body)
        if token is None:
            self._send(
                400, graph_error(104, "An access token is required to request this resource.")
            )
            return
        if token not in state.tokens:
            self._send(
                400,
                graph_error(190, "Invalid OAuth access token - Cannot parse access token"),
            )
            return
        if method == "POST" and edge == "events":
            self._capi(body)
            return
        if method == "GET" and edge == "insights":
            self._insights(object_id, query)
            return
        if method == "GET" and edge is None:
            self._object(object_id, query)
            return
        self._send(
            400, graph_error(100, f"Unsupported {method} request.", kind="GraphMethodException")
        )

    def _unknown(self, object_id: str) -> None:
        self._send(
            400,
            graph_error(
                100,
                f"Unsupported get request. Object with ID '{object_id}' does not exist, cannot "
                "be loaded due to missing permissions, or does not support this operation.",
                subcode=33,
                kind="GraphMethodException",
            ),
        )

    def _object(self, object_id: str, query: dict[str, list[str]]) -> None:
        fields = [f for f in (query.get("fields") or ["name"])[0].split(",") if f]
        for tree in self.state.ads.values():
            if object_id == tree.ad_id:
                known = {
                    "name": tree.ad_name,
                    "adset_id": tree.adset_id,
                    "campaign_id": tree.campaign_id,
                    "creative": {"id": str(int(tree.ad_id) + 74)},
                    "effective_status": "ACTIVE",
                    "status": "ACTIVE",
                }
            elif object_id == tree.adset_id:
                known = {"name": tree.adset_name, "campaign_id": tree.campaign_id}
            elif object_id == tree.campaign_id:
                known = {"name": tree.campaign_name, "objective": "OUTCOME_ENGAGEMENT"}
            else:
                continue
            unknown = [f for f in fields if f not in known and f != "id"]
            if unknown:
                self._send(
                    400,
                    graph_error(
                        100,
                        f"(#100) Tried accessing nonexisting field ({unknown[0]})",
                        kind="OAuthException",
                    ),
                )
                return
            answer = {f: known[f] for f in fields if f in known}
            answer["id"] = object_id
            self._send(200, answer)
            return
        self._unknown(object_id)

    def _insights(self, object_id: str, query: dict[str, list[str]]) -> None:
        tree = self.state.ads.get(object_id)
        if tree is None:
            self._unknown(object_id)
            return
        try:
            window = json.loads(query["time_range"][0]) if "time_range" in query else None
            since = date.fromisoformat(window["since"]) if window else date.today()
            until = date.fromisoformat(window["until"]) if window else date.today()
        except (ValueError, KeyError, TypeError):
            self._send(400, graph_error(100, "Invalid parameter time_range", subcode=1487534))
            return
        if until < since:
            self._send(400, graph_error(100, "time_range: since must be before until"))
            return
        per_day = (query.get("time_increment") or ["all_days"])[0] == "1"
        days = [since + timedelta(days=n) for n in range((until - since).days + 1)]
        spans = [(d, d) for d in days] if per_day else [(since, until)]
        rows = []
        for start, stop in spans:
            n = (stop - start).days + 1
            spend = float(tree.daily_spend) * n
            clicks = tree.daily_clicks * n
            conversations = tree.daily_conversations * n
            rows.append(
                {
                    "ad_id": tree.ad_id,
                    "ad_name": tree.ad_name,
                    "adset_id": tree.adset_id,
                    "campaign_id": tree.campaign_id,
                    "account_currency": "USD",
                    "spend": f"{spend:.2f}",
                    "impressions": str(tree.daily_impressions * n),
                    "clicks": str(clicks),
                    "ctr": f"{clicks / (tree.daily_impressions * n) * 100:.6f}",
                    "cpc": f"{spend / clicks:.6f}" if clicks else "0",
                    "actions": [
                        {"action_type": "link_click", "value": str(clicks)},
                        {
                            "action_type": "onsite_conversion.messaging_conversation_started_7d",
                            "value": str(conversations),
                        },
                    ],
                    "date_start": start.isoformat(),
                    "date_stop": stop.isoformat(),
                }
            )
        self._send(
            200, {"data": rows, "paging": {"cursors": {"before": "MAZDZD", "after": "MQZDZD"}}}
        )

    def _capi(self, body: Any) -> None:
        problem = self._capi_problem(body)
        if problem is not None:
            self._send(400, problem)
            return
        with self.state.lock:
            self.state.capi_requests.append(body)
            self.state.capi_events.extend(body["data"])
        self._send(
            200,
            {
                "events_received": len(body["data"]),
                "messages": [],
                "fbtrace_id": "Stand" + uuid.uuid4().hex[:18],
            },
        )

    def _capi_problem(self, body: Any) -> dict[str, Any] | None:
        """The first reason Meta would refuse the batch (any bad event refuses all)."""
        if not isinstance(body, dict) or not isinstance(body.get("data"), list) or not body["data"]:
            return graph_error(100, "The parameter data is required", kind="OAuthException")
        if len(body["data"]) > 1000:
            return graph_error(100, "data: at most 1000 events per request")
        allowed = {"data", "test_event_code", "partner_agent", "access_token"}
        if extra := set(body) - allowed:
            return graph_error(100, f"Unknown parameter: {sorted(extra)[0]}")
        now = self.state.clock()
        for index, event in enumerate(body["data"]):
            if not isinstance(event, dict):
                return graph_error(100, f"data[{index}] must be an object")
            for key in ("event_name", "event_time", "action_source", "user_data"):
                if key not in event:
                    return graph_error(
                        100, f"data[{index}]: the parameter {key} is required", subcode=2804019
                    )
            if not isinstance(event["event_time"], int):
                return graph_error(100, f"data[{index}]: event_time must be Unix seconds (integer)")
            if event["event_time"] < now - 7 * 86400:
                return graph_error(
                    100,
                    "The timestamp for this event is too far in the past. Events must be sent "
                    "within 7 days of when they occurred.",
                    subcode=2804003,
                    title="Event Timestamp Too Old",
                )
            if event["event_time"] > now + 60:
                return graph_error(100, "event_time is in the future", subcode=2804004)
            if event["action_source"] not in ACTION_SOURCES:
                return graph_error(100, f"Invalid action_source: {event['action_source']}")
            user = event["user_data"]
            if not isinstance(user, dict) or not user:
                return graph_error(100, "user_data must hold at least one customer parameter")
            for key in HASHED_KEYS:
                values = user.get(key)
                if values is None:
                    continue
                values = values if isinstance(values, list) else [values]
                if not all(isinstance(v, str) and _HEX64.match(v) for v in values):
                    return graph_error(
                        100,
                        f"user_data.{key} must be SHA-256 hashed (lowercase hex)",
                        subcode=2804032,
                    )
            if event["action_source"] == "business_messaging":
                channel = event.get("messaging_channel")
                if channel not in ("whatsapp", "messenger", "instagram"):
                    return graph_error(
                        100, "business_messaging needs messaging_channel", subcode=2804050
                    )
                if event["event_name"] not in MESSAGING_EVENTS:
                    return graph_error(
                        100,
                        "Messaging Event Invalid Event Type",
                        subcode=2804066,
                        title="Messaging Event Invalid Event Type",
                    )
                if channel == "whatsapp" and not user.get("ctwa_clid"):
                    return graph_error(
                        100, "WhatsApp events need user_data.ctwa_clid", subcode=2804050
                    )
            custom = event.get("custom_data")
            if custom is not None and "value" in custom:
                if not isinstance(custom["value"], int | float) or not custom.get("currency"):
                    return graph_error(100, "custom_data.value must be a number with a currency")
        return None

    # --- Google Ads -----------------------------------------------------------------------

    def _google_error(self, status: int, code: str, message: str, kind: dict[str, str]) -> None:
        self._send(
            status,
            {
                "error": {
                    "code": status,
                    "message": message,
                    "status": code,
                    "details": [
                        {
                            "@type": GOOGLE_FAILURE_TYPE,
                            "errors": [{"errorCode": kind, "message": message}],
                            "requestId": uuid.uuid4().hex[:16],
                        }
                    ],
                }
            },
        )

    def _google(self, customer_id: str, body: Any) -> None:
        state = self.state
        auth = self.headers.get("Authorization") or ""
        if not auth.startswith("Bearer ") or auth[7:] not in state.tokens:
            self._google_error(
                401,
                "UNAUTHENTICATED",
                "Request is missing required authentication credential.",
                {"authenticationError": "OAUTH_TOKEN_INVALID"},
            )
            return
        if self.headers.get("developer-token") != state.google_developer_token:
            self._google_error(
                401,
                "UNAUTHENTICATED",
                "The developer token is not valid.",
                {"authenticationError": "DEVELOPER_TOKEN_INVALID"},
            )
            return
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("conversions"), list)
            or not body["conversions"]
        ):
            self._google_error(
                400,
                "INVALID_ARGUMENT",
                "conversions is required",
                {"requestError": "REQUIRED_FIELD_MISSING"},
            )
            return
        if body.get("partialFailure") is not True:
            self._google_error(
                400,
                "INVALID_ARGUMENT",
                "partial_failure must be true",
                {"requestError": "INVALID_INPUT"},
            )
            return
        if len(body["conversions"]) > 2000:
            self._google_error(
                400,
                "INVALID_ARGUMENT",
                "Too many conversions",
                {"conversionUploadError": "TOO_MANY_CONVERSIONS_IN_REQUEST"},
            )
            return
        with state.lock:
            state.google_requests.append((customer_id, body))
        results: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        for index, row in enumerate(body["conversions"]):
            failure = self._google_row_problem(row)
            if failure is None:
                with state.lock:
                    state.google_conversions.append(row)
                    if row.get("orderId"):
                        state.google_order_ids.add(str(row["orderId"]))
                click = next(k for k in ("gclid", "gbraid", "wbraid") if row.get(k))
                results.append(
                    {
                        click: row[click],
                        "conversionAction": row["conversionAction"],
                        "conversionDateTime": row["conversionDateTime"],
                    }
                )
                continue
            code, message, field_name = failure
            results.append({})
            path = [{"fieldName": "conversions", "index": index}]
            if field_name:
                path.append({"fieldName": field_name})
            errors.append(
                {
                    "errorCode": {"conversionUploadError": code},
                    "message": message,
                    "location": {"fieldPathElements": path},
                }
            )
        answer: dict[str, Any] = {
            "results": results,
            "jobId": str(2**31 + len(state.google_conversions)),
        }
        if errors:
            answer["partialFailureError"] = {
                "code": 3,
                "message": "; ".join(e["message"] for e in errors),
                "details": [
                    {
                        "@type": GOOGLE_FAILURE_TYPE,
                        "errors": errors,
                        "requestId": uuid.uuid4().hex[:16],
                    }
                ],
            }
        self._send(200, answer)

    def _google_row_problem(self, row: Any) -> tuple[str, str, str | None] | None:
        if not isinstance(row, dict):
            return "INVALID_INPUT", "each conversion must be an object", None
        clicks = [k for k in ("gclid", "gbraid", "wbraid") if row.get(k)]
        if len(clicks) > 1:
            return "GBRAID_WBRAID_BOTH_SET", "Only one click id may be set.", clicks[1]
        if not clicks:
            return "INVALID_INPUT", "One of gclid, gbraid or wbraid is required.", None
        if not _ACTION.match(str(row.get("conversionAction", ""))):
            return (
                "NO_CONVERSION_ACTION_FOUND",
                "The conversion action is not valid.",
                "conversion_action",
            )
        if not _GOOGLE_TIME.match(str(row.get("conversionDateTime", ""))):
            return (
                "INVALID_INPUT",
                "conversion_date_time must be yyyy-mm-dd hh:mm:ss+hh:mm.",
                "conversion_date_time",
            )
        if "conversionValue" in row and not row.get("currencyCode"):
            return "INVALID_INPUT", "currency_code is required with a value.", "currency_code"
        if row.get("orderId") and str(row["orderId"]) in self.state.google_order_ids:
            return "ORDER_ID_ALREADY_IN_USE", "The order id is already in use.", "order_id"
        if row[clicks[0]] not in self.state.google_known_clicks:
            return (
                "EVENT_NOT_FOUND",
                "The imported event could not be attributed to a click. This may be because "
                "the event did not come from a Google Ads campaign.",
                clicks[0],
            )
        return None

    # --- TikTok -----------------------------------------------------------------------------

    def _tiktok(self, body: Any) -> None:
        request_id = uuid.uuid4().hex

        def answer(code: int, message: str) -> None:
            self._send(
                200, {"code": code, "message": message, "request_id": request_id, "data": {}}
            )

        if self.headers.get("Access-Token") not in self.state.tokens:
            answer(40105, "The access token is invalid or has been revoked.")
            return
        if (
            not isinstance(body, dict)
            or not body.get("event_source_id")
            or not isinstance(body.get("data"), list)
        ):
            answer(40002, "event_source_id and data are required.")
            return
        if body.get("event_source") not in ("web", "app", "offline", "crm"):
            answer(40002, "event_source must be web, app, offline or crm.")
            return
        for event in body["data"]:
            if (
                not isinstance(event, dict)
                or not event.get("event")
                or not isinstance(event.get("event_time"), int)
            ):
                answer(40002, "Each event needs event and event_time.")
                return
            user = event.get("user") or {}
            for key in ("email", "phone", "external_id"):
                if key in user and not _HEX64.match(str(user[key])):
                    answer(40002, f"user.{key} must be SHA-256 hashed.")
                    return
        with self.state.lock:
            self.state.tiktok_events.extend(body["data"])
        answer(0, "OK")


class AdsStandIn:
    """The stand-in server in a background thread."""

    def __init__(self, state: AdsState | None = None, *, port: int = 0) -> None:
        self.state = state or AdsState()
        handler = type("AdsHandler", (_Handler,), {"state": self.state})
        self.server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> AdsStandIn:
        self.thread.start()
        return self

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def throttle_next(self, count: int, code: int = 17) -> None:
        with self.state.lock:
            self.state.throttle.extend([code] * count)

    def __enter__(self) -> AdsStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args(argv)
    stand_in = AdsStandIn(port=args.port)
    print(f"ads stand-in on {stand_in.url} (token: {VALID_TOKEN})")  # noqa: T201
    try:
        stand_in.server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        stand_in.server.server_close()


if __name__ == "__main__":
    main()
