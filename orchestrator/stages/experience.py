"""Run the experience generator until it yields a usable experience (bounded attempts).

Every rejected attempt is recorded with its reason and the raw model output is in the
transcript's model_call event, so a bad prompt or a weak model can be diagnosed later.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from autogen_agentchat.messages import StructuredMessage
from pydantic import BaseModel, ValidationError

from agents.errors import GenerationError
from agents.experience_generator import build_experience_generator, experience_request
from agents.prompting import PromptTemplate
from agents.schemas import Experience, canonical_experience, experience_problems, experience_schema
from orchestrator.models.hub import ModelHub
from orchestrator.store.transcript import Transcript


@dataclass(frozen=True)
class FramedRequest:
    """A request around given personas: its schema, task text, system part and assembler."""

    schema: type[BaseModel]
    request: str
    assemble: Callable[[BaseModel], Experience]
    system_part: str = "system"


def _validation_summary(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        parts.append(f"{loc}: {err['msg']}")
    more = f" (+{exc.error_count() - 5} more)" if exc.error_count() > 5 else ""
    return "; ".join(parts) + more


async def generate_experience(
    models: ModelHub,
    template: PromptTemplate,
    *,
    shots: Sequence[Experience],
    num_participants: int,
    transcript: Transcript,
    seed: int,
    max_attempts: int,
    names: Sequence[str] = (),
    persona_hint: str = "",
    framed: FramedRequest | None = None,
) -> Experience:
    """Return a validated experience or raise GenerationError listing every rejection.

    `names`, when given, are suggested in the prompt and, on backends with grammar-constrained
    decoding, pinned in the schema. `framed` (sampled/reused personas) replaces the system
    message, schema and request, and turns the model's output into the Experience.
    """
    pin = bool(names) and models.enforces_schemas("experience_generator")
    schema: type[BaseModel] = experience_schema(num_participants, list(names) if pin else None)
    request = experience_request(
        template, num_participants=num_participants, shots=shots, names=names, persona_hint=persona_hint
    )
    system_part = "system"
    if framed is not None:
        schema, request, system_part = framed.schema, framed.request, framed.system_part
    rejections: list[dict[str, object]] = []
    for attempt in range(1, max_attempts + 1):
        client = models.client(
            "experience_generator",
            agent="experience_generator",
            transcript=transcript,
            seed=seed * 101 + attempt,
        )
        agent = build_experience_generator(client, template, schema, system_part=system_part)
        reason: str
        try:
            result = await agent.run(task=request)
            message = result.messages[-1]
            if not isinstance(message, StructuredMessage):
                reason = f"expected structured output, got {type(message).__name__}"
            else:
                content = message.content
                if framed is not None:
                    built = framed.assemble(content)
                else:
                    built = Experience.model_validate(content.model_dump())
                experience = canonical_experience(built)
                problems = experience_problems(experience, num_participants)
                if not problems:
                    transcript.add("experience_accepted", attempt=attempt)
                    return experience
                reason = "; ".join(problems)
        except ValidationError as exc:
            reason = f"invalid JSON for the experience schema: {_validation_summary(exc)}"
        except ValueError as exc:  # a framed output that does not fit the given personas
            reason = f"output does not fit the given personas: {exc}"
        rejections.append({"attempt": attempt, "reason": reason})
        transcript.add("experience_rejected", attempt=attempt, reason=reason)
    raise GenerationError(
        f"experience generator produced no usable experience in {max_attempts} attempts",
        attempts=rejections,
    )
