"""The material as sentences, and a small TF-IDF index to find the ones about a topic.

Sentences keep the titles of their nearest ancestors in the outline as context, so a
bullet "phospholipid bilayer" under "Cell membranes" is found by a question about
membranes (:func:`build_index`). Headings are sentences too, flagged as such.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

from agents.offline.outline import HEADING_MAX_RANK, TEXT_RANK, Line, parse_lines
from agents.offline.text import query, sentences_of, stems


@dataclass(frozen=True, eq=False)
class Sentence:
    """A sentence (or bullet) of the material, with the outline titles above it."""

    text: str
    line: str
    context: str
    pos: int
    heading: bool
    stems: frozenset[str]
    context_stems: frozenset[str]


class Index:
    """Sentences with inverse document frequencies; scores are TF-IDF-like overlaps."""

    def __init__(self, sentences: list[Sentence]) -> None:
        self.sentences = sentences
        df: dict[str, int] = {}
        for s in sentences:
            for t in s.stems:
                df[t] = df.get(t, 0) + 1
        n = max(1, len(sentences))
        self.idf = {t: math.log(1 + n / d) for t, d in df.items()}
        self.max_idf = math.log(1 + n)

    def weight(self, term: str) -> float:
        """Inverse document frequency of a stem (rare stems weigh most)."""
        return self.idf.get(term, self.max_idf)

    def score(self, q: dict[str, float], s: Sentence, context: float = 0.5) -> float:
        """How well ``s`` answers ``q``: matched stems by IDF, heading context at
        ``context`` of that, damped for long sentences."""
        total = 0.0
        for t, w in q.items():
            if t in s.stems:
                total += w * self.weight(t)
            elif t in s.context_stems:
                total += context * w * self.weight(t)
        return total / (1.0 + len(s.stems) / 25)

    def rank(self, q: dict[str, float], limit: int = 12) -> list[tuple[float, Sentence]]:
        """The best ``limit`` sentences for ``q`` with a positive score, best first."""
        if not q:
            return []
        scored = ((self.score(q, s), s) for s in self.sentences)
        best = heapq.nlargest(limit, (x for x in scored if x[0] > 0),
                              key=lambda x: (x[0], -x[1].pos))
        return best


def build_index(text: str) -> Index:
    """Index every sentence of ``text``; headings are sentences too, flagged as such."""
    out: list[Sentence] = []
    stack: list[tuple[Line, frozenset[str]]] = []
    for line in parse_lines(text):
        structural = line.rank != TEXT_RANK
        if structural:
            while stack and stack[-1][0].rank >= line.rank:
                stack.pop()
        near = stack[:1] + stack[1:][-2:]
        context = " \u203a ".join(item[0].text for item in near)
        context_stems = frozenset().union(*(item[1] for item in near))
        for piece in sentences_of(line.text):
            out.append(Sentence(piece, line.text, context, len(out),
                                line.rank < HEADING_MAX_RANK, stems(piece), context_stems))
        if structural:
            stack.append((line, stems(line.text)))
    return Index(out)


def summary_keys(summary: str) -> set[str]:
    """The sentences of a topic summary, case-folded, to recognise them in the material."""
    return {s.casefold() for line in parse_lines(summary) for s in sentences_of(line.text)}


def about(index: Index, topic: str, summary: str = "", limit: int = 30) -> list[Sentence]:
    """Sentences about ``topic``, best first. A summary that matches two or more sentences
    is the topic's material, and only those are returned. Otherwise: the summary's
    sentence, then those matched by the topic's stems (heading context counts half)
    scoring at least a third of the best match, so one shared common word does not drag
    in another unit."""
    in_summary = summary_keys(summary)
    q = query(topic)
    scored = [(index.score(q, s), s.text.casefold() in in_summary, s) for s in index.sentences]
    own = [(raw, s) for raw, mine, s in scored if mine]
    if len(own) >= 2:  # the summary is the topic's material: nothing else is about it
        return [s for _, s in heapq.nlargest(limit, own, key=lambda x: (x[0], -x[1].pos))]
    floor = max((raw for raw, _, _ in scored), default=0.0) / 3
    kept = [(raw + (2 * index.max_idf if mine else 0.0), s) for raw, mine, s in scored
            if mine or (raw > 0 and raw >= floor)]
    return [s for _, s in heapq.nlargest(limit, kept, key=lambda x: (x[0], -x[1].pos))]
