"""Run one persona group chat for one experience and return its turns.

Data flows one way: experience → fresh persona agents → group chat → turns. Agents, model
wrappers and the team are built anew for every conversation (shared agents mix histories).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

from autogen_agentchat.messages import TextMessage

from agents.group_chat import OPENING_SOURCE, build_group_chat, opening_messages
from agents.persona_agent import build_persona_agent
from agents.prompting import PromptTemplate, render
from agents.reply_check import avoided_openings, reply_findings
from agents.schemas import Experience, Turn
from agents.speaker_ids import speaker_ids
from agents.speaker_selection import eligible_speakers
from orchestrator.config import Scenario
from orchestrator.models.hub import ModelHub
from orchestrator.stages.llm_selector import SELECTOR_HISTORY_TURNS, make_constrained_selector
from orchestrator.stages.reply_resampling import CheckedReplyClient
from orchestrator.store.transcript import Transcript


def _reply_findings(reply: str, earlier: Sequence[str], *, labels: Sequence[str], speaker: str,
                    names: Sequence[str]) -> dict[str, list[str]]:
    return reply_findings(reply, speaker_labels=labels, earlier=earlier, speaker=speaker, names=names)


@dataclass(frozen=True)
class ConversationPrompts:
    persona: PromptTemplate
    group_chat: PromptTemplate


async def run_group_chat(
    experience: Experience,
    *,
    scenario: Scenario,
    prompts: ConversationPrompts,
    models: ModelHub,
    num_turns: int,
    transcript: Transcript,
    seed: int,
) -> list[Turn]:
    ids = speaker_ids([p.name for p in experience.participants])
    display = {agent: name for name, agent in ids.items()}
    names = list(ids)
    agents = []
    for offset, participant in enumerate(experience.participants):
        slug = ids[participant.name]
        check = functools.partial(_reply_findings, labels=[*display, *names], speaker=participant.name, names=names)
        client = CheckedReplyClient(
            models.client("persona", agent=slug, transcript=transcript, seed=seed * 31 + offset,
                          avoid_openings=avoided_openings(participant.name)),
            check=check, attempts=scenario.reply_attempts, agent=slug, transcript=transcript,
        )
        agent = build_persona_agent(
            participant,
            experience,
            name=slug,
            template=prompts.persona,
            model_client=client,
            reply_style=scenario.reply_style,
            max_reply_words=scenario.max_reply_words,
        )
        transcript.add("agent_created", agent=slug, display_name=participant.name,
                       description=agent.description, system_message=agent._system_messages[0].content)
        agents.append(agent)
    roster = [a.name for a in agents]
    selector_client = models.client("selector", agent="selector", transcript=transcript, seed=seed * 31 + 997)
    selector_func = None
    if scenario.selector == "constrained":
        selector_func = make_constrained_selector(
            roster=roster,
            descriptions={a.name: a.description for a in agents},
            client=selector_client,
            template=prompts.group_chat,
            transcript=transcript,
            max_attempts=scenario.selector_attempts,
            # with prefix reuse the whole history costs only its newest line per call, and a
            # sliding window would shift the prompt (and re-read it) on every late turn
            history_turns=None if models.reuses_prefixes("selector") else SELECTOR_HISTORY_TURNS,
        )
    team = build_group_chat(
        agents,
        selector_client=selector_client,
        num_turns=num_turns,
        candidate_func=functools.partial(eligible_speakers, roster=roster),
        selector_func=selector_func,
        selector_prompt=prompts.group_chat.parts["autogen_selector"],
        max_selector_attempts=scenario.selector_attempts,
    )
    opening = render(
        prompts.group_chat,
        "opening",
        situation=experience.situation,
        topic=experience.topic,
        relations=[r.model_dump() for r in experience.relations],
        participants=[p.model_dump() for p in experience.participants],
    )
    task = opening_messages(experience, opening, ids)
    transcript.add("opening", text=opening, starter_speaker=task[1].source, starter=task[1].content)
    result = await team.run(task=task)
    turns = []
    for message in result.messages:
        if isinstance(message, TextMessage) and message.source != OPENING_SOURCE:
            turns.append(Turn(speaker=display.get(message.source, message.source), text=message.content))
            transcript.add("message", speaker=message.source, text=message.content)
    transcript.add("stopped", reason=result.stop_reason)
    return turns
