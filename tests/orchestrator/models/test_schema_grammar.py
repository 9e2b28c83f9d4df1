"""The embedded engine's grammar for a response schema: integer bounds enumerated, text fields
without braces, brackets, escapes or control characters, and the experience's topic one sentence."""

from __future__ import annotations

import json
import re

import llama_cpp
import pytest
from llama_cpp.llama_grammar import JSON_GBNF, json_schema_to_gbnf
from pydantic import BaseModel, Field

from agents.schemas import TOPIC_MAX_LENGTH, TOPIC_PATTERN, experience_schema
from orchestrator.models.schema_grammar import (
    MAX_ENUMERATED_RANGE,
    PLAIN_TEXT_CHAR_RULE,
    bounded_integers,
    schema_grammar,
)


class _Person(BaseModel):
    name: str
    age: int = Field(ge=5, le=100)
    year: int = Field(ge=0, le=10_000)
    count: int


def test_small_integer_ranges_become_enums_and_the_rest_stay() -> None:
    schema = bounded_integers(_Person.model_json_schema())
    properties = schema["properties"]
    assert properties["age"]["enum"] == list(range(5, 101)) and "type" not in properties["age"]
    assert properties["year"] == {"type": "integer", "minimum": 0, "maximum": 10_000, "title": "Year"}
    assert properties["count"] == {"type": "integer", "title": "Count"}
    assert MAX_ENUMERATED_RANGE < 10_000


def test_nested_schemas_are_bounded_too() -> None:
    schema = bounded_integers(experience_schema(3, ["Ana", "Ben", "Cy"]).model_json_schema())
    ages = [d["properties"]["age"] for d in schema["$defs"].values() if "age" in d.get("properties", {})]
    assert len(ages) == 3 and all(a["enum"][0] == 5 and a["enum"][-1] == 100 for a in ages)


def test_text_fields_lose_braces_brackets_escapes_and_control_characters() -> None:
    grammar = schema_grammar(_Person.model_json_schema())
    char_rules = [line for line in grammar.splitlines() if line.startswith("char ::=")]
    assert char_rules == [PLAIN_TEXT_CHAR_RULE]
    stock = json_schema_to_gbnf(json.dumps(_Person.model_json_schema()))
    assert [line for line in stock.splitlines() if line.startswith("char ::=")] != char_rules
    assert schema_grammar(None) == JSON_GBNF


class _Frame(BaseModel):
    topic: str = Field(max_length=TOPIC_MAX_LENGTH, json_schema_extra={"pattern": TOPIC_PATTERN})


@pytest.mark.parametrize(("topic", "one_sentence"), [
    ("Moving abroad.", True), ("Whether Lena should sell the bakery?", True), ("x" * 119 + "!", True),
    ("Moving abroad", False), ("Sell the bakery. Or keep it.", False), (" Moving abroad.", False),
    ("{{topic}}.", False), ("x" * 120 + ".", False),
])
def test_the_topic_pattern_is_one_sentence_of_plain_text(topic: str, one_sentence: bool) -> None:
    assert bool(re.fullmatch(TOPIC_PATTERN, topic)) is one_sentence


def test_the_experience_topic_is_decoded_as_one_sentence() -> None:
    schema = experience_schema(3, ["Ana", "Ben", "Cy"]).model_json_schema()
    assert schema["properties"]["topic"]["pattern"] == TOPIC_PATTERN
    rule = next(line for line in schema_grammar(schema).splitlines() if line.startswith("topic ::="))
    # the last thing before the closing quote is the sentence end; nothing before it may be one
    assert rule.endswith(r'[.!?] "\"" space'), rule[-40:]
    inner = next(line for line in schema_grammar(schema).splitlines() if line.startswith("topic-1 ::="))
    assert inner.startswith("topic-1 ::= [^.!?")


@pytest.mark.integration
def test_the_grammar_parses_and_holds_in_llama_cpp() -> None:
    from orchestrator.models.local import bundled_model_path

    llm = llama_cpp.Llama(model_path=str(bundled_model_path()), n_ctx=512, verbose=False)
    try:
        grammar = llama_cpp.LlamaGrammar.from_string(schema_grammar(_Person.model_json_schema()), verbose=False)
        prompt = 'Write JSON for a person called "{Bob}" aged 300 with the year 1990 and a count.'
        out = llm.create_completion(prompt, grammar=grammar, max_tokens=80, temperature=0.8, seed=3)
        person = _Person.model_validate_json(out["choices"][0]["text"])  # type: ignore[index]
        assert 5 <= person.age <= 100
        assert not set(person.name) & set("{}[]<>|`\\")
    finally:
        llm.close()


@pytest.mark.integration
def test_a_run_on_topic_stops_at_its_first_sentence_in_llama_cpp() -> None:
    from orchestrator.models.local import bundled_model_path

    llm = llama_cpp.Llama(model_path=str(bundled_model_path()), n_ctx=512, verbose=False)
    try:
        grammar = llama_cpp.LlamaGrammar.from_string(schema_grammar(_Frame.model_json_schema()), verbose=False)
        prompt = "Write JSON with a long topic of three sentences about moving abroad with a family.\n"
        for seed in (1, 2, 3):
            out = llm.create_completion(prompt, grammar=grammar, max_tokens=80, temperature=0.8, seed=seed)
            topic = _Frame.model_validate_json(out["choices"][0]["text"]).topic  # type: ignore[index]
            assert re.fullmatch(TOPIC_PATTERN, topic), topic
            assert sum(topic.count(end) for end in ".!?") == 1, topic
    finally:
        llm.close()
