"""Terms of the material: short list segments and runs of up to three content words,
and the most specific one of a sentence (rare words, lists and labels first)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from agents.offline.index import Index
from agents.offline.text import is_content, stems

_VERBISH = frozenset("""
include includes including involve involves involving use uses used using make makes made
form forms formed forming call called known explain explains describe describes understand
learn learning student students able key basic main important different various example
examples help helps allow allows produce produces occur occurs contain contains provide
provides become becomes take takes give gives show shows see work works get gets need
needs based way ways many much one two three first second new well like just cover covers
move moves lower lowers break breaks convert converts fix fixes store stores point points
find finds follow follows explore explores divide divides pick picks serve serves happen
happens increase increases decrease decreases create creates cause causes require requires
""".split())
_VAGUE = frozenset("""
time times thing things case cases kind kinds type types level levels number numbers result
results order possible general specific similar simple common large small high low fast
slow good bad same whole nearly constant certain negative positive
""".split())
_TERM_SPLIT = re.compile(r"[,;:()\[\]{}\"“”!?…|/=+]|\s[-\u2013—]\s|\.(?=\s|$)")
_EDGE = " .'\"*_`\u2019\u2018“”-\u2013—"
_JOINERS = frozenset({"of", "and", "or", "the", "a", "an", "in", "on", "&"})


def specific(text: str, listed: bool) -> bool:
    """A one-word term must look technical: listed, capitalised, or long, and not vague."""
    if " " in text:
        return True
    return text.lower() not in _VAGUE and (listed or not text.islower() or len(text) >= 7)


def _termy(word: str) -> bool:
    return (len(word) <= 40 and is_content(word) and word.lower() not in _VERBISH
            and any(c.isalpha() for c in word) and (len(word) >= 3 or word.isupper()))


def _segment_words(segment: str) -> list[str]:
    """The words of a segment without outer punctuation, vague words off both ends."""
    ws = [w.strip(_EDGE) for w in segment.split()]
    ws = [w for w in ws if w]
    while ws and ws[0].lower() in _VAGUE:
        ws = ws[1:]
    while ws and ws[-1].lower() in _VAGUE:
        ws = ws[:-1]
    return ws


def _is_item(ws: list[str]) -> bool:
    """A short segment of terms and joiners, starting and ending with a term."""
    return len(ws) <= 4 and all(_termy(w) or w.lower() in _JOINERS for w in ws) and \
        _termy(ws[0]) and _termy(ws[-1])


def _runs(ws: list[str]) -> Iterator[str]:
    """Runs of term words, vague words off the end, at most the last three words."""
    run: list[str] = []
    for w in [*ws, ""]:
        if w and _termy(w):
            run.append(w)
        elif run:
            while run and run[-1].lower() in _VAGUE:
                run.pop()
            if run:
                yield " ".join(run[-3:])
            run = []


def terms_in(text: str) -> list[tuple[str, bool]]:
    """Candidate terms of a sentence: short list segments (flagged) and runs of content
    words (at most the last three, where English puts the head noun)."""
    out: list[tuple[str, bool]] = []
    for segment in _TERM_SPLIT.split(text):
        ws = _segment_words(segment)
        if ws and _is_item(ws):
            out.append((" ".join(ws), True))
        out.extend((run, False) for run in _runs(ws))
    return out


def key_phrase(index: Index, text: str, avoid: frozenset[str] = frozenset()) -> str:
    """The most specific term of ``text`` (rare words, lists and labels first)."""
    best, best_score = "", 0.0
    for term, listed in terms_in(text):
        st = stems(term) - avoid
        if st and specific(term, listed):
            value = sum(index.weight(t) for t in st) / len(st) * (1.3 if listed else 1.0)
            value *= 1.3 if len(st) > 1 else 1.0
            if value > best_score:
                best, best_score = term, value
    return best
