"""One multiple-choice question: a blanked line, a fairness check, and the key put at a
slot hashed from the prompt (deterministic, yet spread over the options)."""

from __future__ import annotations

import hashlib
import re
import statistics
from collections.abc import Sequence

from agents.models import Distractor, Question
from agents.offline.text import clip

BLANK = "_____"

Wrong = tuple[str, str, str]  # option text, confusion, source line


def blank(text: str, term: str) -> str | None:
    """``text`` with every whole-word occurrence of ``term`` replaced by a blank."""
    pattern = re.compile(r"(?<!\w)" + re.escape(term) + r"(?!\w)", re.IGNORECASE)
    out, n = pattern.subn(BLANK, text)
    return out if n else None


def fair(key: str, wrong: Sequence[str]) -> bool:
    """Options are distinct (case-insensitively) and the key is not the giveaway by length."""
    texts = [key, *wrong]
    folded = {" ".join(t.casefold().split()) for t in texts}
    if not wrong or len(texts) > 6 or "" in folded or len(folded) != len(texts):
        return False
    return len(key) <= 1.5 * statistics.median(len(w) for w in wrong)


def _slot(prompt: str, n: int) -> int:
    return int(hashlib.sha256(prompt.encode("utf-8", "replace")).hexdigest()[:8], 16) % n


def make_question(prompt: str, key: str, wrong: Sequence[Wrong], difficulty: str,
                  concept: str, explanation: str, need: int = 1) -> Question | None:
    """A question with the key at a slot hashed from the prompt. If the key stands out by
    length, the shortest distractors are dropped while ``need`` remain; else ``None``."""
    wrong = list(wrong)
    while len(wrong) > need and not fair(key, [w[0] for w in wrong]):
        wrong.remove(min(wrong, key=lambda w: len(w[0])))
    if not fair(key, [w[0] for w in wrong]):
        return None
    slot = _slot(prompt, len(wrong) + 1)
    options = [w[0] for w in wrong]
    options.insert(slot, key)
    tags = [Distractor(option_index=i if i < slot else i + 1, confusion=c, source=clip(src, 300))
            for i, (_, c, src) in enumerate(wrong)]
    return Question(prompt=clip(prompt, 2000), options=options, correct_index=slot,
                    difficulty=difficulty, concept_tested=clip(concept, 200) or key,  # type: ignore[arg-type]
                    explanation=explanation, distractors=tags)
