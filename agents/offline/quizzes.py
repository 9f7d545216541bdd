"""Quiz: questions on one topic from the student's own material.

Three kinds of question, interleaved: a *cloze* (a sentence owned by the topic with a key
term blanked out), *part of* ("Which of these belongs to <topic>?", the key a term only
the topic uses) and *which topic* (a line of the topic, its options the topic names).
Distractors come from the :class:`~agents.offline.bank.Bank`. A question is kept only if
it is *fair* (:func:`~agents.offline.questions.fair`): distinct options, and a key no
longer than 1.5x the median distractor. Thin material degrades to fewer options, then to
a true/false statement quoted from the notes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from agents.models import Question, Quiz
from agents.offline.bank import Bank
from agents.offline.index import Sentence
from agents.offline.questions import BLANK, Wrong, blank, make_question
from agents.offline.text import WORD, clip, stem, stems, words

_PART_OF = ("Which of these belongs to {} in your notes?",
            "Which of these do your notes list under {}?",
            "Which term comes from your notes on {}?")


def cloze(bank: Bank, s: Sentence, key: str, key_stems: frozenset[str], framing: str,
          need: int, forced: Sequence[Wrong] = ()) -> Question | None:
    """Blank ``key`` out of ``s``; distractors from the bank after any ``forced`` ones."""
    blanked = blank(s.text, key)
    if blanked is None or stems(blanked) & key_stems or len(words(blanked)) < 4:
        return None
    prompt = f"{framing}: “{clip(blanked, 600)}”"
    if BLANK not in prompt:
        return None
    taken = " ".join(f[0] for f in forced)
    picks = bank.pick(key, key_stems | stems(taken), f"{prompt} {taken}", 3 - len(forced))
    wrong = [*forced, *((t.text, bank.confusion(t, key), t.source) for t in picks)]
    if len(wrong) < need:
        return None
    hard = len(key_stems) > 1 or any(bank.tier(t) == 2 for t in picks)
    return make_question(prompt, key, wrong, "hard" if hard else "medium", key,
                         f"Your notes: “{clip(s.text, 600)}” The missing term is “{key}”.",
                         need)


def _clozes(bank: Bank, need: int) -> Iterator[Question]:
    for s in bank.own():
        on = f" on {bank.topic}" if bank.owner[s.pos] == 0 else ""  # honest when off-topic
        for key in bank.keys_in(s):
            if q := cloze(bank, s, key.text, key.stems, f"Complete this line from your notes{on}",
                          need):
                yield q
                break


def _part_of(bank: Bank, need: int) -> Iterator[Question]:
    keys = [t for t in bank.pool if t.owners == {0} and not t.stems <= bank.topic_stems]
    made = misses = 0
    for key in keys:
        if made == len(_PART_OF) or misses > 5:
            return
        prompt = _PART_OF[made].format(bank.topic)
        picks = bank.pick(key.text, key.stems, prompt, 3, tiers=(0,))
        wrong = [(t.text, bank.confusion(t, key.text), t.source) for t in picks]
        q = None if len(wrong) < need else make_question(
            prompt, key.text, wrong, "medium", bank.topic,
            f"Your notes on {bank.topic}: “{clip(key.sentence, 600)}” The other options "
            "come from other topics.", need)
        made, misses = (made + 1, misses) if q else (made, misses + 1)
        if q:
            yield q


def _mask(text: str, hidden: frozenset[str]) -> str:
    masked = WORD.sub(lambda m: "…" if stem(m.group()) in hidden else m.group(), text)
    return re.sub(r"…(\s*…)+", "…", masked)


def _other_names(bank: Bank) -> list[Wrong]:
    """Up to three other topic names as wrong options: similar length, then shared words."""
    size = len(bank.topic)
    names = sorted((o for o in bank.others if stems(o) != bank.topic_stems),
                   key=lambda o: (not 0.67 * size <= len(o) <= 1.5 * size,
                                  -len(stems(o) & bank.topic_stems)))
    return [(o, f"Confuses {bank.topic} with {o}",
             bank.example.get(bank.others.index(o) + 1, f"Your plan lists {o}."))
            for o in names[:3]]


def _which_topic(bank: Bank, need: int) -> Iterator[Question]:
    wrong = _other_names(bank)
    if len(wrong) < need:
        return
    made = 0
    for s in bank.own():
        masked = _mask(s.text, bank.topic_stems)
        named = any(stems(w[0]) <= s.stems for w in wrong)  # the line names a distractor
        if s.heading or named or bank.owner[s.pos] != 0 or len(stems(masked)) < 3:
            continue
        prompt = f"Which topic does this line from your notes describe: “{clip(masked, 600)}”"
        if q := make_question(prompt, bank.topic, wrong, "easy", bank.topic,
                              f"Your notes put this under {bank.topic}: “{clip(s.text, 600)}”",
                              need):
            yield q
            made += 1
            if made == 2:
                return


def _key_mark(q: Question) -> str:
    return "key\x00" + q.options[q.correct_index].casefold()


def collect(bank: Bank, count: int, need: int, seen: set[str]) -> list[Question]:
    """Up to ``count`` questions, interleaving cloze, part-of, cloze, which-topic; no
    prompt and no key twice (``seen`` holds the prompts and keys already used)."""
    streams = [_clozes(bank, need), _part_of(bank, need), _which_topic(bank, need)]
    out: list[Question] = []
    dead: set[int] = set()
    while len(out) < count and len(dead) < len(streams):
        for i in (0, 1, 0, 2):
            if i in dead or len(out) == count:
                continue
            q = next(streams[i], None)
            if q is None:
                dead.add(i)
            elif not {q.prompt.casefold(), _key_mark(q)} & seen:
                seen |= {q.prompt.casefold(), _key_mark(q)}
                out.append(q)
    return out


def true_false(bank: Bank, avoid: str = "") -> Question:
    """The last resort: a statement quoted from the notes (or the plan) is true."""
    own = bank.own()
    s = own[0] if own else None
    statement = clip(s.text, 600) if s else f"“{bank.topic}” is a topic of your study plan."
    prompt = f"True or false? Your notes on {bank.topic} say: “{statement}”"
    if prompt.casefold() == avoid.casefold():
        prompt = f"Once more — {prompt}"
    q = make_question(prompt, "True", [("False", "Doubts a statement taken from the notes",
                                        s.line if s else "")],
                      "easy", bank.topic, f"This is quoted from your notes: {statement}")
    assert q is not None  # "True" vs "False" is always fair
    return q


def quiz(topic: str, summary: str, material: str, others: Sequence[str], count: int) -> Quiz:
    """``count`` questions on ``topic`` (four options where the material allows)."""
    bank = Bank(topic, summary, material, others)
    seen: set[str] = set()
    questions = collect(bank, count, 3, seen)
    if len(questions) < count:
        questions += collect(bank, count - len(questions), 1, seen)
    questions = questions or [true_false(bank)]
    return Quiz(topic=topic, questions=questions,
                time_estimate_minutes=max(1, min(120, round(1.5 * len(questions)))))
