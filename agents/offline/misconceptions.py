"""MisconceptionAnalysis: why the student picked a wrong option, and a second chance.

The chosen option is explained from the line of the notes it came from (its distractor
tag, else the line that holds it), against the line the key came from. The redemption
question retests the same key in another line when it can (:func:`redemption`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from agents.models import MisconceptionAnalysis, Question
from agents.offline.bank import SCAN, Bank
from agents.offline.index import Sentence
from agents.offline.payload import as_int
from agents.offline.questions import Wrong
from agents.offline.quizzes import cloze, collect, true_false
from agents.offline.text import clip, is_content, normalize, stem, stems, words


def _one_line(value: object) -> str:
    return " ".join(normalize(value).split())


@dataclass(frozen=True)
class Answered:
    """The question as the student saw it, read leniently from its JSON document."""

    prompt: str
    options: list[str]
    correct: int
    concept: str
    tags: dict[int, tuple[str, str]]  # option index -> (confusion, source)

    @classmethod
    def read(cls, doc: object) -> Answered:
        """Whatever is usable in ``doc``; missing or malformed fields read as empty."""
        d = doc if isinstance(doc, dict) else {}
        raw = d.get("options")
        options = [_one_line(o) for o in raw] if isinstance(raw, list) else []
        tags = {}
        for item in d.get("distractors") or []:
            if isinstance(item, dict):
                tags[as_int(item.get("option_index"), -1)] = (
                    _one_line(item.get("confusion")), _one_line(item.get("source")))
        return cls(_one_line(d.get("prompt")), options, as_int(d.get("correct_index"), -1),
                   _one_line(d.get("concept_tested")), tags)

    def option(self, i: int) -> str:
        """Option ``i``, or ``""`` when out of range."""
        return self.options[i] if 0 <= i < len(self.options) else ""


def _different_words(a: str, b: str, avoid: frozenset[str]) -> str:
    other = stems(b) | avoid
    found = dict.fromkeys(w for w in words(a) if is_content(w) and stem(w) not in other)
    return ", ".join(list(found)[:4])


def _quoted_line(bank: Bank, q: Answered, key: str) -> Sentence | None:
    """The material line the question was built from: the one the prompt quotes (most of
    its words are in the quote), else the line that holds the key."""
    quote = re.search(r"“(.*)”", q.prompt)
    near = stems(quote.group(1)) if quote else frozenset()
    best = max(bank.index.sentences, default=None,
               key=lambda s: (len(s.stems & near) / max(1, len(s.stems)), len(s.stems), -s.pos))
    if best and near and len(best.stems & near) >= 0.6 * len(best.stems):
        return best
    return bank.find(key, q.prompt)


def _explain(picked: str, key: str, concept: str, confusion: str, key_text: str,
             source: str) -> str:
    avoid = stems(key) | stems(picked)
    mine, theirs = _different_words(key_text, source, avoid), _different_words(
        source, key_text, avoid)
    text = f"You picked “{picked}” on a question about {concept}. {confusion}."
    if mine:
        text += f" In your notes “{key}” goes with {mine}"
        text += f", while “{picked}” goes with {theirs}." if source and theirs else "."
    return text + f" Re-read: “{key_text}”"


def _counter(picked: str, key: str, source: str, key_text: str) -> str:
    counter = (f"“{picked}” comes from another line of your notes: “{clip(source, 400)}” "
               if source else f"Your notes never tie “{picked}” to this question. ")
    return counter + f"The answer “{key}” comes from: “{key_text}”"


def analyse(topic: str, material: str, question: object, chosen: int) -> MisconceptionAnalysis:
    """Explain the chosen option from the line it came from, against the key's line."""
    q = Answered.read(question)
    key, picked = q.option(q.correct), q.option(chosen)
    confusion, source = q.tags.get(chosen, ("", ""))
    text = material if stems(material) else "\n".join(
        [q.prompt, *(src for _, src in q.tags.values())])
    others = [o for o in q.options if o != key] if key.casefold() == topic.casefold() else []
    bank = Bank(topic, "", text, others)
    key_line = _quoted_line(bank, q, key)
    key_text = clip(key_line.text if key_line else q.prompt, 600)
    if not source and (found := bank.find(picked, q.prompt)) and found is not key_line:
        source = found.line
    concept = q.concept or key or topic
    if chosen == q.correct and key:
        confusion = "None: this option is the correct answer"
    confusion = (confusion or f"Confuses “{key}” with “{picked}”").rstrip(". ")
    return MisconceptionAnalysis(
        wrong_option_chosen=picked, inferred_confusion=confusion,
        counter_example=_counter(picked, key, source, key_text),
        explanation=_explain(picked, key, concept, confusion, key_text, source),
        redemption_question=redemption(bank, q, (picked, confusion, source), key, concept))


# --- the redemption question -----------------------------------------------------------


def _second_cloze(bank: Bank, q: Answered, picked: Wrong, key: str,
                  concept: str) -> Question | None:
    """The key blanked out of a line of the notes, the confused option among the
    distractors when that stays fair; lines unlike the original prompt first."""
    key_stems = stems(key)
    if not key_stems or key.casefold() == bank.topic.casefold():
        return None
    forced = [picked] if picked[0] and not stems(picked[0]) & key_stems else []
    pattern = re.compile(r"(?<!\w)" + re.escape(key) + r"(?!\w)", re.IGNORECASE)
    near = stems(q.prompt)
    lines = sorted((s for s in bank.index.sentences[:20 * SCAN] if pattern.search(s.text)),
                   key=lambda s: (s.heading, len(s.stems & near), s.pos))
    framing = f"Second chance on {concept}: fill in the blank"
    for s in lines[:SCAN]:
        for extra in (forced, []):
            made = cloze(bank, s, key, key_stems, framing, 1, extra)
            if made and made.prompt.casefold() != q.prompt.casefold():
                return made.model_copy(update={"concept_tested": clip(concept, 200)})
    return None


def redemption(bank: Bank, q: Answered, picked: Wrong, key: str, concept: str) -> Question:
    """A new question on the same concept, never the original prompt: a second cloze on
    the key, else a question of the topic with the same key, else one sharing its words,
    else any, else a true/false quote."""
    if made := _second_cloze(bank, q, picked, key, concept):
        return made
    candidates = collect(bank, 8, 1, {q.prompt.casefold()})
    wanted = stems(key) | stems(concept)

    def closeness(c: Question) -> tuple[bool, bool]:
        answer = c.options[c.correct_index]
        return (answer.casefold() != key.casefold(), not stems(answer) & wanted)

    return min(candidates, key=closeness, default=None) or true_false(bank, q.prompt)
