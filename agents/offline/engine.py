"""The offline model's engine: answers each agent request from the student's own text.

``respond(schema_name, payload)`` is the whole interface. It is pure (no I/O, no clock,
no randomness: the one "random" choice, where a quiz key goes, hashes the prompt) and
extractive: every plan topic, lesson step, reply and quiz option is text of the syllabus.

- StudyPlan: the syllabus outline (:mod:`agents.offline.text`) is cut at the finest
  level that gives at most ``max_topics`` topics; if that is fewer than three, the next
  level is grouped, per parent, into ``max_topics`` balanced runs. No structure at all:
  lines, then sentences, then comma-separated items. Near-duplicates are merged.
- TutorExplanation and TutorReply: sentences ranked by TF-IDF overlap with the topic
  (or the question), quoted; when nothing matches the engine says so.
- Quiz and MisconceptionAnalysis: :mod:`agents.offline.questions`.

``exam_date`` is noted in the plan's rationale but does not scale minutes: that needs
today's date, and a pure function has no clock (the planner can scale with one).

Errors: only :class:`UnsupportedTask` (an unknown schema name). Odd input (missing
fields, wrong types, empty or huge text) gives a weaker answer, never an exception.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from agents.models import ExplanationStep, PlannedTopic, StudyPlan, TutorExplanation, TutorReply
from agents.offline import questions
from agents.offline.text import (
    Index,
    Node,
    Sentence,
    about,
    build_index,
    clip,
    expand,
    label_of,
    levels,
    normalize,
    outline,
    query,
    stem,
    stems,
    topic_name,
    words,
)


class UnsupportedTask(ValueError):
    """The offline model has no answer for this output schema."""


# --- the payload -----------------------------------------------------------------------


def _text(doc: dict[str, Any], key: str) -> str:
    return normalize(doc.get(key))


def _name(doc: dict[str, Any], key: str, default: str) -> str:
    return clip(" ".join(_text(doc, key).split()), 200) or default


def _int(doc: dict[str, Any], key: str, default: int, low: int, high: int) -> int:
    return max(low, min(high, questions.as_int(doc.get(key, default), default)))


def _names(doc: dict[str, Any], key: str) -> list[str]:
    raw = doc.get(key)
    items = raw if isinstance(raw, list) else [raw] if isinstance(raw, str) else []
    return [n for n in (clip(" ".join(normalize(i).split()), 200) for i in items[:50]) if n]


# --- StudyPlan -------------------------------------------------------------------------

_NOUNS = {"markdown": "markdown heading", "caps": "ALL-CAPS heading", "numbered": "numbered line",
          "colon": "heading ending in ':'", "bullet": "bullet point", "line": "line",
          "sentence": "sentence", "item": "comma-separated item", "text": "line",
          "root": "unstructured text"}


def _noun(label: str, count: int) -> str:
    noun = _NOUNS.get(label, f"{label} heading")
    plural = noun.replace("heading", "headings", 1) if "heading " in noun else noun + "s"
    if label == "root":
        return "the syllabus as a single block of text"
    return f"{count} {noun if count == 1 else plural}"


@dataclass
class _Piece:
    name: str
    lines: list[str]
    nodes: list[Node]
    single: bool = True

    @property
    def words(self) -> int:
        return sum(len(words(line)) for line in self.lines)


def _node_name(node: Node) -> str:
    return topic_name(node.title or next(iter(node.body), ""))


def _group_name(group: list[Node]) -> str:
    parent = group[0].parent
    names = [_node_name(n) for n in group]
    if len(group) == 1:
        return names[0]
    if parent and parent.title and group == parent.children:
        return _node_name(parent)
    joined = (", ".join(names[:-1]) + " & " + names[-1]) if len(names) <= 3 else \
        f"{names[0]} … {names[-1]}"
    return clip(joined, 200)


def _partition(nodes: list[Node], k: int) -> list[list[Node]]:
    """``nodes`` in ``k`` contiguous runs of similar size (words)."""
    sizes = [1 + sum(len(words(x)) for x in n.lines()) for n in nodes]
    total, acc = sum(sizes), 0
    runs: list[list[Node]] = [[]]
    for i, (node, size) in enumerate(zip(nodes, sizes, strict=True)):
        opened = len(runs)
        if runs[-1] and opened < k and (acc >= total * opened / k or len(nodes) - i <= k - opened):
            runs.append([])
        runs[-1].append(node)
        acc += size
    return runs


def _grouped(level: list[Node], limit: int) -> list[list[Node]]:
    """Merge a too-fine level into ``limit`` runs, never across parents when avoidable."""
    by_parent: dict[int, list[Node]] = {}
    for node in level:
        by_parent.setdefault(id(node.parent), []).append(node)
    families = list(by_parent.values()) if len(by_parent) <= limit else [level]
    quotas = [max(1, len(f) * limit // len(level)) for f in families]
    while sum(quotas) > limit:
        quotas[quotas.index(max(quotas))] -= 1
    for i in sorted(range(len(families)), key=lambda j: -len(families[j])):
        if sum(quotas) < limit and quotas[i] < len(families[i]):
            quotas[i] += min(limit - sum(quotas), len(families[i]) - quotas[i])
    return [run for f, q in zip(families, quotas, strict=True) for run in _partition(f, q)]


def _choose(root: Node, limit: int) -> list[list[Node]]:
    """The topics as groups of outline nodes (usually one node each)."""
    low = min(3, limit)
    cuts = levels(root)
    if len(cuts[-1]) < low:
        expand(cuts[-1])
        cuts = levels(root)
    cuts = cuts[1:] or cuts
    fitting = [c for c in cuts if len(c) <= limit]
    if fitting and (len(fitting[-1]) >= low or fitting[-1] is cuts[-1]):
        return [[n] for n in fitting[-1]]
    return _grouped(next(c for c in cuts if len(c) > limit), limit)


def _dedupe(pieces: list[_Piece]) -> tuple[list[_Piece], int]:
    """Merge single-item topics whose names share (almost) all their stems into the
    first one, and contentless ones into the topic before them; number the names that
    still repeat (runs of a long syllabus grouped under the same headings)."""
    out: list[_Piece] = []
    for piece in pieces:
        key = stems(piece.name)
        twin = next((p for p in out if p.single and piece.single and (s := stems(p.name))
                     and key and len(s & key) >= 0.8 * len(s | key)), None)
        target = twin or (out[-1] if out and piece.single and not key else None)
        if target is None:
            out.append(piece)
        else:
            target.lines += piece.lines
            target.nodes += piece.nodes
    counts = Counter(p.name.casefold() for p in out)
    seen: Counter[str] = Counter()
    for p in out:
        if counts[p.name.casefold()] > 1:
            seen[p.name.casefold()] += 1
            p.name = clip(p.name, 190) + f" ({seen[p.name.casefold()]})"
    return out, len(pieces) - len(out)


def _rationale(pieces: list[_Piece], merged: int, exam_date: str) -> str:
    nodes = [n for p in pieces for n in p.nodes]
    kinds = Counter(n.label for n in nodes)
    parents = Counter(p.label for p in dict.fromkeys(n.parent for n in nodes if n.parent)
                      if p and p.label != "root")
    source = ", ".join(_noun(label, c) for label, c in kinds.items())
    if parents:
        source += " under " + ", ".join(_noun(label, c) for label, c in parents.items())
    if any(n.children for n in nodes):
        source += " (with the lines under them as summaries)"
    verb = "grouping" if len(nodes) > len(pieces) + merged else "from"
    count = f"{len(pieces)} topic{'s' if len(pieces) > 1 else ''}"
    text = f"{count} {verb} {source}."
    if merged:
        text += f" {merged} near-duplicate or empty item(s) merged."
    text += (" Minutes: about 1.5 per word of material (10-120); weight: size relative to "
             "the largest topic.")
    if exam_date:
        text += (f" Exam date {clip(exam_date, 40)} noted; minutes are not compressed (the "
                 "offline model has no clock).")
    return text


def plan(doc: dict[str, Any]) -> StudyPlan:
    """Topics from the syllabus structure, in syllabus order."""
    exam = _name(doc, "exam_type", "Exam")
    root = outline(_text(doc, "syllabus"))
    groups = _choose(root, _int(doc, "max_topics", 12, 1, 50))
    pieces = [_Piece(_group_name(g), [x for n in g for x in n.lines()], list(g), len(g) == 1)
              for g in groups]
    pieces, merged = _dedupe([p for p in pieces if p.lines])
    if not pieces:
        return StudyPlan(exam_type=exam, rationale="The syllabus was empty: one topic for the "
                         "whole exam. Paste a syllabus for a real plan.", topics=[PlannedTopic(
                             name=exam, order=1, estimated_minutes=60, weight=5.0)])
    biggest = max(p.words for p in pieces)
    topics = [PlannedTopic(
        name=p.name or exam, order=i, summary=clip("\n".join(p.lines), 2000),
        estimated_minutes=max(10, min(120, 5 * round((8 + 1.5 * p.words) / 5))),
        weight=round(max(0.5, 10 * p.words / max(1, biggest)), 1),
    ) for i, p in enumerate(pieces, 1)]
    return StudyPlan(exam_type=exam, topics=topics,
                     rationale=_rationale(pieces, merged, _text(doc, "exam_date").strip()))


# --- TutorExplanation ------------------------------------------------------------------

_CUE = re.compile(r"\b(?:for example|for instance|e\.g\.|such as|including|like)\s", re.I)
_CONTRAST = re.compile(r"\b(?:not|unlike|whereas|however|but|instead|only|never)\b", re.I)


def _central(index: Index, found: list[Sentence]) -> Sentence:
    """The sentence sharing the most (IDF-weighted) words with the others."""
    prose = [s for s in found if not s.heading][:12] or found[:12]
    return max(prose, key=lambda s: (sum(index.weight(t) for o in prose if o is not s
                                         for t in s.stems & o.stems), -s.pos))


def _widen(index: Index, found: list[Sentence]) -> list[Sentence]:
    """Thin findings plus their neighbours under the same heading."""
    near = [index.sentences[i] for s in found for i in (s.pos - 1, s.pos + 1)
            if 0 <= i < len(index.sentences)]
    extra = [n for n in near if not n.heading and any(n.context == s.context for s in found)]
    return list({s.pos: s for s in [*found, *extra]}.values())


def _title(index: Index, text: str, topic: str) -> str:
    title = label_of(text) or questions.key_phrase(index, text, stems(topic)) or topic_name(text)
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


def _surface(wanted: frozenset[str], texts: list[str], limit: int = 4) -> str:
    """Words of ``texts`` whose stems are ``wanted``, as first written, one per stem."""
    seen: dict[str, str] = {}
    for w in (w for t in texts for w in words(t)):
        if (key := stem(w)) in wanted:
            seen.setdefault(key, w)
    return ", ".join(list(seen.values())[:limit])


def _pitfall(index: Index, topic: str, found: list[Sentence], core: Sentence,
             others: list[str]) -> str:
    rival = _rival(index, topic, found, others)
    if rival:
        name, shared = rival
        candidates = [s for s in about(index, name, limit=8) if s not in found and not s.heading]
        theirs = max(candidates, key=lambda s: (len(s.stems & shared), -s.pos), default=None)
        texts = [topic, name, *(s.text for s in found), theirs.text if theirs else ""]
        text = (f"Don't mix up {topic} with {name}: both involve {_surface(shared, texts)}. "
                f"Your notes on {topic}: “{clip(core.text, 400)}”")
        return text + (f" On {name}: “{clip(theirs.text, 400)}”" if theirs else "")
    caveat = next((s for s in found if _CONTRAST.search(s.text)), None)
    if caveat:
        return f"Watch the qualifier in your notes: “{clip(caveat.text, 600)}”"
    term = questions.key_phrase(index, core.text, stems(topic)) or topic
    return (f"A common slip is to learn “{term}” as a word without its role in {topic}; "
            f"your notes put it this way: “{clip(core.text, 600)}”")


def _example(index: Index, topic: str, found: list[Sentence], core: Sentence) -> str:
    near = [s for s in index.sentences if s.context and s.context == core.context]
    pool = [s for s in [*found, *near] if not s.heading]
    case = next((s for s in pool if _CUE.search(s.text)), None) or next(
        (s for s in pool if re.search(r"\d", s.text)), None)
    if case:
        return f"From your notes: “{clip(case.text, 600)}”"
    terms = [t for t in (questions.key_phrase(index, s.text, stems(topic)) for s in found[:4]) if t]
    pair = " and ".join(dict.fromkeys(terms[:2])) or topic
    return (f"Picture {topic} at work: find one concrete case where {pair} show up, and "
            f"explain it step by step using your notes: “{clip(core.text, 400)}”")


def lesson(doc: dict[str, Any]) -> TutorExplanation:
    """A micro-lesson quoted from the material's sentences about the topic."""
    topic = _name(doc, "topic", "this topic")
    summary, others = _text(doc, "topic_summary"), _names(doc, "other_topics")
    index = build_index(_text(doc, "material"))
    found = about(index, topic, summary)
    if not found:
        index = build_index(_text(doc, "material") + "\n" + summary)
        found = about(index, topic, summary)
    if len([s for s in found if not s.heading]) < 2:
        found = _widen(index, found)
    prose = [s for s in found if not s.heading]
    missing = not prose
    if missing:
        found = prose = [s for s in index.sentences if not s.heading][:4]
    if not prose:
        empty = (f"Your material has nothing on {topic} yet: paste your notes for it, "
                 f"and this lesson will be built from them.")
        return TutorExplanation(topic=topic, intuition=empty, steps=[
            ExplanationStep(title="Add material", content=empty)],
            real_world_example=empty, common_pitfall=empty, practice_question=None)
    core = _central(index, found)
    intuition = clip(core.text, 1200)
    if missing:
        intuition = (f"Your material does not mention {topic}; this lesson uses the closest "
                     f"it has: {intuition}")
    elif len(prose) < 2:
        intuition = f"Your material says little about {topic}; what it does say: {intuition}"
    term = questions.key_phrase(index, core.text, stems(topic))
    practice = questions.blank(core.text, term) if term else None
    return TutorExplanation(
        topic=topic, intuition=intuition, steps=_steps(index, found, core, topic),
        real_world_example=_example(index, topic, found, core),
        common_pitfall=_pitfall(index, topic, found, core, [] if missing else others),
        practice_question=(f"Fill in the blank from your notes: “{clip(practice, 600)}”"
                           if practice else f"How would you explain {topic} to a classmate?"))


# --- TutorReply ------------------------------------------------------------------------

_FOLLOW_UP = re.compile(r"^\W*(?:more|another|again|continue|go on|and\??|why|example|examples|"
                        r"give me an example|tell me more|what else|elaborate|explain more)\W*$",
                        re.I)
_ASKING = frozenset(stem(w) for w in """what how why explain mean meaning define definition
tell describe example give show please help happen work difference between about get use
again more""".split())


def _history(doc: dict[str, Any]) -> list[tuple[str, str]]:
    raw = doc.get("history")
    items = raw[-10:] if isinstance(raw, list) else []
    return [(normalize(m.get("role")), normalize(m.get("content"))) for m in items
            if isinstance(m, dict)]


def _chat_query(message: str, topic: str, history: list[tuple[str, str]]) -> dict[str, float]:
    asked = {t: w for t, w in query(message).items() if t not in _ASKING}
    q = query(topic, 0.4) | asked
    if _FOLLOW_UP.match(message) or not asked:
        earlier = next((c for r, c in reversed(history) if r == "user"
                        and not _FOLLOW_UP.match(c) and stems(c)), "")
        q = query(earlier, 0.8) | q
    return q


def _picks(ranked: list[tuple[float, Sentence]], message: str) -> list[Sentence]:
    """Up to three sentences close to the best; prose before headings, examples first
    when one is asked for."""
    if not ranked:
        return []
    close = [(v, s) for v, s in ranked if v >= 0.4 * ranked[0][0]]
    close = [x for x in close if not x[1].heading] or close
    wants_example = bool(re.search(r"exampl|instance", message, re.I))
    close.sort(key=lambda x: (wants_example and not _CUE.search(x[1].text), -x[0], x[1].pos))
    return [s for _, s in close[:3]]


def _lead(topic: str, message: str, asked: frozenset[str], covered: set[str]) -> str:
    missing = _surface(asked - covered, [message])
    if asked and not covered:
        return (f"Your material doesn't cover “{clip(message, 200)}” directly. "
                f"The closest it says on {topic}:")
    if missing:
        return f"Your notes don't mention {missing}. The closest they say on {topic}:"
    return f"From your notes on {topic}:"


def chat(doc: dict[str, Any]) -> TutorReply:
    """Answer from the best-matching sentences; say so when the notes do not cover it."""
    topic, message = _name(doc, "topic", "this topic"), " ".join(_text(doc, "message").split())
    history = _history(doc)
    index = build_index(_text(doc, "material"))
    if not index.sentences:
        return TutorReply(reply=f"There is no material to draw on yet: paste your notes on "
                                f"{topic} and ask again.")
    said = "\n".join(c for r, c in history if r == "assistant")
    ranked = [(v, s) for v, s in index.rank(_chat_query(message, topic, history), 40)
              if s.text not in said]
    picks = _picks(ranked, message)
    if not picks:
        reply = (f"That's all your notes say on {topic}." if said
                 else f"Your material doesn't cover {topic} or this question.")
        return TutorReply(reply=reply)
    asked = frozenset(t for t in stems(message) if t not in stems(topic) and t not in _ASKING)
    covered = {t for s in index.sentences for t in asked if t in s.stems}
    quotes = "\n".join(f"- “{clip(s.text, 1500)}”" for s in picks)
    return TutorReply(reply=clip(f"{_lead(topic, message, asked, covered)}\n{quotes}", 8000),
                      cited=[clip(s.text, 2000) for s in picks])


# --- dispatch --------------------------------------------------------------------------


def _quiz(doc: dict[str, Any]) -> BaseModel:
    return questions.quiz(_name(doc, "topic", "General"), _text(doc, "topic_summary"),
                          _text(doc, "material"), _names(doc, "other_topics"),
                          _int(doc, "num_questions", 5, 1, 20))


def _misconception(doc: dict[str, Any]) -> BaseModel:
    return questions.analyse(_name(doc, "topic", "this topic"), _text(doc, "material"),
                             doc.get("question"), questions.as_int(doc.get("chosen_index"), -1))


_AGENTS: dict[str, Callable[[dict[str, Any]], BaseModel]] = {
    "StudyPlan": plan, "TutorExplanation": lesson, "TutorReply": chat, "Quiz": _quiz,
    "MisconceptionAnalysis": _misconception,
}


def respond(schema_name: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Answer one agent request. ``schema_name`` is the output model's class name in
    ``agents/models.py``; ``payload`` is the agent's input document (``AGENT_INPUTS``; a
    JSON string is accepted too). Returns a dict that validates against that model."""
    agent = _AGENTS.get(schema_name)
    if agent is None:
        raise UnsupportedTask(f"no offline answer for {schema_name!r}; "
                              f"supported: {', '.join(_AGENTS)}")
    if isinstance(payload, str):
        try:
            payload = json.loads(payload)
        except ValueError:
            payload = {}
    return agent(payload if isinstance(payload, dict) else {}).model_dump(mode="json")
