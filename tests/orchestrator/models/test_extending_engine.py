"""The extending engine on the real embedded model: calls evaluate only the tokens their context
lacks, agents' contexts survive each other's calls, grammars hold on the shortlist, and the
judge's score logprobs match the stock logits_all path."""

from __future__ import annotations

import json
from collections.abc import Iterator

import llama_cpp
import numpy as np
import pytest
from llama_cpp.llama_grammar import LlamaGrammar, json_schema_to_gbnf

from agents.schemas import speaker_choice_schema
from orchestrator.models.extending_engine import ExtendingEngine, sampling_from
from orchestrator.models.local import bundled_model_path
from orchestrator.models.shortlist_sampling import CandidateArray, TokenSampler

pytestmark = pytest.mark.integration

GREEDY = sampling_from({"temperature": 0.0, "seed": 1})
ANA = [{"role": "system", "content": "You are Ana, a nurse who loves hiking."},
       {"role": "user", "content": "Leo: How was the trip to the mountains?"}]
BEN = [{"role": "system", "content": "You are Ben, a baker who plays chess on Sundays."},
       {"role": "user", "content": "Mia: Did you win the tournament?"}]


def _llama(**extra: object) -> llama_cpp.Llama:
    return llama_cpp.Llama(model_path=str(bundled_model_path()), n_ctx=2048, n_threads=1, n_threads_batch=1,
                           verbose=False, seed=0, **extra)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def engine() -> Iterator[ExtendingEngine]:
    llm = _llama()
    yield ExtendingEngine(llm, state_budget_bytes=256 * 2**20)
    llm.close()


def test_prompts_are_the_stock_chat_handlers_token_for_token(engine: ExtendingEngine) -> None:
    stock = _llama()
    try:
        response = stock.create_chat_completion(messages=ANA, max_tokens=1, temperature=0.0)  # type: ignore[arg-type]
        tokens, stop = engine.chat_prompt(ANA)
        assert len(tokens) == response["usage"]["prompt_tokens"]  # type: ignore[index]
        assert list(stock.input_ids[: len(tokens)]) == tokens and stop == ["<|im_end|>"]
    finally:
        stock.close()


def test_a_later_call_evaluates_only_its_new_tokens_even_after_another_agents_call(engine: ExtendingEngine) -> None:
    prompt, stop = engine.chat_prompt(ANA)
    first = engine.complete(prompt, sampling=GREEDY, max_tokens=24, stop=stop)
    assert first.counts.evaluated == len(prompt)
    ben, _ = engine.chat_prompt(BEN)
    other = engine.complete(ben, sampling=GREEDY, max_tokens=16, stop=stop)
    assert not other.counts.restored and other.counts.first_read == other.counts.evaluated
    follow_up = [*ANA, {"role": "assistant", "content": first.text}, {"role": "user", "content": "Leo: And the food?"}]
    again, _ = engine.chat_prompt(follow_up)
    second = engine.complete(again, sampling=GREEDY, max_tokens=16, stop=stop)
    assert second.counts.restored  # Ana's context came back from the saved states
    new_tokens = len(again) - len(prompt) - len(first.tokens)
    assert second.counts.evaluated <= new_tokens + 2  # her reply is re-read at most at its seam
    assert second.counts.first_read == second.counts.evaluated


def test_free_decoding_is_the_stock_samplers(engine: ExtendingEngine) -> None:
    stock = _llama()
    try:
        prompt, stop = engine.chat_prompt(ANA)
        args = {"temperature": 0.8, "top_p": 0.9, "repeat_penalty": 1.3, "seed": 5}
        expected = stock.create_completion(prompt, max_tokens=24, stop=stop, **args)  # type: ignore[arg-type]
        engine.states.clear()
        engine.llm.reset()
        done = engine.complete(prompt, sampling=sampling_from(args), max_tokens=24, stop=stop)
        assert done.text == expected["choices"][0]["text"]  # type: ignore[index]
    finally:
        stock.close()


def test_grammars_hold_on_the_shortlist_and_greedy_matches_grammar_first(engine: ExtendingEngine) -> None:
    stock = _llama()
    try:
        prompt, stop = engine.chat_prompt(ANA)
        line = engine.complete(prompt, sampling=sampling_from({"temperature": 0.8, "seed": 3}), max_tokens=40,
                               grammar="root ::= [^:\\n]+", stop=stop)
        assert line.text and ":" not in line.text and "\n" not in line.text
        schema = speaker_choice_schema(["Ana", "Leo_Park"])
        grammar = json_schema_to_gbnf(json.dumps(schema.model_json_schema()))
        ask = [{"role": "user", "content": "Who speaks next, Ana or Leo_Park? Answer with JSON."}]
        ask_prompt, _ = engine.chat_prompt(ask)
        choice = engine.complete(ask_prompt, sampling=GREEDY, max_tokens=24, grammar=grammar, stop=stop)
        schema.model_validate_json(choice.text)
        expected = stock.create_completion(ask_prompt, max_tokens=24, temperature=0.0, stop=stop,
                                           grammar=LlamaGrammar.from_string(grammar, verbose=False))
        assert choice.text == expected["choices"][0]["text"]  # type: ignore[index]
    finally:
        stock.close()


def test_next_token_logprobs_match_the_logits_all_engine(engine: ExtendingEngine) -> None:
    stock = _llama(logits_all=True)
    try:
        prompt, _ = engine.chat_prompt(ANA)
        engine.llm.reset()  # evaluated in one batch like the stock engine's (reuse shifts logits a little)
        engine.states.clear()
        logprobs, counts = engine.next_token_logprobs(prompt)
        stock.eval(prompt)
        row = np.asarray(stock._scores[len(prompt) - 1], dtype=np.float64)
        expected = row - (row.max() + np.log(np.exp(row - row.max()).sum()))
        top = np.argsort(expected)[::-1][:5]
        assert list(np.argsort(logprobs)[::-1][:5]) == list(top)
        assert np.allclose(logprobs[top], expected[top], atol=1e-2)
        assert counts.completion_tokens == 0 and counts.evaluated == len(prompt)
    finally:
        stock.close()


def _longest_shared_run(a: list[int], b: list[int]) -> int:
    best = 0
    for i in range(len(a)):
        for j in range(len(b)):
            k = 0
            while i + k < len(a) and j + k < len(b) and a[i + k] == b[j + k]:
                k += 1
            best = max(best, k)
    return best


def test_dry_penalises_extending_a_span_of_the_prompt_by_its_length(engine: ExtendingEngine) -> None:
    span = engine.llm.tokenize(b" The old man drove the last night train on the coastal line", add_bos=False)
    vocab_size = engine.llm.n_vocab()
    sampling = sampling_from({"temperature": 0.0, "seed": 1, "dry_multiplier": 0.8})
    for copied in (1, 2, 4, 6):
        sampler = TokenSampler(vocab=engine.llm._model.vocab, candidates=CandidateArray(vocab_size), sampling=sampling,
                               grammar=None, context=[*span, 11])  # the span is in the prompt, then a comma
        for token in span[:copied]:
            sampler.accept(token)  # the reply so far repeats the span's first tokens
        logits = sampler.penalised(np.zeros(vocab_size, dtype=np.float32))
        sampler.close()
        # the token that would make the repeat copied+1 long costs 0.8 * 1.75^(copied - 2) once the
        # repeat is longer than the 2 tokens DRY allows
        expected = 0.0 if copied < 2 else 0.8 * 1.75 ** (copied - 2)
        assert logits[span[copied]] == pytest.approx(-expected, abs=1e-4), copied
        assert np.count_nonzero(logits) == (1 if expected else 0)


def test_dry_breaks_off_a_copy_the_model_would_make(engine: ExtendingEngine) -> None:
    line = "The old man drove the last night train on the coastal line before it closed for good."
    ask = [{"role": "user", "content": f"Repeat this sentence exactly: {line}"}]
    prompt, stop = engine.chat_prompt(ask)
    span = engine.llm.tokenize(line.encode(), add_bos=False)
    plain = engine.complete(prompt, sampling=GREEDY, max_tokens=30, stop=stop)
    dry = engine.complete(prompt, sampling=sampling_from({"temperature": 0.0, "seed": 1, "dry_multiplier": 0.8}),
                          max_tokens=30, stop=stop)
    assert _longest_shared_run(plain.tokens, span) >= 10  # the model copies when nothing stops it
    assert _longest_shared_run(dry.tokens, span) < _longest_shared_run(plain.tokens, span)


def test_a_reply_cannot_open_with_an_avoided_name(engine: ExtendingEngine) -> None:
    ask = [{"role": "system", "content": "You are Bao."},
           {"role": "user", "content": "Start with your own name and a comma, like 'Bao, ...'. How are you?"}]
    prompt, stop = engine.chat_prompt(ask)
    plain = engine.complete(prompt, sampling=GREEDY, max_tokens=12, stop=stop)
    avoiding = sampling_from({"temperature": 0.0, "seed": 1, "avoid_openings": ["Bao"]})
    avoided = engine.complete(prompt, sampling=avoiding, max_tokens=12, stop=stop)
    assert plain.text.lstrip().startswith("Bao")  # what the model does when nothing stops it
    assert avoided.text.strip() and not avoided.text.lstrip().startswith("B")
    banned = {engine.token_text(int(t)).strip() for t in engine.opening_token_ids(("Bao", "Topic"))}
    assert {"B", "Topic", "Top"} <= banned and not banned & {"Ba", "To", "T"}  # short prefixes open other words
