"""What the embedded engine can do, measured on the spot: prompt evaluation tok/s, and decode tok/s
free and under the persona grammar and the experience schema, on the stock path (llama-cpp-python's
grammar-first sampler) and on the extending engine (grammar on a top-k shortlist first).

The two paths are measured interleaved on the same prompts and seeds, `repeats` times; rates are
medians, and a grammar's cost is the median over repeats of (grammar tok/s / free tok/s) within
one repeat, so that a neighbour's load shifts both sides of a ratio alike. Decode seconds exclude prompt
evaluation: on the stock path llama.cpp's own counters give the prompt time of the call.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any

import llama_cpp
from llama_cpp.llama_grammar import LlamaGrammar, json_schema_to_gbnf

from agents.schemas import experience_schema
from orchestrator.models.extending_engine import ExtendingEngine, sampling_from
from orchestrator.models.stock_path import prompt_eval_ms

PERSONA_GRAMMAR = "root ::= [^:\\n]+"
# long enough to decode a while: a persona reply, and an experience as JSON
PERSONA_MESSAGES = [
    {"role": "system", "content": "You are Ana, 34, a nurse who loves hiking in the mountains with her brother Leo. "
                                  "Speak only as Ana, in first person, like in a real chat."},
    {"role": "user", "content": "Leo: Ana, tell me everything about the trip to the mountains last weekend!"},
]
EXPERIENCE_MESSAGES = [
    {"role": "system", "content": "You are a writer who invents realistic everyday experiences. "
                                  "Answer with JSON only."},
    {"role": "user", "content": "Invent an experience with exactly 3 people called Ana, Leo and Mia: their ages, "
                                "qualities, lifestyles, speech styles, memories, relations, a situation, a topic "
                                "and the first line."},
]
SAMPLING: dict[str, Any] = {"temperature": 0.8, "top_p": 0.9, "repeat_penalty": 1.3, "seed": 7}
PROMPT_TOKENS = 480


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 3) if values else 0.0


def _stock_decode(llm: llama_cpp.Llama, prompt: list[int], grammar: str | None, max_tokens: int) -> tuple[int, float]:
    llm.reset()
    before = prompt_eval_ms(llm)
    started = time.perf_counter()
    out: Any = llm.create_completion(prompt, max_tokens=max_tokens, stop=["<|im_end|>"],
                                     grammar=LlamaGrammar.from_string(grammar, verbose=False) if grammar else None,
                                     **SAMPLING)
    seconds = time.perf_counter() - started
    prompt_seconds = (prompt_eval_ms(llm) - before) / 1000
    return int(out["usage"]["completion_tokens"]), seconds - prompt_seconds


def _engine_decode(engine: ExtendingEngine, prompt: list[int], grammar: str | None,
                   max_tokens: int) -> tuple[int, float]:
    engine.llm.reset()
    engine.states.clear()
    done = engine.complete(prompt, sampling=sampling_from(SAMPLING), max_tokens=max_tokens, grammar=grammar,
                           stop=["<|im_end|>"])
    return done.counts.completion_tokens, done.counts.decode_seconds


def measure_rates(model_path: Path, *, n_threads: int, repeats: int = 3) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"model_path": str(model_path), "n_ctx": 4096, "n_threads": n_threads,
                              "n_threads_batch": n_threads, "verbose": False, "seed": 0}
    stock = llama_cpp.Llama(**kwargs)
    extending = ExtendingEngine(llama_cpp.Llama(**kwargs), state_budget_bytes=0)
    schema_grammar = json_schema_to_gbnf(json.dumps(experience_schema(3, ["Ana", "Leo", "Mia"]).model_json_schema()))
    persona_prompt, _ = extending.chat_prompt(PERSONA_MESSAGES)
    experience_prompt, _ = extending.chat_prompt(EXPERIENCE_MESSAGES)
    filler = stock.tokenize(("The quick brown fox jumps over the lazy dog near the river bank. " * 60).encode(),
                            add_bos=False)[:PROMPT_TOKENS]
    cases = {"free": (persona_prompt, None, 64), "persona_grammar": (persona_prompt, PERSONA_GRAMMAR, 64),
             "experience_schema": (experience_prompt, schema_grammar, 256)}
    samples: dict[str, list[float]] = {}
    for _ in range(repeats):
        stock.reset()
        started = time.perf_counter()
        stock.eval(filler)
        samples.setdefault("prompt_tok_s", []).append(len(filler) / (time.perf_counter() - started))
        measured: dict[str, float] = {}
        for case, (prompt, grammar, max_tokens) in cases.items():
            for path in ("stock", "extending"):
                tokens, seconds = (_stock_decode(stock, prompt, grammar, max_tokens) if path == "stock"
                                   else _engine_decode(extending, prompt, grammar, max_tokens))
                if tokens and seconds > 0:
                    measured[f"{path}_{case}"] = tokens / seconds
                    samples.setdefault(f"{path}_{case}_tok_s", []).append(tokens / seconds)
        # a ratio within one repeat compares runs a few seconds apart: a neighbour's load moves both
        for path in ("stock", "extending"):
            for case in ("persona_grammar", "experience_schema"):
                if f"{path}_{case}" in measured and f"{path}_free" in measured:
                    ratio = measured[f"{path}_{case}"] / measured[f"{path}_free"]
                    samples.setdefault(f"{path}_{case}_vs_free", []).append(ratio)
    stock.close()
    extending.llm.close()
    rates: dict[str, Any] = {name: _median(values) for name, values in samples.items()}
    rates = {name: round(value, 3) if name.endswith("_vs_free") else value for name, value in rates.items()}
    rates["decode_tok_s"] = round((rates.get("stock_free_tok_s", 0.0) + rates.get("extending_free_tok_s", 0.0)) / 2, 2)
    rates["n_threads"] = n_threads
    rates["repeats"] = repeats
    return rates
