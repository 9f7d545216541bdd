"""Text tools of the offline model: clean text, words and stems, and sentences.

Stemming is a light suffix stripper, enough to match "cells"/"cell" and
"dividing"/"divide". Sentences end at ``.!?…`` (and their CJK forms) except after an
abbreviation such as "e.g." or before a lower-case word. Everything is pure,
deterministic and linear in the size of the text.
"""

from __future__ import annotations

import re
import unicodedata

STOPWORDS = frozenset("""
a about above after again against all also am among an and any are as at be because been
before being below between both but by can could did do does doing down during each either
etc few for from further had has have having he her here hers him his how i if in into is
it its itself just may me might more most must my no nor not of off on once only or other
our out over own per same she should so some such than that the their them then there
these they this those through to too under until up upon us very via was we were what when
where which while who whom whose why will with within without would yet you your
unit units chapter chapters module modules week weeks part section lesson lecture topic
topics day session block theme term
""".split())

WORD = re.compile(r"[^\W_]+(?:['\u2019\-][^\W_]+)*")
EXAMPLE_CUE = re.compile(r"\b(?:for example|for instance|e\.g\.|such as|including|like)\s", re.I)
_NEWLINES = re.compile("[\u2028\u2029\x0b\x0c\x85]")
_CONTROL = re.compile("[\x00-\x08\x0e-\x1f\x7f\u200b-\u200f\ufeff]")
_EMPHASIS = re.compile(r"\*\*|__|`|~~|^\[[ xX]\]\s*")
_LABEL = re.compile(r"\s*(?::|\s[-\u2013—]\s)\s*")
_BOUNDARY = re.compile(r"([.!?…]+[\"'”\u2019)\]]*)\s+|([。\uff01\uff1f]+)\s*")
_ABBREVIATIONS = frozenset(
    "e.g i.e etc vs cf fig figs eq dr mr mrs ms prof approx no st al ca".split())


def normalize(value: object) -> str:
    """Any payload value as clean text: NFC, ``\\n`` newlines, no controls or surrogates."""
    text = value if isinstance(value, str) else ("" if value is None else str(value))
    text = text.encode("utf-8", "replace").decode("utf-8")
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", _NEWLINES.sub("\n", text))
    return text.replace("\t", "    ").replace("\u00a0", " ")


def clean(text: str) -> str:
    """One line without markdown emphasis, outer punctuation or repeated spaces."""
    text = " ".join(_EMPHASIS.sub("", text).split())
    return text.strip(" :;,-\u2013—|>*#").strip()


def clip(text: str, limit: int) -> str:
    """``text`` cut at a word boundary to at most ``limit`` characters."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut).rstrip(" ,;:") + "…"


def words(text: str) -> list[str]:
    """The words of ``text``, as written."""
    return WORD.findall(text)


def stem(word: str) -> str:
    """A light stem: plural, -ing, -ed, -ation, -ment, -ness, -ly off, then a final e."""
    w = word.lower().replace("\u2019", "'")
    if len(w) <= 3:
        return w
    if w.endswith("ies") and len(w) > 4:
        return w[:-3] + "y"
    for suffix in ("ations", "ation", "ings", "ing", "ments", "ment", "ness", "ed", "ly"):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            w = w[: -len(suffix)]
            break
    else:
        if w.endswith(("sses", "xes", "ches", "shes", "zes")):
            w = w[:-2]
        elif w.endswith("s") and not w.endswith(("ss", "us", "is")):
            w = w[:-1]
    return w[:-1] if w.endswith("e") and len(w) > 3 else w


def is_content(word: str) -> bool:
    """A word that carries meaning: not a stopword, not a bare number."""
    low = word.lower()
    return len(low) > 1 and low not in STOPWORDS and not low.replace("'", "").isdigit()


def stems(text: str) -> frozenset[str]:
    """The stems of the content words of ``text``."""
    return frozenset(stem(w) for w in words(text) if is_content(w))


def query(text: str, weight: float = 1.0) -> dict[str, float]:
    """A search query: each content stem of ``text`` with ``weight``."""
    return dict.fromkeys(sorted(stems(text)), weight)


def surface(wanted: frozenset[str], texts: list[str], limit: int = 4) -> str:
    """Words of ``texts`` whose stems are ``wanted``, as first written, one per stem."""
    seen: dict[str, str] = {}
    for w in (w for t in texts for w in words(t)):
        if (key := stem(w)) in wanted:
            seen.setdefault(key, w)
    return ", ".join(list(seen.values())[:limit])


def label_of(text: str) -> str:
    """The label of a "Label: details" line (at most six words), else ``""``."""
    head = _LABEL.split(text, maxsplit=1)[0]
    return head if head != text and len(head.split()) <= 6 and stems(head) else ""


# --- sentences -------------------------------------------------------------------------


def _abbreviation_before(text: str, end: int) -> bool:
    start = max(text.rfind(" ", 0, end), text.rfind("\n", 0, end)) + 1
    word = text[start:end].lower().lstrip("(\"'“\u2018")
    return word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha())


def _chunks(sentence: str, limit: int = 500) -> list[str]:
    if len(sentence) <= limit:
        return [sentence]
    out, current = [], ""
    for word in sentence.split(" "):
        if current and len(current) + len(word) >= limit:
            out.append(current)
            current = ""
        current = f"{current} {word}" if current else word
    return [*out, current] if current else out


def sentences_of(text: str) -> list[str]:
    """Sentences of one line or paragraph (abbreviations such as "e.g." do not end one;
    runaway sentences are cut into ~500-character pieces)."""
    out, start = [], 0
    for m in _BOUNDARY.finditer(text):
        if m.group(1):
            following = text[m.end(): m.end() + 1]
            if following.islower() or _abbreviation_before(text, m.start(1)):
                continue
        end = m.end(1) if m.group(1) else m.end(2)
        out.append(text[start:end].strip())
        start = m.end()
    out.append(text[start:].strip())
    return [c for s in out if s for c in _chunks(s)]
