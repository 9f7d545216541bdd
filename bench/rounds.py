"""Alternating rounds and the statistics every figure is reported with.

A measurement is taken in rounds; within a round each subject runs once, in a fixed order
(A, B, C, A, B, C, ...), so a slow spell on the shared machine hits every subject rather
than one. A figure is the median of its rounds. A ratio is the median of the per-round
ratios (subject ÷ baseline within the same round): pairing cancels most of the drift
between rounds that the ratio of two medians would keep.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

T = TypeVar("T")
Sample = Mapping[str, float]


def alternate(rounds: int, subjects: Sequence[str],
              measure: Callable[[int, str], T]) -> dict[str, list[T]]:
    """``measure(round, subject)`` for every round, subjects in order within each round."""
    taken: dict[str, list[T]] = {subject: [] for subject in subjects}
    for r in range(rounds):
        for subject in subjects:
            taken[subject].append(measure(r, subject))
    return taken


def medians(samples: Sequence[Sample]) -> dict[str, float]:
    keys = samples[0].keys() if samples else ()
    return {k: statistics.median(s[k] for s in samples) for k in keys}


def paired_ratio(subject: Sequence[Sample], baseline: Sequence[Sample], key: str) -> float:
    """Median over rounds of subject[key] / baseline[key] (rounds paired by index)."""
    ratios = [s[key] / b[key] for s, b in zip(subject, baseline, strict=True) if b[key]]
    return statistics.median(ratios) if ratios else float("nan")


def paired_ratios(subject: Sequence[Sample], baseline: Sequence[Sample],
                  keys: Sequence[str]) -> dict[str, float]:
    return {k: paired_ratio(subject, baseline, k) for k in keys}
