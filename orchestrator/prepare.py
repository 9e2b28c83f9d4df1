"""Everything a run needs, loaded and checked before the first model call: the request, the
prompt templates (each rendered once, so a misspelt variable fails now), the few-shot hub (as it
was, on --resume), the model endpoints, the critic panel and the persona source.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

from agents.errors import UserError
from agents.experience_generator import REQUIRED_PARTS as EXPERIENCE_PARTS
from agents.persona_agent import REQUIRED_PARTS as PERSONA_PARTS
from agents.persona_agent import persona_variables
from agents.prompting import PromptTemplate, render
from agents.schemas import Experience
from agents.speaker_ids import speaker_ids
from orchestrator.config import ModelsConfig, Role, Scenario
from orchestrator.config.prompt_files import load_names, load_prompt, load_seed_shots
from orchestrator.critics.panel import CriticPanel
from orchestrator.models.hub import ModelHub
from orchestrator.personas.sources import PersonaSource, build_persona_source, framed_request
from orchestrator.stages.fewshot_hub import FewShotHub, HubMode, Shot
from orchestrator.store.resume import restore_hub
from orchestrator.store.writer import RunStore

GENERATION_ROLES: tuple[Role, ...] = ("experience_generator", "persona", "selector")
RAY_WORKERS = 2  # actors a Ray run starts when not told how many


def default_out_dir(scenario_name: str) -> Path:
    """Where a run goes when no directory is given: runs/<scenario>-<timestamp> under the working directory."""
    return Path("runs") / f"{scenario_name}-{datetime.now():%Y%m%d-%H%M%S}"


@dataclass(frozen=True)
class RunRequest:
    scenario: Scenario
    scenario_path: Path
    models: ModelsConfig
    models_path: Path
    num_conversations: int
    out_dir: Path
    seed: int
    concurrency: int = 1
    command_line: tuple[str, ...] = ()
    # failed conversations are replaced until this many have failed (default: max(10, N))
    max_failures: int | None = None
    resume: bool = False  # continue the run already in out_dir (see orchestrator/store/resume.py)
    retry_failed: bool = False  # resume: run the failed indices again (plain runs)
    # where jobs run: "local" (asyncio in this process) or "ray" (`workers` actors, each with
    # `concurrency` jobs in flight; a local Ray cluster unless `ray_address` names one)
    executor: Literal["local", "ray"] = "local"
    workers: int = 1
    ray_address: str | None = None

    @property
    def failure_budget(self) -> int:
        return self.max_failures if self.max_failures is not None else max(10, self.num_conversations)


@dataclass
class PreparedRun:
    request: RunRequest
    prompts: dict[str, PromptTemplate]
    hub: FewShotHub
    models: ModelHub
    names: list[str]
    personas: PersonaSource | None = None
    panel: CriticPanel | None = None  # the critic panel when the scenario's critics are enabled
    batches: dict[int, list[Shot]] = field(default_factory=dict)  # the shots of unfinished batches (resume)


def _check_templates(prompts: dict[str, PromptTemplate], scenario: Scenario, shot: Experience) -> None:
    """Render every template once with a real experience so variable typos fail at load time."""
    render(prompts["experience_generator"], "system")
    render(prompts["experience_generator"], "user", num_participants=scenario.participants.min,
           shots=[shot.model_dump()], names=[], persona_hint="")
    variables = persona_variables(shot.participants[0], shot, reply_style=scenario.reply_style,
                                  max_reply_words=scenario.max_reply_words)
    render(prompts["persona"], "system", **variables)
    render(prompts["persona"], "description", **variables)
    render(prompts["group_chat"], "opening", situation=shot.situation, topic=shot.topic,
           relations=[r.model_dump() for r in shot.relations], participants=[p.model_dump() for p in shot.participants])
    names = list(speaker_ids([p.name for p in shot.participants]).values())
    render(prompts["group_chat"], "selector", roles=[{"name": n, "description": ""} for n in names],
           history=[{"speaker": names[0], "text": shot.starter.text}], candidates=names[1:])
    try:
        prompts["group_chat"].parts["autogen_selector"].format(roles="", participants="", history="")
    except (KeyError, IndexError, ValueError) as exc:
        raise UserError(
            f"{prompts['group_chat'].source}: part 'autogen_selector' is filled with str.format and may only "
            f"use {{roles}}, {{participants}}, {{history}} (double any other brace): {exc!r}"
        ) from None


def prepare_run(request: RunRequest, *, hub_mode: HubMode | None = None) -> PreparedRun:
    scenario = request.scenario
    templates = scenario.prompts
    prompts = {
        "experience_generator": load_prompt(templates.experience_generator, EXPERIENCE_PARTS),
        "persona": load_prompt(templates.persona, PERSONA_PARTS),
        "group_chat": load_prompt(templates.group_chat, ("opening", "selector", "autogen_selector")),
    }
    seeds = load_seed_shots(scenario.few_shot.seed_shots)
    _check_templates(prompts, scenario, seeds[0])
    hub = FewShotHub(
        seeds,
        mode=hub_mode or scenario.few_shot.mode,
        shots_per_prompt=scenario.few_shot.shots_per_prompt,
        seed=request.seed,
        capacity=scenario.few_shot.hub_capacity,
    )
    batches: dict[int, list[Shot]] = {}
    if request.resume:  # the hub as it was, RNG state included, and the batches' shots
        restored = restore_hub(RunStore.open(request.out_dir))
        if restored is not None:
            hub, batches = restored
    models = ModelHub(request.models, request.models_path, seed=request.seed)
    models.preflight(GENERATION_ROLES)
    critics = scenario.critics
    panel = CriticPanel.from_config(critics) if critics is not None and critics.enabled else None
    if panel is not None:
        models.preflight(("critic",))
    names = load_names() if scenario.name_hints else []
    personas = None
    if scenario.personas.source != "generated":
        personas = build_persona_source(scenario.personas, load_names(), seed=request.seed)
        people = personas.draw(0, personas.group_size(0) or scenario.participants.min) or []
        render(prompts["experience_generator"], "sampled_system")
        framed_request(people, prompts["experience_generator"], shots=seeds[:1], pin=False)
    return PreparedRun(request, prompts, hub, models, names, personas, panel=panel, batches=batches)
