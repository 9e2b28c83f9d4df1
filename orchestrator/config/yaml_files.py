"""Loading YAML files users edit, with errors that name the file, line, field and value.

Every file is untrusted input: it is read with a size cap, decoded as strict UTF-8 (an error
names the byte offset), composed into YAML nodes, and refused when its aliases would expand
into more nodes than any configuration needs ("billion laughs") or it nests too deeply, all
before a Python object is built from it. Only then is it validated against its schema.
"""

from __future__ import annotations

import types
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, Union, get_args, get_origin

import annotated_types
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from agents.errors import ConfigError, first_line

# A hand-written configuration file is a few KB; the cap keeps a wrong path (a log, a dataset,
# /dev/zero) from being read whole.
MAX_CONFIG_BYTES = 1_000_000
# Nodes a document may hold once every alias is expanded: the largest shipped file has ~300.
MAX_YAML_NODES = 100_000
MAX_YAML_DEPTH = 50  # nesting levels; a schema here is never deeper than 6
SHOWN_VALUE_CHARS = 60  # a bad value is quoted in an error up to this many characters


class StrictModel(BaseModel):
    """Base of every schema at an untrusted edge: unknown fields are errors; values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


ModelT = TypeVar("ModelT", bound=BaseModel)


def decode_utf8(data: bytes, source: str) -> str:
    """`data` as text; bytes that are not UTF-8 are a ConfigError naming the byte offset."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            f"{source}: not UTF-8 text: byte 0x{data[exc.start]:02x} at byte offset {exc.start} (line {line}); "
            "save the file as UTF-8"
        ) from None


def read_text(path: Path, *, limit: int = MAX_CONFIG_BYTES) -> str:
    """A configuration file's text: at most `limit` bytes of UTF-8."""
    try:
        with path.open("rb") as fh:
            data = fh.read(limit + 1)
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read file: {exc.strerror}") from None
    if len(data) > limit:
        raise ConfigError(f"{path}: file is larger than {limit:,} bytes, too large for a configuration file")
    return decode_utf8(data, str(path))


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
    if isinstance(exc, yaml.reader.ReaderError):  # a character YAML does not allow
        where = f"character {exc.position}"
    problem = getattr(exc, "problem", None) or first_line(exc)
    return f"YAML syntax error at {where}: {problem}"


def _check_expansion(root: yaml.Node, source: str) -> None:
    """Refuse a document whose aliases expand to more than MAX_YAML_NODES nodes, or that nests
    deeper than MAX_YAML_DEPTH. Aliases share their anchor's node, so sizes are memoised per
    node and the check costs one pass over the document as written."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(node: yaml.Node, depth: int) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        line = node.start_mark.line + 1
        if depth > MAX_YAML_DEPTH:
            raise ConfigError(f"{source}: line {line}: nested deeper than {MAX_YAML_DEPTH} levels")
        if key in open_nodes:
            raise ConfigError(f"{source}: line {line}: an alias refers to a node that contains it (recursive alias)")
        open_nodes.add(key)
        total = 1
        if isinstance(node, yaml.SequenceNode):
            total += sum(size(child, depth + 1) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            total += sum(size(k, depth + 1) + size(v, depth + 1) for k, v in node.value)
        open_nodes.discard(key)
        if total > MAX_YAML_NODES:
            raise ConfigError(
                f"{source}: line {line}: YAML aliases expand to more than {MAX_YAML_NODES:,} values; "
                "a configuration file needs far fewer (an alias bomb?)"
            )
        sizes[key] = total
        return total

    size(root, 0)


def parse_yaml(text: str, source: str) -> tuple[yaml.Node | None, Any]:
    """(node tree, value) of one YAML document; the nodes carry line numbers for messages.
    Any problem is a ConfigError naming `source`."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is None:
            return None, None
        _check_expansion(node, source)
        loader = yaml.SafeLoader("")
        try:
            return node, loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: {_yaml_problem(exc)}") from None
    except RecursionError:
        raise ConfigError(f"{source}: nested too deeply to read") from None
    except (ValueError, OverflowError) as exc:  # a scalar the constructor cannot build: a 5,000-digit int, 2024-13-45
        raise ConfigError(f"{source}: a value cannot be read: {first_line(exc)}") from None


def read_yaml(path: Path) -> Any:
    """Parse a YAML configuration file (size-capped, UTF-8, aliases bounded); errors name the file
    and line."""
    return parse_yaml(read_text(path), str(path))[1]


def shown_value(value: Any) -> str:
    """A value as an error quotes it: repr, cut to SHOWN_VALUE_CHARS."""
    text = repr(value)
    return text if len(text) <= SHOWN_VALUE_CHARS else text[: SHOWN_VALUE_CHARS - 1] + "…"


_BOUND_ERRORS = {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}


def _unwrap(annotation: Any) -> Any:
    """The type inside Annotated[...] and X | None."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _unwrap(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        return _unwrap(args[0]) if len(args) == 1 else annotation
    return annotation


def _tagged(member: Any, tag: str | int) -> bool:
    """Whether a union member is the model whose Literal tag field (`type: openai`) is `tag`."""
    if not (isinstance(member, type) and issubclass(member, BaseModel)):
        return False
    return any(tag in get_args(info.annotation) for info in member.model_fields.values()
               if get_origin(info.annotation) is Literal)


def allowed_range(model: type[BaseModel] | None, loc: Sequence[str | int]) -> str | None:
    """The allowed range of the numeric field at `loc` of `model` ("1 to 200", "at least 0"),
    or None when the field cannot be found."""
    current: Any = model
    metadata: list[Any] = []
    for part in loc:
        if get_origin(current) in (Union, types.UnionType):  # a tagged union: pydantic puts the tag in the loc
            current = next((m for m in get_args(current) if _tagged(m, part)), None)
            continue
        if isinstance(current, type) and issubclass(current, BaseModel) and part in current.model_fields:
            info = current.model_fields[str(part)]
            metadata, current = list(info.metadata), _unwrap(info.annotation)
        elif get_origin(current) in (list, tuple, dict) and get_args(current):
            metadata, current = [], _unwrap(get_args(current)[-1])  # an item or a dict value
        else:
            return None
    low = next((f"{m.ge}" for m in metadata if isinstance(m, annotated_types.Ge)), None)
    low = low or next((f"more than {m.gt}" for m in metadata if isinstance(m, annotated_types.Gt)), None)
    high = next((f"{m.le}" for m in metadata if isinstance(m, annotated_types.Le)), None)
    high = high or next((f"less than {m.lt}" for m in metadata if isinstance(m, annotated_types.Lt)), None)
    if low and high:
        return f"{low} to {high}"
    if low:
        return f"at least {low}" if low[0].isdigit() or low[0] == "-" else low
    if high:
        return f"at most {high}" if high[0].isdigit() or high[0] == "-" else high
    return None


def out_of_range(model: type[BaseModel] | None, err: Any) -> str | None:
    """"<value> is out of range (allowed: 1 to 200)" for a pydantic bound error on a field of
    `model`; None for any other error."""
    if err["type"] not in _BOUND_ERRORS:
        return None
    allowed = allowed_range(model, err["loc"])
    return None if allowed is None else f"{shown_value(err.get('input'))} is out of range (allowed: {allowed})"


def validation_problems(source: str, exc: ValidationError, model: type[BaseModel] | None = None) -> list[str]:
    """One readable line per problem: `file: field 'a.b': message (got value)`; a number out of
    range names the allowed range (from `model`'s field, when given)."""
    problems = []
    for err in exc.errors():
        loc = ".".join(str(part) for part in err["loc"]) or "(top level)"
        kind = err["type"]
        value = err.get("input")
        if kind == "extra_forbidden":
            message = "unknown field"
        elif kind == "missing":
            message = "required field is missing"
        elif (bounds := out_of_range(model, err)) is not None:
            problems.append(f"{source}: field '{loc}': {bounds}")
            continue
        else:
            message = err["msg"]
        shown = "" if kind == "missing" else f" (got {shown_value(value)})"
        if isinstance(value, dict | list) and kind != "extra_forbidden":
            shown = ""
        problems.append(f"{source}: field '{loc}': {message}{shown}")
    return problems


def describe_validation_error(source: str, exc: ValidationError, data: Any = None,
                              model: type[BaseModel] | None = None) -> str:
    """Every problem of `exc` on one line, `; `-separated (the command line prints one line)."""
    return "; ".join(validation_problems(source, exc, model))


def load_model(path: Path, model: type[ModelT], data: Any = None) -> ModelT:
    """Read `path` and validate it against `model`, raising ConfigError on any problem."""
    if data is None:
        data = read_yaml(path)
    if data is None:
        raise ConfigError(f"{path}: file is empty; expected a mapping of fields")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(str(path), exc, data, model)) from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to read") from None
