"""The LLM client against the OpenAI-compatible stand-in: timeouts, 429 with a retry,
malformed JSON, the circuit breaker; every outcome counted in `llm_requests_total`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from ventros.analysis.llm import LlmClient, LlmConfig, LlmFailed
from ventros.platform.metrics import Metrics
from ventros.stand_ins.llm import VOICE_NOTE, LlmStandIn

ASK = [{"role": "user", "content": "Resuma: cliente quer trocar o tamanho"}]


@pytest.fixture
def llm() -> Iterator[LlmStandIn]:
    stand_in = LlmStandIn(api_key="sk-1")
    yield stand_in
    stand_in.close()


async def _no_wait(_: float) -> None:
    return None


@pytest.fixture
async def client() -> AsyncIterator[LlmClient]:
    made = LlmClient(metrics=Metrics(), retries=2, breaker_failures=2, sleep=_no_wait)
    yield made
    await made.aclose()


def config(llm: LlmStandIn, **extra: object) -> LlmConfig:
    return LlmConfig(base_url=llm.base_url, model="m", api_key="sk-1", **extra)  # type: ignore[arg-type]


def counted(client: LlmClient, operation: str, outcome: str) -> float:
    assert client.metrics is not None
    value = client.metrics.registry.get_sample_value(
        "llm_requests_total", {"operation": operation, "outcome": outcome}
    )
    return value or 0.0


async def test_a_429_is_retried_and_the_answer_used(llm: LlmStandIn, client: LlmClient) -> None:
    llm.fail(times=1, status=429)
    assert await client.chat(config(llm), ASK) == "Resumo: Resuma: cliente quer trocar o tamanho"
    assert len(llm.requests) == 2
    assert counted(client, "chat", "ok") == 1


async def test_rate_limited_every_time_fails_as_rate_limited(
    llm: LlmStandIn, client: LlmClient
) -> None:
    llm.fail(times=3, status=429)
    with pytest.raises(LlmFailed) as failure:
        await client.chat(config(llm), ASK)
    assert failure.value.outcome == "rate_limited"
    assert len(llm.requests) == 3  # the first try and two retries
    assert counted(client, "chat", "rate_limited") == 1


async def test_a_slow_model_times_out(llm: LlmStandIn, client: LlmClient) -> None:
    llm.delay_seconds = 0.5
    with pytest.raises(LlmFailed) as failure:
        await client.chat(config(llm, timeout_seconds=0.1), ASK)
    assert failure.value.outcome == "timeout"
    assert counted(client, "chat", "timeout") == 1


async def test_malformed_json_is_a_failure_not_a_crash(llm: LlmStandIn, client: LlmClient) -> None:
    llm.malformed(times=1)
    with pytest.raises(LlmFailed) as failure:
        await client.chat(config(llm), ASK)
    assert failure.value.outcome == "malformed"
    assert counted(client, "chat", "malformed") == 1


async def test_a_wrong_key_is_rejected_without_retries(llm: LlmStandIn, client: LlmClient) -> None:
    with pytest.raises(LlmFailed) as failure:
        await client.chat(LlmConfig(base_url=llm.base_url, model="m", api_key="nope"), ASK)
    assert failure.value.outcome == "rejected"
    assert len(llm.requests) == 0  # refused before the body was read as a request


async def test_the_breaker_opens_after_failures_and_stops_calling(
    llm: LlmStandIn, client: LlmClient
) -> None:
    llm.fail(times=100, status=503)
    for _ in range(2):
        with pytest.raises(LlmFailed):
            await client.chat(config(llm), ASK)
    calls = len(llm.requests)
    with pytest.raises(LlmFailed) as failure:
        await client.chat(config(llm), ASK)
    assert failure.value.outcome == "circuit_open"
    assert len(llm.requests) == calls
    assert counted(client, "chat", "unavailable") == 2


async def test_transcription_posts_multipart_audio(llm: LlmStandIn, client: LlmClient) -> None:
    words = await client.transcribe(
        config(llm), VOICE_NOTE, filename="voice.ogg", mimetype="audio/ogg"
    )
    assert words == llm.transcript
    [request] = llm.requests
    assert request.body == {"model": "whisper-1", "filename": "voice.ogg", "bytes": VOICE_NOTE}
