"""The few-shot hub shared by the workers of one run through Redis (scale-out).

Every experience a worker adds is pushed to a Redis list; before sampling, a worker pulls the
shots others added. The shots of each batch of prompts are decided once, by the first worker
to need them (HSETNX), so all workers prompt the same batch with the same shots. Each worker
still saves its own hub.json, so its run directory stays self-contained.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from agents.schemas import Experience
from orchestrator.fewshot_hub import FewShotHub, Shot


class RedisHubSync:
    def __init__(self, url: str, run_id: str) -> None:
        import redis

        self.redis = redis.Redis.from_url(url)
        key = f"symposia:run:{run_id}"
        self._shots_key = f"{key}:hub"
        self._batches_key = f"{key}:batches"
        self._pulled = 0

    def push(self, shot_id: str, experience: Experience) -> None:
        self.redis.rpush(self._shots_key, json.dumps({"id": shot_id, "experience": experience.model_dump()}))

    def pull(self, hub: FewShotHub) -> int:
        """Add the shots other workers pushed since the last pull; returns how many were new."""
        added = 0
        for raw in self.redis.lrange(self._shots_key, self._pulled, -1):
            self._pulled += 1
            data = json.loads(raw)
            if hub.add(data["id"], Experience.model_validate(data["experience"])):
                added += 1
        return added

    def batch(self, batch: int, hub: FewShotHub, sample: Callable[[], list[Shot]]) -> list[Shot]:
        """The shots of `batch`: the ones already chosen by some worker, else ours."""
        self.pull(hub)
        ours = [s.id for s in sample()]
        self.redis.hsetnx(self._batches_key, str(batch), json.dumps(ours))
        chosen = json.loads(self.redis.hget(self._batches_key, str(batch)) or "[]")
        by_id = {s.id: s for s in hub.shots}
        return [by_id[i] for i in chosen if i in by_id]

    def close(self) -> None:
        self.redis.close()
