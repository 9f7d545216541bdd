"""The material seen from one topic: who owns each sentence, and a pool of terms.

Every sentence gets an *owner*: the topic (the quiz topic or one of ``other_topics``)
whose words it shares most, heading context included; sentences of the topic's summary
belong to the topic. Terms (short list items and bullet labels, runs of up to three
content words) are collected with the line they came from and the owners of the
sentences they appear in. Distractors are picked from the pool: first of similar length,
then owned by another topic ("Confuses A with B"), then unowned, then owned by the topic
itself (a harder question), and only then other topic names.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Sequence
from dataclasses import dataclass

from agents.offline.index import Sentence, build_index, summary_keys
from agents.offline.terms import specific, terms_in
from agents.offline.text import query, stems

SCAN = 200  # sentences tried per question kind: keeps huge material fast


@dataclass(frozen=True)
class Term:
    """A term of the material, where it was first seen, and who owns its sentences."""

    text: str
    stems: frozenset[str]
    source: str
    sentence: str
    pos: int
    owners: frozenset[int]  # -1 nobody, 0 the topic, k other_topics[k - 1]
    score: float
    topic_name: bool = False


class Bank:
    """The material seen from one topic: sentence owners and a pool of terms."""

    def __init__(self, topic: str, summary: str, material: str, others: Sequence[str]) -> None:
        self.topic = topic
        self.others = [o for o in others if o.casefold() != topic.casefold()][:20]
        self.index = build_index(material)
        if not self.index.sentences:
            self.index = build_index(summary)
        self.topic_stems = stems(topic)
        self.owner, self.example = self._owners(summary_keys(summary))
        self.by_text = self._terms()
        self.pool = self._pool()

    def _owners(self, in_summary: set[str]) -> tuple[dict[int, int], dict[int, str]]:
        """Who owns each sentence. A summary that matches two or more sentences is taken
        as the topic's whole material; other sentences go to the best-matching topic,
        heading context counting in full (a bullet belongs to its unit)."""
        queries = [query(n) for n in [self.topic, *self.others]]
        mine = {s.pos for s in self.index.sentences if s.text.casefold() in in_summary}
        owner: dict[int, int] = {}
        example: dict[int, str] = {}
        for s in self.index.sentences:
            scores = [self.index.score(q, s, context=1.0) for q in queries]
            if len(mine) >= 2 or s.pos in mine:
                scores[0] = 1e9 if s.pos in mine else 0.0
            best = max(scores)
            owner[s.pos] = scores.index(best) if best > 0 else -1
        for s in sorted(self.index.sentences, key=lambda s: s.heading):  # prose first
            example.setdefault(owner[s.pos], s.line)
        return owner, example

    def _terms(self) -> dict[str, Term]:
        found: dict[str, tuple[str, set[int], Sentence, bool]] = {}
        prose = [s for s in self.index.sentences if not s.heading]
        for s in prose if len(prose) >= 5 else self.index.sentences:
            for text, listed in terms_in(s.text):
                if not specific(text, listed):
                    continue
                entry = found.setdefault(text.casefold(), (text, set(), s, listed))
                entry[1].add(self.owner[s.pos])
        out = {}
        for folded, (text, owners, s, listed) in found.items():
            st = stems(text)
            if st:
                value = sum(self.index.weight(t) for t in st) / len(st)
                value *= (1.3 if len(st) > 1 else 1.0) * (1.3 if listed else 1.0)
                out[folded] = Term(text, st, s.line, s.text, s.pos, frozenset(owners), value)
        return out

    def _pool(self) -> list[Term]:
        """Distractor candidates: the best 300 terms of each tier, then the other topics."""
        ranked = sorted(self.by_text.values(), key=lambda t: (-t.score, t.pos))
        pool = [t for tier in (0, 1, 2) for t in [t for t in ranked if self.tier(t) == tier][:300]]
        names = [Term(name, stems(name), self.example.get(k + 1, f"Your plan lists {name}."),
                      "", 10**9 + k, frozenset({k + 1}), 0.0, topic_name=True)
                 for k, name in enumerate(self.others) if stems(name)]
        return pool + names

    def tier(self, t: Term) -> int:
        """0: another topic's term; 1: nobody's; 2: this topic's own; 3: a topic name."""
        if t.topic_name:
            return 3
        if 0 in t.owners:
            return 2
        return 0 if any(o > 0 for o in t.owners) else 1

    def confusion(self, t: Term, key: str) -> str:
        """What picking ``t`` instead of ``key`` suggests."""
        tier = self.tier(t)
        if tier in (0, 3):
            other = self.others[min(o for o in t.owners if o > 0) - 1]
            return f"Confuses {self.topic} with {other}"
        if tier == 1:
            return f"Confuses “{key}” with “{t.text}”, a term your notes use elsewhere"
        return f"Mixes up two parts of {self.topic}: “{key}” and “{t.text}”"

    def pick(self, key: str, key_stems: frozenset[str], prompt: str, n: int = 3,
             tiers: Sequence[int] = (0, 1, 2, 3)) -> list[Term]:
        """Up to ``n`` distractors for ``key``: similar length first, then by tier; none
        shares a stem with the key or another pick, none appears in the prompt."""
        size, count, low = len(key), len(key.split()), prompt.casefold()

        def rank(t: Term) -> tuple[bool, int, int, int, int]:
            similar = 0.67 * size <= len(t.text) <= 1.5 * size
            return (not similar, self.tier(t), abs(len(t.text.split()) - count),
                    abs(len(t.text) - size), t.pos)

        candidates = (t for t in self.pool if self.tier(t) in tiers
                      and not t.stems & key_stems and t.text.casefold() not in low)
        chosen: list[Term] = []
        seen = set(key_stems)
        for t in heapq.nsmallest(60, candidates, key=rank):
            if not t.stems & seen:
                chosen.append(t)
                seen |= t.stems
                if len(chosen) == n:
                    break
        return chosen

    def own(self) -> list[Sentence]:
        """The topic's sentences (else nobody's, else all), prose before headings."""
        sentences = self.index.sentences
        mine = ([s for s in sentences if self.owner[s.pos] == 0]
                or [s for s in sentences if self.owner[s.pos] == -1] or sentences)
        return sorted(mine, key=lambda s: (s.heading, s.pos))[:SCAN]

    def keys_in(self, s: Sentence) -> list[Term]:
        """Terms of ``s`` worth blanking, best first (not just the topic's own words)."""
        found = [self.by_text.get(text.casefold()) for text, _ in terms_in(s.text)]
        keys = {t.text: t for t in found if t and not t.stems <= self.topic_stems}
        return sorted(keys.values(), key=lambda t: -t.score)[:3]

    def find(self, phrase: str, hint: str = "") -> Sentence | None:
        """The sentence that holds ``phrase`` (closest to ``hint``), else the best match."""
        if not stems(phrase):
            return None
        pattern = re.compile(r"(?<!\w)" + re.escape(phrase) + r"(?!\w)", re.IGNORECASE)
        hits = [s for s in self.index.sentences if pattern.search(s.text)]
        near = stems(hint)
        if hits:
            return max(hits, key=lambda s: (not s.heading, len(s.stems & near), -s.pos))
        ranked = self.index.rank(query(phrase), 1)
        return ranked[0][1] if ranked else None
