"""The lean OpenAI-compatible client and its HTTP/1.1 pool: against the simulated endpoint
(usage, json_schema output, 429 with Retry-After, 500, timeouts, invalid bodies) and against
small hand-written servers (chunked replies, early close, keep-alive limits); requests are the
same as autogen-ext's OpenAI client would send."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
from autogen_core import CancellationToken
from autogen_core.models import (
    AssistantMessage,
    FunctionExecutionResult,
    FunctionExecutionResultMessage,
    LLMMessage,
    SystemMessage,
    UserMessage,
)
from pydantic import BaseModel, ConfigDict

from orchestrator.config import ModelsConfig, RetryConfig
from orchestrator.models.http_pool import HttpPool, HttpxPool, TransportFailure, open_pool
from orchestrator.models.hub import ModelHub
from orchestrator.models.openai_compat import (
    EndpointBodyError,
    EndpointStatusError,
    LeanOpenAIClient,
    response_format_for,
)
from orchestrator.models.resilience import AdaptiveLimiter, ResilientClient, classify, retry_after_seconds
from tests.sim_endpoint import running_endpoint

INFO: Any = {"family": "unknown", "json_output": True, "structured_output": True, "function_calling": False,
             "vision": False}


class Pick(BaseModel):
    model_config = ConfigDict(extra="forbid")
    next_speaker: Literal["Mara", "Joel"]


def lean(base_url: str, *, timeout: float = 2.0, max_connections: int = 8, prefixes: bool = False) -> LeanOpenAIClient:
    pool = HttpPool(base_url, max_connections=max_connections, headers={"authorization": "Bearer test"})
    return LeanOpenAIClient(model="sim", pool=pool, timeout=timeout, model_info=INFO, add_name_prefixes=prefixes)


@pytest.fixture(scope="module")
def sim() -> Iterator[str]:
    with running_endpoint("--latency", "0", "--max-seconds", "120") as base_url:
        yield base_url


def fault_endpoint(fault: str, *extra: str) -> Any:
    return running_endpoint("--latency", "0", "--fault-rate", "1", "--faults", fault, "--max-seconds", "60", *extra)


# ------------------------------------------------------------------ against the simulated endpoint
async def test_reply_and_usage_match_what_the_endpoint_counted(sim: str) -> None:
    before = httpx.get(sim + "/stats").json()
    client = lean(sim)
    messages: list[LLMMessage] = [SystemMessage(content="You are Mara."),
                                  UserMessage(content="How was the trip?", source="Joel")]
    result = await client.create(messages, extra_create_args={"temperature": 0.5, "max_tokens": 40, "seed": 3})
    after = httpx.get(sim + "/stats").json()
    await client.close()
    assert isinstance(result.content, str) and result.content and result.finish_reason == "stop"
    assert result.cached is False and result.thought is None
    assert result.usage.prompt_tokens == after["prompt_tokens"] - before["prompt_tokens"] > 0
    assert result.usage.completion_tokens == after["completion_tokens"] - before["completion_tokens"] > 0
    assert client.total_usage() == result.usage


async def test_structured_output_goes_out_as_a_strict_json_schema(sim: str) -> None:
    client = lean(sim)
    results = [await client.create([UserMessage(content="who next?", source="user")], json_output=Pick)
               for _ in range(4)]
    await client.close()
    # the endpoint only answers an enum member when it received the schema
    assert {Pick.model_validate_json(str(r.content)).next_speaker for r in results} <= {"Mara", "Joel"}
    fmt = response_format_for(Pick)
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["strict"] is True
    assert fmt["json_schema"]["name"] == "Pick" and response_format_for(Pick) is fmt  # computed once


async def test_keep_alive_reuses_one_connection(sim: str) -> None:
    client = lean(sim)
    for _ in range(5):
        await client.create([UserMessage(content="again", source="user")])
    assert client._pool._open == 1  # type: ignore[union-attr]
    await client.close()


async def test_rate_limit_raises_with_status_and_retry_after() -> None:
    with fault_endpoint("rate_limit", "--retry-after", "0.25") as url:
        client = lean(url)
        with pytest.raises(EndpointStatusError) as info:
            await client.create([UserMessage(content="hi", source="user")])
        await client.close()
    assert info.value.status_code == 429 and "slow down" in str(info.value)
    assert classify(info.value) == "rate_limit" and retry_after_seconds(info.value) == 0.25


async def test_server_error_is_retryable_and_client_errors_are_not() -> None:
    with fault_endpoint("server_error") as url:
        client = lean(url)
        with pytest.raises(EndpointStatusError) as info:
            await client.create([UserMessage(content="hi", source="user")])
        await client.close()
    assert info.value.status_code == 500 and classify(info.value) == "server_error"
    assert classify(EndpointStatusError(400, {}, "bad request")) is None


async def test_a_hung_call_times_out_and_its_connection_is_not_reused() -> None:
    with fault_endpoint("timeout", "--hang-seconds", "3") as url:
        client = lean(url, timeout=0.3)
        with pytest.raises(TimeoutError) as info:
            await client.create([UserMessage(content="hi", source="user")])
        assert classify(info.value) == "timeout"
        assert client._pool._open == 0 and not client._pool._idle  # type: ignore[union-attr]
        await client.close()


async def test_invalid_and_empty_bodies() -> None:
    with fault_endpoint("invalid_json") as url:
        client = lean(url)
        with pytest.raises(json.JSONDecodeError) as info:
            await client.create([UserMessage(content="hi", source="user")])
        await client.close()
    assert classify(info.value) == "invalid_body"
    with fault_endpoint("empty") as url:
        client = lean(url)
        result = await client.create([UserMessage(content="hi", source="user")])
        await client.close()
    assert result.content == "" and result.usage.completion_tokens == 0
    assert classify(EndpointBodyError("no choices")) == "invalid_body"
    assert classify(TransportFailure("reset")) == "connection"


async def test_resilient_client_retries_rate_limits_honouring_retry_after() -> None:
    with running_endpoint("--latency", "0", "--fault-rate", "0.5", "--faults", "rate_limit,server_error",
                          "--retry-after", "0.01", "--seed", "2", "--max-seconds", "60") as url:
        policy = RetryConfig(attempts=10, initial_delay=0.01, max_delay=0.05)
        client = ResilientClient(lean(url), policy=policy, timeout=2.0, limiter=AdaptiveLimiter(4, cooldown=0.0))
        results = [await client.create([UserMessage(content=f"line {i}", source="user")]) for i in range(12)]
        await client.close()
    assert all(r.content for r in results)
    assert client.failures["rate_limit"] >= 1 and client.failures["server_error"] >= 1 and client.gave_up == 0


async def test_cancellation_token_cancels_the_call() -> None:
    with running_endpoint("--latency", "2", "--max-seconds", "60") as url:
        client = lean(url)
        token = CancellationToken()
        asyncio.get_running_loop().call_later(0.2, token.cancel)
        with pytest.raises(asyncio.CancelledError):
            await client.create([UserMessage(content="hi", source="user")], cancellation_token=token)
        assert client._pool._open == 0  # type: ignore[union-attr]
        await client.close()


# ------------------------------------------------------------------ requests as autogen-ext builds them
def test_messages_match_autogen_ext_conversion() -> None:
    from autogen_ext.models.openai._openai_client import to_oai_type

    messages: list[LLMMessage] = [
        SystemMessage(content="You are Mara."),
        UserMessage(content="Hello", source="Joel"),
        AssistantMessage(content="Hi Joel", source="Mara"),
        UserMessage(content="And you?", source="Ines"),
        FunctionExecutionResultMessage(content=[FunctionExecutionResult(content="42", call_id="c1", name="f")]),
    ]
    for prefixes in (False, True):
        client = lean("http://127.0.0.1:9/v1", prefixes=prefixes)
        expected = [dict(x) for m in messages for x in to_oai_type(m, prepend_name=prefixes, model="sim",
                                                                   model_family="unknown")]
        assert client._messages(messages) == expected
    with pytest.raises(ValueError, match="Invalid name"):
        lean("http://127.0.0.1:9/v1")._messages([UserMessage(content="x", source="bad name")])


def test_system_messages_are_merged_like_autogen_ext() -> None:
    client = lean("http://127.0.0.1:9/v1")
    merged = client._messages([SystemMessage(content="a"), SystemMessage(content="b  "),
                               UserMessage(content="hi", source="u")])
    assert merged[0] == {"content": "a\nb", "role": "system"} and len(merged) == 2
    assert client._messages([SystemMessage(content="trailing \n")])[0]["content"] == "trailing"
    with pytest.raises(ValueError, match="Not continuous"):
        client._messages([SystemMessage(content="a"), UserMessage(content="u", source="u"), SystemMessage(content="b")])


def test_request_body_carries_settings_and_rejects_unsupported_options() -> None:
    client = lean("http://127.0.0.1:9/v1")
    body, timeout = client._body([UserMessage(content="hi", source="u")], [], "auto", Pick,
                                 {"temperature": 0.2, "seed": 7, "timeout": 5})
    assert body["model"] == "sim" and body["temperature"] == 0.2 and body["seed"] == 7 and timeout == 5
    assert body["response_format"] == response_format_for(Pick)
    assert client._body([], [], "auto", True, {})[0]["response_format"] == {"type": "json_object"}
    with pytest.raises(ValueError, match="invalid"):
        client._body([], [], "auto", None, {"stream": True})


def test_result_parsing() -> None:
    client = lean("http://127.0.0.1:9/v1")
    reply = {"choices": [{"finish_reason": "length", "message": {"content": "cut", "reasoning_content": "hmm"}}],
             "usage": {"prompt_tokens": 5, "completion_tokens": None}}
    result = client._result(reply)
    assert (result.content, result.finish_reason, result.thought) == ("cut", "length", "hmm")
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (5, 0)
    tools = {"choices": [{"finish_reason": "tool_calls", "message": {"content": None, "tool_calls": [
        {"id": "t1", "type": "function", "function": {"name": "look up", "arguments": {"q": 1}}}]}}]}
    calls = client._result(tools).content
    assert isinstance(calls, list)
    assert (calls[0].name, calls[0].arguments) == ("look_up", '{"q": 1}')
    bodies: list[dict[str, Any]] = [{"choices": []}, {"error": {"message": "quota"}}, {"id": "x"}]
    for bad in bodies:
        with pytest.raises(EndpointBodyError):
            client._result(bad)


# ------------------------------------------------------------------ the HTTP/1.1 pool itself
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    lengths = [int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")]
    return await reader.readexactly(lengths[0] if lengths else 0)


async def serve(handler: Handler) -> AsyncIterator[str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1"
    finally:
        server.close()


@pytest.fixture
async def chunked_server() -> AsyncIterator[str]:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                body = await read_request(reader)
            except asyncio.IncompleteReadError:
                break
            payload = json.dumps({"echo": json.loads(body)}).encode()
            half = len(payload) // 2
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
            for part in (payload[:half], payload[half:]):
                writer.write(f"{len(part):x};ext=1\r\n".encode() + part + b"\r\n")
                await writer.drain()
                await asyncio.sleep(0.01)  # the reply arrives in pieces
            writer.write(b"0\r\nx-trailer: 1\r\n\r\n")
        writer.close()

    async for url in serve(handler):
        yield url


async def test_chunked_replies_after_a_100_continue(chunked_server: str) -> None:
    pool = HttpPool(chunked_server, max_connections=2, headers={})
    for i in range(3):
        reply = await pool.request("POST", "/chat/completions", json.dumps({"n": i}).encode(), timeout=2)
        assert reply.status == 200 and json.loads(reply.body) == {"echo": {"n": i}}
    assert pool._open == 1
    await pool.aclose()


@pytest.fixture
async def closing_server() -> AsyncIterator[tuple[str, dict[str, int]]]:
    seen = {"connections": 0, "open": 0, "max_open": 0, "replies": 0}

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen["connections"] += 1
        seen["open"] += 1
        seen["max_open"] = max(seen["max_open"], seen["open"])
        await read_request(reader)
        await asyncio.sleep(0.05)
        seen["replies"] += 1
        # one reply per connection, delimited by closing it (no content-length)
        writer.write(b'HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n{"ok": true}')
        await writer.drain()
        seen["open"] -= 1
        writer.close()

    async for url in serve(handler):
        yield url, seen


async def test_connection_close_and_the_connection_limit(closing_server: tuple[str, dict[str, int]]) -> None:
    url, seen = closing_server
    pool = HttpPool(url, max_connections=2, headers={})
    replies = await asyncio.gather(*(pool.request("POST", "/x", b"{}", timeout=5) for _ in range(6)))
    assert all(json.loads(r.body) == {"ok": True} for r in replies)
    # a closed connection is never reused, and never more than two are open at once
    assert seen["connections"] == seen["replies"] == 6 and seen["max_open"] == 2 and pool._open == 0
    await pool.aclose()


async def test_a_kept_alive_connection_closed_by_the_server_is_retried_once() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")
        await writer.drain()
        await read_request(reader)  # the second request on this connection: hang up without a reply
        writer.close()

    async for url in serve(handler):
        pool = HttpPool(url, max_connections=1, headers={})
        assert (await pool.request("POST", "/x", b"{}", timeout=2)).body == b"{}"
        assert (await pool.request("POST", "/x", b"{}", timeout=2)).body == b"{}"  # on a fresh connection
        await pool.aclose()


async def test_garbage_and_refused_connections_are_transport_failures() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"SMTP ready\r\n\r\n")
        await writer.drain()

    async for url in serve(handler):
        pool = HttpPool(url, max_connections=1, headers={})
        with pytest.raises(TransportFailure, match="not an HTTP"):
            await pool.request("POST", "/x", b"{}", timeout=2)
    refused = HttpPool("http://127.0.0.1:9/v1", max_connections=1, headers={})
    with pytest.raises(TransportFailure, match="cannot connect"):
        await refused.request("POST", "/x", b"{}", timeout=2)
    assert refused._open == 0


def test_headers_and_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    pool = HttpPool("https://api.example.com/v1/", max_connections=1, headers={"authorization": "Bearer k"})
    assert (pool.host, pool.port, pool.prefix) == ("api.example.com", 443, "/v1")
    assert "host: api.example.com\r\n" in pool._fixed and "authorization: Bearer k\r\n" in pool._fixed
    with pytest.raises(ValueError, match="line break"):
        HttpPool("http://h/v1", max_connections=1, headers={"authorization": "Bearer k\r\nx: y"})
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY",
                 "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    assert isinstance(open_pool("https://api.example.com/v1", max_connections=1, headers={}), HttpPool)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.local:3128")
    assert isinstance(open_pool("https://api.example.com/v1", max_connections=1, headers={}), HttpxPool)
    monkeypatch.setenv("NO_PROXY", "api.example.com")
    assert isinstance(open_pool("https://api.example.com/v1", max_connections=1, headers={}), HttpPool)


async def test_httpx_fallback_pool_talks_to_the_endpoint(sim: str) -> None:
    pool = HttpxPool(sim, max_connections=2, headers={"authorization": "Bearer test"})
    client = LeanOpenAIClient(model="sim", pool=pool, timeout=2.0, model_info=INFO)
    result = await client.create([UserMessage(content="hi", source="user")])
    await client.close()
    assert result.content and result.usage.prompt_tokens > 0


# ------------------------------------------------------------------ configuration
def test_models_yaml_selects_the_client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from autogen_ext.models.openai import OpenAIChatCompletionClient

    monkeypatch.setenv("SIM_API_KEY", "k")

    def hub(extra: dict[str, Any]) -> ModelHub:
        config = ModelsConfig.model_validate({
            "backends": {"sim": {"type": "openai", "model": "sim", "base_url": "http://127.0.0.1:9/v1",
                                 "api_key_env": "SIM_API_KEY", "model_info": INFO, **extra}},
            "default": {"backend": "sim"}, "cache": {"store": "off"}})
        return ModelHub(config, tmp_path / "models.yaml", seed=0)

    default = hub({}).backend_client("sim")
    assert isinstance(default, ResilientClient) and isinstance(default._inner, LeanOpenAIClient)
    sdk = hub({"client": "openai_sdk"}).backend_client("sim")
    assert isinstance(sdk, ResilientClient) and isinstance(sdk._inner, OpenAIChatCompletionClient)
    shared = hub({})  # both name-prefix variants of one backend share one connection pool
    assert shared.backend_client("sim")._inner._pool is shared.backend_client("sim", name_prefixes=True)._inner._pool  # type: ignore[attr-defined]
