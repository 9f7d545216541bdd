"""TutorExplanation: a micro-lesson quoted from the material's sentences about the topic.

Sentences are ranked by TF-IDF overlap with the topic (:func:`~agents.offline.index.about`)
and quoted: the most central one is the intuition, the others the steps; the pitfall is
the other topic most easily confused with this one, and the practice question blanks the
key term out of the intuition. When the material has nothing on the topic, the lesson
says so.
"""

from __future__ import annotations

import re
from typing import Any

from agents.models import ExplanationStep, TutorExplanation
from agents.offline.index import Index, Sentence, about, build_index
from agents.offline.outline import topic_name
from agents.offline.payload import read_name, read_names, read_text
from agents.offline.questions import blank
from agents.offline.terms import key_phrase
from agents.offline.text import EXAMPLE_CUE, clip, label_of, stems, surface

_CONTRAST = re.compile(r"\b(?:not|unlike|whereas|however|but|instead|only|never)\b", re.I)


# --- the sentences of the lesson -------------------------------------------------------


def _widen(index: Index, found: list[Sentence]) -> list[Sentence]:
    """Thin findings plus their neighbours under the same heading."""
    near = [index.sentences[i] for s in found for i in (s.pos - 1, s.pos + 1)
            if 0 <= i < len(index.sentences)]
    extra = [n for n in near if not n.heading and any(n.context == s.context for s in found)]
    return list({s.pos: s for s in [*found, *extra]}.values())


def _findings(material: str, topic: str, summary: str) -> tuple[Index, list[Sentence]]:
    """The index and its sentences about ``topic``: the summary joins the material when
    the material alone has none, and thin findings take in their neighbours."""
    index = build_index(material)
    found = about(index, topic, summary)
    if not found:
        index = build_index(material + "\n" + summary)
        found = about(index, topic, summary)
    if len([s for s in found if not s.heading]) < 2:
        found = _widen(index, found)
    return index, found


def _central(index: Index, found: list[Sentence]) -> Sentence:
    """The sentence sharing the most (IDF-weighted) words with the others."""
    prose = [s for s in found if not s.heading][:12] or found[:12]
    return max(prose, key=lambda s: (sum(index.weight(t) for o in prose if o is not s
                                         for t in s.stems & o.stems), -s.pos))


# --- the parts of the lesson -----------------------------------------------------------


def _intuition(topic: str, core: Sentence, prose: int, missing: bool) -> str:
    intuition = clip(core.text, 1200)
    if missing:
        return (f"Your material does not mention {topic}; this lesson uses the closest "
                f"it has: {intuition}")
    if prose < 2:
        return f"Your material says little about {topic}; what it does say: {intuition}"
    return intuition


def _title(index: Index, text: str, topic: str) -> str:
    title = label_of(text) or key_phrase(index, text, stems(topic)) or topic_name(text)
    return clip(title[:1].upper() + title[1:], 200)


def _steps(index: Index, found: list[Sentence], core: Sentence,
           topic: str) -> list[ExplanationStep]:
    prose = sorted((s for s in found if not s.heading), key=lambda s: s.pos)
    chosen = [s for s in prose if s is not core][:6]
    chosen = chosen if len(chosen) >= 2 else prose[:6]
    steps = [ExplanationStep(title=_title(index, s.text, topic), content=clip(s.text, 4000))
             for s in chosen]
    if len(steps) < 2:
        steps.append(ExplanationStep(title="Say it back", content=(
            f"Explain {topic} in two sentences of your own, then check them against your "
            f"notes: “{clip(core.text, 600)}”")))
    return steps


def _rival(index: Index, topic: str, found: list[Sentence],
           others: list[str]) -> tuple[str, frozenset[str]] | None:
    """The other topic most easily confused with ``topic`` and the stems they share:
    name words in common count double, then words shared by the two topics' own lines
    (the rival's name in my lines counts: "BFS uses a queue" vs "Stacks and Queues")."""
    mine = stems(topic) | frozenset().union(*(s.stems for s in found[:12]))
    best: tuple[str, frozenset[str]] | None = None
    best_score = 0
    for other in others[:15]:
        own = [s for s in about(index, other, limit=8) if s not in found]
        if not own:  # a topic with no lines of its own is no rival
            continue
        theirs = stems(other).union(*(s.stems for s in own))
        shared = theirs & mine
        value = len(stems(other) & stems(topic)) + len(shared)
        if value > best_score and other.casefold() != topic.casefold():
            best, best_score = (other, shared), value
    return best


def _pitfall(index: Index, topic: str, found: list[Sentence], core: Sentence,
             others: list[str]) -> str:
    rival = _rival(index, topic, found, others)
    if rival:
        name, shared = rival
        candidates = [s for s in about(index, name, limit=8) if s not in found and not s.heading]
        theirs = max(candidates, key=lambda s: (len(s.stems & shared), -s.pos), default=None)
        texts = [topic, name, *(s.text for s in found), theirs.text if theirs else ""]
        text = (f"Don't mix up {topic} with {name}: both involve {surface(shared, texts)}. "
                f"Your notes on {topic}: “{clip(core.text, 400)}”")
        return text + (f" On {name}: “{clip(theirs.text, 400)}”" if theirs else "")
    caveat = next((s for s in found if _CONTRAST.search(s.text)), None)
    if caveat:
        return f"Watch the qualifier in your notes: “{clip(caveat.text, 600)}”"
    term = key_phrase(index, core.text, stems(topic)) or topic
    return (f"A common slip is to learn “{term}” as a word without its role in {topic}; "
            f"your notes put it this way: “{clip(core.text, 600)}”")


def _example(index: Index, topic: str, found: list[Sentence], core: Sentence) -> str:
    near = [s for s in index.sentences if s.context and s.context == core.context]
    pool = [s for s in [*found, *near] if not s.heading]
    case = next((s for s in pool if EXAMPLE_CUE.search(s.text)), None) or next(
        (s for s in pool if re.search(r"\d", s.text)), None)
    if case:
        return f"From your notes: “{clip(case.text, 600)}”"
    terms = [t for t in (key_phrase(index, s.text, stems(topic)) for s in found[:4]) if t]
    pair = " and ".join(dict.fromkeys(terms[:2])) or topic
    return (f"Picture {topic} at work: find one concrete case where {pair} show up, and "
            f"explain it step by step using your notes: “{clip(core.text, 400)}”")


def _practice(index: Index, core: Sentence, topic: str) -> str:
    term = key_phrase(index, core.text, stems(topic))
    practice = blank(core.text, term) if term else None
    return (f"Fill in the blank from your notes: “{clip(practice, 600)}”"
            if practice else f"How would you explain {topic} to a classmate?")


def _no_material(topic: str) -> TutorExplanation:
    empty = (f"Your material has nothing on {topic} yet: paste your notes for it, "
             f"and this lesson will be built from them.")
    return TutorExplanation(topic=topic, intuition=empty, steps=[
        ExplanationStep(title="Add material", content=empty)],
        real_world_example=empty, common_pitfall=empty, practice_question=None)


def lesson(doc: dict[str, Any]) -> TutorExplanation:
    """A micro-lesson quoted from the material's sentences about the topic."""
    topic = read_name(doc, "topic", "this topic")
    summary, others = read_text(doc, "topic_summary"), read_names(doc, "other_topics")
    index, found = _findings(read_text(doc, "material"), topic, summary)
    prose = [s for s in found if not s.heading]
    missing = not prose
    if missing:
        found = prose = [s for s in index.sentences if not s.heading][:4]
    if not prose:
        return _no_material(topic)
    core = _central(index, found)
    return TutorExplanation(
        topic=topic, intuition=_intuition(topic, core, len(prose), missing),
        steps=_steps(index, found, core, topic),
        real_world_example=_example(index, topic, found, core),
        common_pitfall=_pitfall(index, topic, found, core, [] if missing else others),
        practice_question=_practice(index, core, topic))
