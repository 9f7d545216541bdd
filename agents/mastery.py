"""Per-topic mastery with Bayesian Knowledge Tracing (Corbett & Anderson, 1994).

For each graded answer, with P(L) the probability the skill is known:

    P(L | right) = P(L)(1 - S) / (P(L)(1 - S) + (1 - P(L)) G)
    P(L | wrong) = P(L) S       / (P(L) S       + (1 - P(L)) (1 - G))
    P(L next)    = P(L | obs) + (1 - P(L | obs)) T

with G = guess, S = slip, T = learn. Mastery shown to students is round(100 P(L)).
Pure functions: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class BktParams:
    prior: float = 0.2
    learn: float = 0.15
    guess: float = 0.25
    slip: float = 0.1


def update(p_known: float, correct: bool, params: BktParams) -> float:
    """P(L) after one graded answer."""
    if correct:
        evidence = p_known * (1 - params.slip)
        posterior = evidence / (evidence + (1 - p_known) * params.guess)
    else:
        evidence = p_known * params.slip
        posterior = evidence / (evidence + (1 - p_known) * (1 - params.guess))
    return posterior + (1 - posterior) * params.learn


def trace(p_known: float | None, answers: Iterable[bool], params: BktParams) -> float:
    """P(L) after a sequence of graded answers, starting from the prior if unknown."""
    p = params.prior if p_known is None else p_known
    for correct in answers:
        p = update(p, correct, params)
    return p


def score(p_known: float) -> int:
    return max(0, min(100, round(100 * p_known)))


def status(mastery_score: int, attempts: int, threshold: int) -> str:
    """Topic status that follows mastery: pending → in_progress → needs_review | mastered."""
    if attempts == 0:
        return "in_progress"
    return "mastered" if mastery_score >= threshold else "needs_review"
