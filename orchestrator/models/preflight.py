"""Probes of a remote backend before any conversation: one tiny call per feature the run needs.

Servers differ in what they accept (llama-cpp-python's server refuses the `json_schema` response
format, some servers accept it and do not enforce it, logprobs are not everywhere), and a run that
finds out from its first conversation fails every conversation the same way. So ModelHub.preflight
asks each backend a run uses, through the same client stack the run will use:
- chat: a plain chat call (every role);
- structured: the configured structured-output mode on a two-value enum schema, with a prompt that
  tempts the model to answer something else, so a reply that fits the enum shows the endpoint
  enforces the schema (the experience generator, the selector and the critics need this);
  `prompt` mode is only asked to answer, since it validates and retries every reply anyway;
- logprobs: the judge's one-token score call with top logprobs.
A failure raises EndpointError (the CLI prints it on one line and exits 2) naming the field and
the fix; for a structured-output failure the other modes are probed to name the one that works.
`auto` keeps the first mode that works, in the order json_schema, json_object, prompt.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal, TypeVar

from autogen_core.models import ChatCompletionClient, UserMessage
from pydantic import BaseModel, ConfigDict, ValidationError

from agents.errors import EndpointError
from orchestrator.config import (
    STRUCTURED_OUTPUT_MODES,
    AzureOpenAIBackend,
    OpenAIBackend,
    Role,
    RoleSettings,
    StructuredOutputMode,
    StructuredOutputSetting,
)
from orchestrator.models.logprobs import TOP_LOGPROBS
from orchestrator.models.resilience import EndpointGaveUp, EndpointRejected, one_line
from orchestrator.models.structured_output import StructuredOutputClient

Feature = Literal["chat", "structured", "logprobs"]
ROLE_FEATURES: dict[Role, tuple[Feature, ...]] = {
    "experience_generator": ("chat", "structured"),
    "selector": ("chat", "structured"),
    "critic": ("chat", "structured"),
    "persona": ("chat",),
    "judge": ("chat", "logprobs"),
}
PROBE_MAX_TOKENS = 24  # enough for {"choice": "alpha"} in any tokenizer
TEMPTING_PROMPT = 'Reply with exactly this JSON object and nothing else: {"colour": "purple"}'
PLAIN_PROMPT = "Choose alpha or beta."
T = TypeVar("T")


class ProbeChoice(BaseModel):
    """The probe's schema: small, so the call is cheap; an enum, so enforcement shows."""

    model_config = ConfigDict(extra="forbid")
    choice: Literal["alpha", "beta"]


def features_for(roles: Iterable[Role]) -> set[Feature]:
    return {feature for role in roles for feature in ROLE_FEATURES[role]}


def _why(exc: BaseException, what: str) -> str:
    """'rejects json_schema (HTTP 500: ...)' and the like, for the one-line message."""
    if isinstance(exc, EndpointRejected):
        return f"rejects {what} ({exc.detail})"
    if isinstance(exc, EndpointGaveUp):
        return f"keeps failing {what} ({one_line(str(exc))})"
    return f"fails {what} ({type(exc).__name__}: {one_line(str(exc))})"


def _status(exc: BaseException) -> int | None:
    cause = exc.__cause__ if isinstance(exc, EndpointRejected) else exc
    status = getattr(cause, "status_code", None)
    return status if isinstance(status, int) else None


async def _reply(client: ChatCompletionClient, prompt: str, sampling: Mapping[str, Any], **kwargs: Any) -> str:
    result = await client.create([UserMessage(content=prompt, source="user")], extra_create_args=dict(sampling),
                                 **kwargs)
    return result.content if isinstance(result.content, str) else str(result.content)


async def probe_mode(client: ChatCompletionClient, mode: StructuredOutputMode,
                     sampling: Mapping[str, Any]) -> str | None:
    """Why `mode` does not work on this endpoint, or None when it does."""
    args = {**sampling, "max_tokens": PROBE_MAX_TOKENS}
    prompt = PLAIN_PROMPT if mode == "prompt" else TEMPTING_PROMPT
    try:
        reply = await _reply(StructuredOutputClient(client, mode), prompt, args, json_output=ProbeChoice)
    except Exception as exc:
        return _why(exc, mode)
    if mode == "prompt":
        return None  # every reply is validated and retried by its caller
    try:
        ProbeChoice.model_validate_json(reply)
    except ValidationError:
        return f"accepts {mode} but does not enforce its schema (asked for {{\"choice\": \"alpha\"|\"beta\"}}, " \
               f"it answered {one_line(reply, 80)!r})"
    return None


async def choose_mode(client: ChatCompletionClient, configured: StructuredOutputSetting,
                      sampling: Mapping[str, Any], field: str) -> StructuredOutputMode:
    """The configured mode once it works, or under `auto` the first that works; else EndpointError
    naming the mode that would work."""
    problems: dict[str, str] = {}
    if configured != "auto":
        problem = await probe_mode(client, configured, sampling)
        if problem is None:
            return configured
        problems[configured] = problem
    for mode in STRUCTURED_OUTPUT_MODES:
        if mode in problems:
            continue
        problem = await probe_mode(client, mode, sampling)
        if problem is None:
            if configured == "auto":
                return mode
            raise EndpointError(f"{field}: the endpoint {problems[configured]}; use {mode}")
        problems[mode] = problem
    tried = "; ".join(f"{mode}: {why}" for mode, why in problems.items())
    raise EndpointError(f"{field}: no structured-output mode works on this endpoint ({tried})")


async def probe_chat(client: ChatCompletionClient, sampling: Mapping[str, Any], *, backend_field: str,
                     api_key_env: str) -> None:
    try:
        await _reply(client, "Say hello.", {**sampling, "max_tokens": 8})
    except Exception as exc:
        status = _status(exc)
        if status in (401, 403):
            where, fix = f"{backend_field}.api_key_env", f"set a key the endpoint accepts in {api_key_env}"
        elif status == 404:
            where, fix = f"{backend_field}.model", "name a model the endpoint serves (see its /models)"
        else:
            where, fix = backend_field, "check the server and its log"
        raise EndpointError(f"{where}: the endpoint {_why(exc, 'a plain chat request')}; {fix}") from None


async def probe_logprobs(client: ChatCompletionClient, *, judge_field: str, backend: str) -> None:
    """The judge's score call: one greedy token with its top candidates' logprobs."""
    args = {"temperature": 0.0, "max_tokens": 1, "logprobs": True, "top_logprobs": TOP_LOGPROBS}
    try:
        result = await client.create([UserMessage(content="Rate this from 1 to 5: 'Hello there.'", source="user")],
                                     extra_create_args=args)
    except Exception as exc:
        raise EndpointError(f"{judge_field}: backend '{backend}' {_why(exc, 'the logprobs the judge needs')}; "
                            "put the judge on a backend that returns logprobs") from None
    if not result.logprobs or not result.logprobs[0].top_logprobs:
        raise EndpointError(f"{judge_field}: backend '{backend}' returns no top logprobs, which the judge's "
                            "scores are read from; put the judge on a backend that returns them")


async def probe_backend(
    client: ChatCompletionClient,
    *,
    name: str,
    backend: OpenAIBackend | AzureOpenAIBackend,
    roles: dict[Role, RoleSettings],
    needed: set[Feature],
    source: str,
) -> StructuredOutputMode | None:
    """Probe what `roles` (those of the run on this backend) need and `needed` still lists; the
    structured-output mode to use when structured output was probed."""
    field = f"{source}: backends.{name}"
    first = next(iter(roles.values()))
    if "chat" in needed:
        await probe_chat(client, first.sampling_args(local=False), backend_field=field,
                         api_key_env=backend.api_key_env)
    chosen: StructuredOutputMode | None = None
    if "structured" in needed:
        role = next(r for r in roles if "structured" in ROLE_FEATURES[r])
        chosen = await choose_mode(client, backend.structured_output, roles[role].sampling_args(local=False),
                                   f"{field}.structured_output")
    if "logprobs" in needed:
        await probe_logprobs(client, judge_field=f"{source}: roles.judge.backend", backend=name)
    return chosen


def run_to_completion(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine from synchronous code, also when an event loop is already running in this
    thread (an async caller such as `run.py evaluate`, or a test): then on a thread of its own."""
    async def main() -> T:
        return await make()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(main())
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, main()).result()
