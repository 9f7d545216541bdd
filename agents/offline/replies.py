"""TutorReply: an answer to the student's question, quoted from the material.

Sentences are ranked by TF-IDF overlap with the question (and, more lightly, the topic);
a follow-up ("more", "why", "give me an example") also searches the last real question,
and sentences already quoted in the conversation are not quoted again. When the notes do
not cover the question, the reply says so.
"""

from __future__ import annotations

import re
from typing import Any

from agents.models import TutorReply
from agents.offline.index import Sentence, build_index
from agents.offline.payload import read_name, read_text
from agents.offline.text import EXAMPLE_CUE, clip, normalize, query, stem, stems, surface

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
    close.sort(key=lambda x: (wants_example and not EXAMPLE_CUE.search(x[1].text), -x[0],
                              x[1].pos))
    return [s for _, s in close[:3]]


def _lead(topic: str, message: str, asked: frozenset[str], covered: set[str]) -> str:
    missing = surface(asked - covered, [message])
    if asked and not covered:
        return (f"Your material doesn't cover “{clip(message, 200)}” directly. "
                f"The closest it says on {topic}:")
    if missing:
        return f"Your notes don't mention {missing}. The closest they say on {topic}:"
    return f"From your notes on {topic}:"


def chat(doc: dict[str, Any]) -> TutorReply:
    """Answer from the best-matching sentences; say so when the notes do not cover it."""
    topic = read_name(doc, "topic", "this topic")
    message = " ".join(read_text(doc, "message").split())
    history = _history(doc)
    index = build_index(read_text(doc, "material"))
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
