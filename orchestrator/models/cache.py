"""The LLM call cache: autogen-ext's ChatCompletionCache over a disk (default) or Redis store.

The cache key covers messages, tools, output schema and `extra_create_args` (our sampling
settings and per-call seed travel there) but not the model name or the client's constructor
settings, so every backend configuration gets its own namespace: a hash of that configuration.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from autogen_core import CacheStore
from autogen_core.models import ChatCompletionClient
from autogen_ext.models.cache import CHAT_CACHE_VALUE_TYPE, ChatCompletionCache

from orchestrator.config import PROJECT_ROOT, CacheConfig

# Settings that change how a call is made, not what it answers: not part of the namespace.
# `structured_output` shapes the request itself (response format or prompt), which the key covers,
# so `auto` and the mode it resolves to share the cache.
_NOT_IN_NAMESPACE = {"retry", "prices", "timeout_seconds", "api_key_env", "n_threads", "client", "structured_output"}


def namespace(backend_config: Any) -> str:
    """A stable short hash of what determines a backend's answers."""
    data = {k: v for k, v in backend_config.model_dump().items() if k not in _NOT_IN_NAMESPACE}
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


class NamespacedStore(CacheStore[CHAT_CACHE_VALUE_TYPE]):
    """Prefixes every key, so several configurations (and runs) share one Redis safely."""

    def __init__(self, inner: CacheStore[CHAT_CACHE_VALUE_TYPE], prefix: str) -> None:
        self.inner = inner
        self.prefix = prefix

    def get(self, key: str, default: CHAT_CACHE_VALUE_TYPE | None = None) -> CHAT_CACHE_VALUE_TYPE | None:
        return self.inner.get(self.prefix + key, default)

    def set(self, key: str, value: CHAT_CACHE_VALUE_TYPE) -> None:
        self.inner.set(self.prefix + key, value)


def build_store(config: CacheConfig, ns: str) -> CacheStore[CHAT_CACHE_VALUE_TYPE]:
    """`store: redis` shares one cache between runs and machines (every Ray actor of a run too)."""
    if config.store == "redis":
        import redis
        from autogen_ext.cache_store.redis import RedisStore

        client = redis.Redis.from_url(config.redis_url)
        return NamespacedStore(RedisStore[CHAT_CACHE_VALUE_TYPE](client), f"symposia:llm:{ns}:")
    import diskcache
    from autogen_ext.cache_store.diskcache import DiskCacheStore

    directory = Path(config.directory)
    if not directory.is_absolute():
        directory = PROJECT_ROOT / directory
    return DiskCacheStore[CHAT_CACHE_VALUE_TYPE](diskcache.Cache(str(directory / ns)))


def cached(client: ChatCompletionClient, store: CacheStore[CHAT_CACHE_VALUE_TYPE]) -> ChatCompletionClient:
    return ChatCompletionCache(client, store)
