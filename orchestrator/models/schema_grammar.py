"""The GBNF grammar the embedded engine decodes a response schema under, made as tight as the
validation that follows it.

llama-cpp-python's converter (`json_schema_to_gbnf`) leaves out two things our validation then
rejects, so a tiny model spends whole attempts on them (measured on the experience generator:
ages above 100 in 2 of 12 attempts, braces and "}}, {" in text fields in 4 of 12):
- integer bounds (`minimum`/`maximum`): a small range becomes an enum of its values;
- what a text field may hold: every string in our schemas is natural language (a name, a
  quality, a sentence), so braces, brackets, angle brackets, pipes, backticks, backslash escapes
  and control characters are left out of the string alphabet. The experience rules
  (agents/experience_rules.py `debris`) reject them anyway; a real endpoint still gets them
  checked there.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from llama_cpp.llama_grammar import JSON_GBNF, json_schema_to_gbnf

# enumerating more values than this would make the grammar larger than the bound is worth
MAX_ENUMERATED_RANGE = 200
_CONVERTER_CHAR_RULE = r'char ::= [^"\\] | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F])'
PLAIN_TEXT_CHAR_RULE = r'char ::= [^"\\{}<>|`\[\]\x00-\x1F]'


def bounded_integers(schema: Any) -> Any:
    """The schema with every integer of a small [minimum, maximum] range as an enum of its values."""
    if isinstance(schema, list):
        return [bounded_integers(item) for item in schema]
    if not isinstance(schema, Mapping):
        return schema
    out = {key: bounded_integers(value) for key, value in schema.items()}
    low, high = out.get("minimum"), out.get("maximum")
    if (out.get("type") == "integer" and isinstance(low, int) and isinstance(high, int)
            and 0 <= high - low <= MAX_ENUMERATED_RANGE):
        for key in ("type", "minimum", "maximum"):
            out.pop(key)
        out["enum"] = list(range(low, high + 1))
    return out


def schema_grammar(schema: Mapping[str, Any] | None) -> str:
    """GBNF for a response schema (any JSON object when there is none)."""
    if schema is None:
        return JSON_GBNF
    grammar = json_schema_to_gbnf(json.dumps(bounded_integers(schema)))
    if _CONVERTER_CHAR_RULE not in grammar.splitlines():
        # a converter that writes strings differently: keep its grammar rather than guess
        return grammar
    return "\n".join(PLAIN_TEXT_CHAR_RULE if line == _CONVERTER_CHAR_RULE else line
                     for line in grammar.splitlines())
