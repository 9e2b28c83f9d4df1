"""Model-client factory: one underlying client per configured backend (the embedded model is
loaded once and shared by every role), and a thin recording wrapper per agent that injects the
role's settings and logs every call into the conversation's transcript (recording.py)."""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
from autogen_core import CacheStore
from autogen_core.models import ChatCompletionClient

from agents.errors import ConfigError, EndpointError
from orchestrator.config import (
    AzureOpenAIBackend,
    LocalBackend,
    ModelsConfig,
    OpenAIBackend,
    Role,
    RoleSettings,
    StructuredOutputMode,
)
from orchestrator.models.cache import build_store, cached, namespace
from orchestrator.models.http_pool import open_pool
from orchestrator.models.local import LocalLlamaClient, resolve_model_path
from orchestrator.models.logprobs import LogprobClient, chat_first_token, embedded_first_token
from orchestrator.models.openai_compat import LeanOpenAIClient
from orchestrator.models.preflight import Feature, features_for, probe_backend, run_to_completion
from orchestrator.models.recording import RecordingClient, call_seed
from orchestrator.models.resilience import AdaptiveLimiter, ResilientClient
from orchestrator.models.structured_output import StructuredOutputClient
from orchestrator.store.transcript import Transcript

__all__ = ["ModelHub", "RecordingClient", "call_seed"]


def _http_client(max_in_flight: int) -> httpx.AsyncClient:
    from openai import DefaultAsyncHttpxClient

    limits = httpx.Limits(max_connections=max(1000, max_in_flight), max_keepalive_connections=max_in_flight)
    return DefaultAsyncHttpxClient(limits=limits)


class ModelHub:
    """Builds and owns the backend clients described by a models YAML file."""

    def __init__(self, config: ModelsConfig, source: Path, *, seed: int) -> None:
        self.config = config
        self.source = source
        self.seed = seed
        self._clients: dict[tuple[str, bool], ChatCompletionClient] = {}
        self._cached: dict[tuple[str, bool], ChatCompletionClient] = {}
        self._stores: dict[str, CacheStore[Any]] = {}  # LLM cache store per backend (its namespace)
        self._limiters: dict[str, AdaptiveLimiter] = {}
        self._pools: dict[str, Any] = {}  # lean clients' connection pools, by backend name
        self._settings: dict[Role, RoleSettings] = {}
        self._structured: dict[str, StructuredOutputMode] = {}  # per remote backend, as the preflight found
        self._verified: dict[str, set[Feature]] = {}  # features the preflight checked, per backend

    def _field(self, backend: str, name: str) -> str:
        return f"{self.source}: backends.{backend}.{name}"

    def used_backends(self, roles: Sequence[Role]) -> list[str]:
        return sorted({self.config.settings_for(r).backend for r in roles})

    def preflight(self, roles: Sequence[Role]) -> None:
        """Fail at load time, naming the field to fix, if a backend cannot serve these roles: the
        embedded model's file and grammars; a remote endpoint's key and address, then one tiny call
        per feature the roles need (orchestrator/models/preflight.py), which also settles the
        backend's structured-output mode (`auto` included)."""
        for name in self.used_backends(roles):
            backend = self.config.backends[name]
            if isinstance(backend, LocalBackend):
                resolve_model_path(backend.model_path, self._field(name, "model_path"))
                self._check_grammars(name, roles)
                continue
            if not os.environ.get(backend.api_key_env):
                raise EndpointError(
                    f"{self._field(name, 'api_key_env')}: environment variable "
                    f"{backend.api_key_env} is not set"
                )
            if isinstance(backend, OpenAIBackend):
                url, field = backend.base_url or "https://api.openai.com/v1", "base_url"
            else:
                url, field = backend.azure_endpoint, "azure_endpoint"
            try:
                httpx.get(url.rstrip("/") + "/models", timeout=5.0)
            except httpx.ReadTimeout:
                pass  # reachable but busy (a one-request-at-a-time server): the probes wait longer
            except httpx.HTTPError as exc:
                raise EndpointError(
                    f"{self._field(name, field)}: cannot reach {url} ({type(exc).__name__}: {exc}); "
                    "fix the address or start the server"
                ) from None
            on_backend = {r: self.config.settings_for(r) for r in roles if self.config.settings_for(r).backend == name}
            needed = features_for(on_backend) - self._verified.setdefault(name, set())
            if needed:
                chosen = run_to_completion(functools.partial(self._probe, name, backend, on_backend, needed))
                if chosen is not None:
                    self._structured[name] = chosen
                self._verified[name] |= needed

    async def _probe(self, name: str, backend: OpenAIBackend | AzureOpenAIBackend, roles: dict[Role, RoleSettings],
                     needed: set[Feature]) -> StructuredOutputMode | None:
        # a hub of its own: its clients live and die on the probe's event loop
        probe_hub = ModelHub(self.config, self.source, seed=self.seed)
        try:
            return await probe_backend(probe_hub.backend_client(name), name=name, backend=backend, roles=roles,
                                       needed=needed, source=str(self.source))
        finally:
            await probe_hub.close()

    def structured_mode(self, name: str) -> StructuredOutputMode | None:
        """A remote backend's structured-output mode; None while `auto` awaits the preflight."""
        backend = self.config.backends[name]
        assert not isinstance(backend, LocalBackend)
        setting = backend.structured_output
        return self._structured.get(name) or (None if setting == "auto" else setting)

    @property
    def structured_modes(self) -> dict[str, StructuredOutputMode]:
        """The mode each probed remote backend uses (the run manifest records it)."""
        return dict(self._structured)

    def resolved_config(self) -> ModelsConfig:
        """The configuration with each `auto` replaced by the preflight's choice, for workers that
        build hubs of their own (the Ray executor) and run no preflight."""
        backends = {name: b.model_copy(update={"structured_output": self._structured[name]})
                    if name in self._structured else b for name, b in self.config.backends.items()}
        return self.config.model_copy(update={"backends": backends})

    def _check_grammars(self, backend: str, roles: Sequence[Role]) -> None:
        for role in roles:
            settings = self.config.settings_for(role)
            engine = self.backend_client(backend) if settings.grammar and settings.backend == backend else None
            if isinstance(engine, LocalLlamaClient) and settings.grammar:
                try:
                    engine.check_grammar(settings.grammar)
                except ConfigError as exc:
                    raise ConfigError(f"{self.source}: roles.{role}.{exc}") from None

    def install_client(self, backend: str, client: ChatCompletionClient) -> None:
        """Use an already built client for a backend (tests, or a caller's own client)."""
        if backend not in self.config.backends:
            raise KeyError(backend)
        self._clients[(backend, False)] = client
        self._clients[(backend, True)] = client

    def backend_client(self, name: str, *, name_prefixes: bool = False) -> ChatCompletionClient:
        key = (name, name_prefixes and not isinstance(self.config.backends[name], LocalBackend))
        if key not in self._clients:
            self._clients[key] = self._build(name, name_prefixes=key[1])
        return self._clients[key]

    def _build(self, name: str, *, name_prefixes: bool) -> ChatCompletionClient:
        backend = self.config.backends[name]
        if isinstance(backend, LocalBackend):
            path = resolve_model_path(backend.model_path, self._field(name, "model_path"))
            default = self.config.settings_for("persona")
            return LocalLlamaClient(
                model_path=path,
                n_ctx=backend.n_ctx,
                n_threads=backend.n_threads,
                seed=self.seed,
                defaults={"max_tokens": default.max_tokens, "temperature": default.temperature, "seed": self.seed},
                prefix_reuse=backend.prefix_reuse,
                state_cache_mb=backend.state_cache_mb,
            )
        api_key = os.environ.get(backend.api_key_env, "")
        model_info = backend.model_info.model_dump() if backend.model_info else None
        if isinstance(backend, OpenAIBackend) and backend.client == "lean":
            if name not in self._pools:  # one pool per endpoint, shared by both prefix variants
                headers = {"accept": "application/json", "user-agent": "symposia"}
                if api_key:
                    headers["authorization"] = f"Bearer {api_key}"
                self._pools[name] = open_pool(backend.base_url or "https://api.openai.com/v1",
                                              max_connections=backend.retry.max_in_flight, headers=headers)
            lean = LeanOpenAIClient(model=backend.model, pool=self._pools[name], timeout=backend.timeout_seconds,
                                    model_info=model_info, add_name_prefixes=name_prefixes)  # type: ignore[arg-type]
            return self._resilient(name, lean)
        if isinstance(backend, OpenAIBackend):
            from autogen_ext.models.openai import OpenAIChatCompletionClient

            kwargs: dict[str, Any] = {"model": backend.model, "api_key": api_key, "timeout": backend.timeout_seconds,
                                      "add_name_prefixes": name_prefixes, "max_retries": 0}
            # keep a connection alive per call in flight: the SDK's default keeps 100, so at higher
            # concurrency every call beyond that opens (and closes) a fresh connection
            kwargs["http_client"] = _http_client(backend.retry.max_in_flight)
            if backend.base_url:
                kwargs["base_url"] = backend.base_url
            if model_info:
                kwargs["model_info"] = model_info
            return self._resilient(name, OpenAIChatCompletionClient(**kwargs))
        assert isinstance(backend, AzureOpenAIBackend)
        from autogen_ext.models.openai import AzureOpenAIChatCompletionClient

        azure_kwargs: dict[str, Any] = {
            "model": backend.model, "api_key": api_key, "azure_endpoint": backend.azure_endpoint,
            "azure_deployment": backend.azure_deployment, "api_version": backend.api_version,
            "timeout": backend.timeout_seconds, "add_name_prefixes": name_prefixes, "max_retries": 0,
        }
        if model_info:
            azure_kwargs["model_info"] = model_info
        return self._resilient(name, AzureOpenAIChatCompletionClient(**azure_kwargs))

    def _resilient(self, name: str, client: ChatCompletionClient) -> ResilientClient:
        backend = self.config.backends[name]
        assert not isinstance(backend, LocalBackend)
        # one limiter per backend: its limit is the endpoint's, whichever role is calling
        limiter = self._limiters.setdefault(name, AdaptiveLimiter(backend.retry.max_in_flight))
        return ResilientClient(client, policy=backend.retry, timeout=backend.timeout_seconds, limiter=limiter,
                               backend=name)

    def caches(self, role: Role) -> bool:
        cache = self.config.cache
        return cache.store != "off" and role in cache.roles

    def _store(self, name: str) -> CacheStore[Any]:
        if name not in self._stores:
            self._stores[name] = build_store(self.config.cache, namespace(self.config.backends[name]))
        return self._stores[name]

    def _cached_client(self, name: str, name_prefixes: bool) -> ChatCompletionClient:
        key = (name, name_prefixes and not isinstance(self.config.backends[name], LocalBackend))
        if key not in self._cached:
            self._cached[key] = cached(self.backend_client(name, name_prefixes=name_prefixes), self._store(name))
        return self._cached[key]

    def _shared_client(self, role: Role, *, name_prefixes: bool) -> ChatCompletionClient:
        """The role's backend client, behind the LLM cache when the models file caches the role."""
        backend = self._role_settings(role).backend
        if self.caches(role):
            shared = self._cached_client(backend, name_prefixes)
        else:
            shared = self.backend_client(backend, name_prefixes=name_prefixes)
        if isinstance(self.config.backends[backend], LocalBackend):
            return shared  # the embedded client turns every schema into a grammar itself
        # above the cache, so the cache key covers the request as the mode shapes it
        return StructuredOutputClient(shared, self.structured_mode(backend))

    def endpoint_stats(self) -> dict[str, Any]:
        """Retries, give-ups and throttling per remote backend client."""
        stats: dict[str, Any] = {}
        for (name, _prefixes), client in self._clients.items():
            if isinstance(client, ResilientClient):
                entry = stats.setdefault(name, {"retried": {}, "gave_up": 0, "throttle_cuts": 0, "limit": 0})
                own = client.stats()
                for kind, count in own["retried"].items():
                    entry["retried"][kind] = entry["retried"].get(kind, 0) + count
                entry["gave_up"] += own["gave_up"]
                entry["throttle_cuts"], entry["limit"] = own["throttle_cuts"], own["limit"]
        return stats

    def _role_settings(self, role: Role) -> RoleSettings:
        # the config is frozen; building RoleSettings per agent per conversation showed in profiles
        if role not in self._settings:
            self._settings[role] = self.config.settings_for(role)
        return self._settings[role]

    def client(self, role: Role, *, agent: str, transcript: Transcript, seed: int,
               avoid_openings: Sequence[str] = ()) -> RecordingClient:
        """The role's client for one agent. `avoid_openings`: words its replies must not open
        with (a persona's own name), masked on the first token by the embedded engine; elsewhere
        the reply checks catch them."""
        settings = self._role_settings(role)
        inner = self._shared_client(role, name_prefixes=role == "persona")
        local = self.has_grammar(role)
        return RecordingClient(inner, role=role, agent=agent, settings=settings, transcript=transcript, seed=seed,
                               local=local, prices=self.config.backends[settings.backend].prices,
                               call_args={"avoid_openings": list(avoid_openings)} if local and avoid_openings else {})

    def logprob_client(self, role: Role) -> LogprobClient:
        """The role's text and first-token-logprob calls (the G-Eval judge's), on the same
        backend client, retries, throttling and cache as the role's agents would get."""
        settings = self._role_settings(role)
        engine = self.backend_client(settings.backend)
        first_token = (embedded_first_token(engine) if isinstance(engine, LocalLlamaClient)
                       else chat_first_token(engine))
        return LogprobClient(text_client=self._shared_client(role, name_prefixes=False), first_token_call=first_token,
                             sampling=settings.sampling_args(local=self.has_grammar(role)),
                             seed_for=lambda attempt: call_seed(self.seed, attempt),
                             store=self._store(settings.backend) if self.caches(role) else None,
                             description=self.describe(role))

    def reuses_prefixes(self, role: Role) -> bool:
        """Whether the role's calls extend a saved context (the embedded backend's extending
        engine), so that a prompt which only grows at its end costs only its new tokens."""
        backend = self.config.backends[self._role_settings(role).backend]
        return isinstance(backend, LocalBackend) and backend.prefix_reuse

    def has_grammar(self, role: Role) -> bool:
        """Whether the role's backend is the embedded llama.cpp engine (grammars, repeat_penalty)."""
        return isinstance(self.config.backends[self._role_settings(role).backend], LocalBackend)

    def enforces_schemas(self, role: Role) -> bool:
        """Whether the role's structured output is decoded under a grammar made from any JSON
        schema: the embedded engine, or a llama.cpp server in `json_object` mode (the same
        conversion). Names can then be pinned in the schema (see stages/experience.py); strict
        `json_schema` endpoints refuse parts of such schemas (tuple items), so they are left out."""
        name = self._role_settings(role).backend
        return self.has_grammar(role) or self.structured_mode(name) == "json_object"

    def describe(self, role: Role) -> str:
        settings = self.config.settings_for(role)
        backend = self.config.backends[settings.backend]
        model = Path(backend.model_path).name if isinstance(backend, LocalBackend) else backend.model
        if isinstance(backend, LocalBackend) and backend.model_path == "bundled":
            model = "SmolLM2-135M-Instruct.Q4_1.gguf"
        return f"{settings.backend}:{backend.type}:{model}"

    def local_engines(self) -> list[LocalLlamaClient]:
        return [c for c in self._clients.values() if isinstance(c, LocalLlamaClient)]

    async def close(self) -> None:
        for client in self._clients.values():
            await client.close()
        self._clients.clear()
        self._cached.clear()  # cache wrappers share the clients closed above
        self._stores.clear()
        self._pools.clear()
