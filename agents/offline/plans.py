"""StudyPlan: topics cut from the syllabus outline, in syllabus order.

The outline (:mod:`agents.offline.outline`) is cut at the finest level that gives at
most ``max_topics`` topics; if that is fewer than three, the next level is grouped, per
parent, into ``max_topics`` balanced runs. No structure at all: lines, then sentences,
then comma-separated items. Near-duplicates are merged.

``exam_date`` is noted in the plan's rationale but does not scale minutes: that needs
today's date, and a pure function has no clock (the planner can scale with one).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from agents.models import PlannedTopic, StudyPlan
from agents.offline.outline import Node, expand, levels, outline, topic_name
from agents.offline.payload import read_int, read_name, read_text
from agents.offline.text import clip, stems, words

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


# --- choosing the outline nodes --------------------------------------------------------


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


# --- merging near-duplicates -----------------------------------------------------------


def _merge(pieces: list[_Piece]) -> list[_Piece]:
    """Merge single-item topics whose names share (almost) all their stems into the
    first one, and contentless ones into the topic before them."""
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
    return out


def _number_repeats(pieces: list[_Piece]) -> None:
    """Number the names that still repeat (runs of a long syllabus grouped under the
    same headings)."""
    counts = Counter(p.name.casefold() for p in pieces)
    seen: Counter[str] = Counter()
    for p in pieces:
        if counts[p.name.casefold()] > 1:
            seen[p.name.casefold()] += 1
            p.name = clip(p.name, 190) + f" ({seen[p.name.casefold()]})"


def _dedupe(pieces: list[_Piece]) -> tuple[list[_Piece], int]:
    """The pieces with near-duplicates merged and repeated names numbered, and how many
    were merged away."""
    out = _merge(pieces)
    _number_repeats(out)
    return out, len(pieces) - len(out)


# --- the plan --------------------------------------------------------------------------


def _source(nodes: list[Node]) -> str:
    """What the topics were cut from, e.g. "5 bullet points under 2 unit headings"."""
    kinds = Counter(n.label for n in nodes)
    parents = Counter(p.label for p in dict.fromkeys(n.parent for n in nodes if n.parent)
                      if p and p.label != "root")
    source = ", ".join(_noun(label, c) for label, c in kinds.items())
    if parents:
        source += " under " + ", ".join(_noun(label, c) for label, c in parents.items())
    if any(n.children for n in nodes):
        source += " (with the lines under them as summaries)"
    return source


def _rationale(pieces: list[_Piece], merged: int, exam_date: str) -> str:
    nodes = [n for p in pieces for n in p.nodes]
    verb = "grouping" if len(nodes) > len(pieces) + merged else "from"
    count = f"{len(pieces)} topic{'s' if len(pieces) > 1 else ''}"
    text = f"{count} {verb} {_source(nodes)}."
    if merged:
        text += f" {merged} near-duplicate or empty item(s) merged."
    text += (" Minutes: about 1.5 per word of material (10-120); weight: size relative to "
             "the largest topic.")
    if exam_date:
        text += (f" Exam date {clip(exam_date, 40)} noted; minutes are not compressed (the "
                 "offline model has no clock).")
    return text


def _topics(pieces: list[_Piece], exam: str) -> list[PlannedTopic]:
    biggest = max(p.words for p in pieces)
    return [PlannedTopic(
        name=p.name or exam, order=i, summary=clip("\n".join(p.lines), 2000),
        estimated_minutes=max(10, min(120, 5 * round((8 + 1.5 * p.words) / 5))),
        weight=round(max(0.5, 10 * p.words / max(1, biggest)), 1),
    ) for i, p in enumerate(pieces, 1)]


def _empty_plan(exam: str) -> StudyPlan:
    return StudyPlan(exam_type=exam, rationale="The syllabus was empty: one topic for the "
                     "whole exam. Paste a syllabus for a real plan.", topics=[PlannedTopic(
                         name=exam, order=1, estimated_minutes=60, weight=5.0)])


def plan(doc: dict[str, Any]) -> StudyPlan:
    """Topics from the syllabus structure, in syllabus order."""
    exam = read_name(doc, "exam_type", "Exam")
    root = outline(read_text(doc, "syllabus"))
    groups = _choose(root, read_int(doc, "max_topics", 12, 1, 50))
    pieces = [_Piece(_group_name(g), [x for n in g for x in n.lines()], list(g), len(g) == 1)
              for g in groups]
    pieces, merged = _dedupe([p for p in pieces if p.lines])
    if not pieces:
        return _empty_plan(exam)
    return StudyPlan(exam_type=exam, topics=_topics(pieces, exam),
                     rationale=_rationale(pieces, merged, read_text(doc, "exam_date").strip()))
