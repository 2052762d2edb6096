"""The WAHA client against a raw loopback server: kept-alive connections are reused, closed
ones are not, chunked and HTTP/1.0 answers parse, and failures map to retryable or final
WahaErrors (the sender retries the retryable ones)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from ventros.channels.waha_client import SendRequest, WahaClient, WahaError, WahaTarget

pytestmark = pytest.mark.integration

OK = json.dumps({"key": {"remoteJid": "1@s.whatsapp.net", "fromMe": True, "id": "ABC"}}).encode()


class Server:
    """Answers each request with the next scripted answer (bytes), or `default`."""

    def __init__(self) -> None:
        self.connections = 0
        self.requests: list[bytes] = []
        self.script: list[bytes | None] = []  # None: close without answering
        self.default = _answer(201, OK)
        self.close_after_each = False
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def close(self) -> None:
        for writer in self._writers:
            writer.close()
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    def drop_idle(self) -> None:
        for writer in self._writers:
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length) if length else b""
                self.requests.append(head + body)
                answer = self.script.pop(0) if self.script else self.default
                if answer is None:
                    break
                writer.write(answer)
                await writer.drain()
                if self.close_after_each:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def _answer(status: int, body: bytes, *, version: str = "1.1", extra: str = "") -> bytes:
    head = f"HTTP/{version} {status} X\r\nContent-Type: application/json\r\n{extra}"
    return f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body


@pytest.fixture
async def server() -> AsyncIterator[Server]:
    running = Server()
    await running.start()
    yield running
    await running.close()


@pytest.fixture
async def waha(server: Server) -> AsyncIterator[tuple[WahaClient, WahaTarget]]:
    assert server._server is not None
    port = server._server.sockets[0].getsockname()[1]
    client = WahaClient.create(timeout_seconds=0.5)
    yield client, WahaTarget(f"http://127.0.0.1:{port}", "default", "key-1")
    await client.aclose()


REQUEST = SendRequest("/api/sendText", {"session": "default", "chatId": "1@c.us", "text": "Olá"})


async def test_requests_reuse_one_kept_alive_connection(
    server: Server, waha: tuple[WahaClient, WahaTarget]
) -> None:
    client, target = waha
    for _ in range(3):
        sent = await client.send(target, REQUEST)
        assert sent.serialized == "true_1@c.us_ABC"
    assert server.connections == 1
    first = server.requests[0]
    assert first.startswith(b"POST /api/sendText HTTP/1.1\r\n")
    assert b"\r\nX-Api-Key: key-1\r\n" in first
    assert first.endswith('{"session":"default","chatId":"1@c.us","text":"Olá"}'.encode())


async def test_a_connection_the_server_closed_is_not_reused(
    server: Server, waha: tuple[WahaClient, WahaTarget]
) -> None:
    client, target = waha
    await client.send(target, REQUEST)
    server.drop_idle()
    await asyncio.sleep(0.05)
    await client.send(target, REQUEST)
    assert server.connections == 2


async def test_http_1_0_chunked_and_connection_close_answers(
    server: Server, waha: tuple[WahaClient, WahaTarget]
) -> None:
    client, target = waha
    chunked = b"HTTP/1.1 201 X\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    chunked += f"{len(OK):x}\r\n".encode() + OK + b"\r\n0\r\n\r\n"
    server.script = [
        _answer(201, OK, version="1.0"),
        chunked,
        _answer(201, OK, extra="Connection: close\r\n"),
    ]
    server.close_after_each = True
    for _ in range(3):
        assert (await client.send(target, REQUEST)).wa_id == "ABC"
    assert server.connections == 3


async def test_failures_map_to_retryable_or_final_errors(
    server: Server, waha: tuple[WahaClient, WahaTarget]
) -> None:
    client, target = waha
    # A connection closed unanswered is an error to retry later (the sender does).
    server.script = [_answer(503, b'{"message":"down"}'), _answer(400, b'{"message":"bad"}')]
    server.script += [None]
    with pytest.raises(WahaError) as unavailable:
        await client.send(target, REQUEST)
    assert (unavailable.value.status_code, unavailable.value.retryable) == (503, True)
    with pytest.raises(WahaError) as refused:
        await client.send(target, REQUEST)
    assert (refused.value.status_code, refused.value.retryable) == (400, False)
    with pytest.raises(WahaError, match="unreachable") as dropped:
        await client.send(target, REQUEST)  # closed without an answer
    assert dropped.value.retryable
    server.script = [_answer(201, b"not json")]
    with pytest.raises(WahaError, match="no JSON") as garbled:
        await client.send(target, REQUEST)
    assert not garbled.value.retryable


async def test_a_silent_server_times_out_and_a_closed_port_is_unreachable(
    server: Server, waha: tuple[WahaClient, WahaTarget]
) -> None:
    client, _ = waha
    hang = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await hang.wait()
        writer.close()

    quiet = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = quiet.sockets[0].getsockname()[1]
    try:
        with pytest.raises(WahaError, match="timed out") as timed_out:
            await client.send(WahaTarget(f"http://127.0.0.1:{port}", "default"), REQUEST)
        assert timed_out.value.retryable
    finally:
        hang.set()
        quiet.close()
        await quiet.wait_closed()
    with pytest.raises(WahaError, match="unreachable") as unreachable:
        await client.send(WahaTarget(f"http://127.0.0.1:{port}", "default"), REQUEST)
    assert unreachable.value.retryable


async def test_a_redirect_is_never_followed(
    server: Server, waha: tuple[WahaClient, WahaTarget]
) -> None:
    client, target = waha
    inside = Server()  # where the redirect points: must never be reached
    inside_url = await inside.start()
    try:
        for status in (301, 302, 307, 308):
            server.script = [_answer(status, b"", extra=f"Location: {inside_url}/secret\r\n")]
            with pytest.raises(WahaError) as redirected:
                await client.send(target, REQUEST)
            assert redirected.value.status_code == status
            assert redirected.value.retryable is False
        assert inside.connections == 0
    finally:
        await inside.close()


async def test_a_failure_keeps_the_status_and_reason_never_the_body(
    server: Server, waha: tuple[WahaClient, WahaTarget]
) -> None:
    client, target = waha
    body = b'{"internal": "db password is hunter2"}'
    server.script = [_answer(400, body), _answer(599, body)]
    with pytest.raises(WahaError) as refused:
        await client.send(target, REQUEST)
    assert refused.value.detail == "WAHA answered 400 Bad Request"
    with pytest.raises(WahaError) as odd:
        await client.send(target, REQUEST)
    assert odd.value.detail == "WAHA answered 599 Unknown Status"
