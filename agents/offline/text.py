"""Text tools of the offline model: clean text, words and stems, the outline of a
syllabus, sentences, and a small TF-IDF index over sentences.

Approach. A syllabus is read line by line. Each line is classified (markdown heading,
"Unit 3:"-style keyword heading, ALL-CAPS or colon-ending heading, numbered line, bullet,
or plain text) and given a *rank*: smaller ranks sit higher in the outline, and a stack
turns ranks into a tree (:func:`outline`). Sentences keep the titles of their nearest
ancestors as context, so a bullet "phospholipid bilayer" under "Cell membranes" is found
by a question about membranes (:func:`build_index`). Stemming is a light suffix
stripper, enough to match "cells"/"cell" and "dividing"/"divide". Everything is pure,
deterministic and linear in the size of the text.
"""

from __future__ import annotations

import heapq
import math
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field

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

TEXT_RANK = 1_000_000  # prose lines are never a parent in the outline
_HEADING_MAX_RANK = 60  # ranks below this are headings; bullets are 60 + indent

WORD = re.compile(r"[^\W_]+(?:['\u2019\-][^\W_]+)*")
_NEWLINES = re.compile("[\u2028\u2029\x0b\x0c\x85]")
_CONTROL = re.compile("[\x00-\x08\x0e-\x1f\x7f\u200b-\u200f\ufeff]")
_KEYWORDS = "unit|chapter|module|week|part|section|lesson|lecture|topic|day|session|block|theme"
_MD = re.compile(r"^(#{1,6})\s+(.*?)[\s#]*$")
_KEYWORD = re.compile(
    rf"^({_KEYWORDS})\s+(\d{{1,3}}(?:\.\d{{1,3}})*[a-z]?|[ivxlc]{{1,6}})(?=$|[\s:.\-\u2013—)])[\s:.\-\u2013—)]*(.*)$",
    re.IGNORECASE,
)
_NUMBERED = re.compile(r"^(\d{1,3}(?:\.\d{1,3})+\.?|\d{1,3}[.)]|[IVXLC]{1,6}[.)])\s+(\S.*)$")
_BULLET = re.compile(r"^([-*•+▪◦‣·\u2013—>➢✓✔]|\(?[A-Za-z][.)]|\(\d{1,3}\))\s+(\S.*)$")
_EMPHASIS = re.compile(r"\*\*|__|`|~~|^\[[ xX]\]\s*")
_LABEL = re.compile(r"\s*(?::|\s[-\u2013—]\s)\s*")
_CLAUSE = re.compile(r"\s*[,;(—\u2013]\s*")
_BOUNDARY = re.compile(r"([.!?…]+[\"'”\u2019)\]]*)\s+|([。\uff01\uff1f]+)\s*")
_ABBREVIATIONS = frozenset(
    "e.g i.e etc vs cf fig figs eq dr mr mrs ms prof approx no st al ca".split())
_LEAD_IN = re.compile(r":|\b(?:including|such as)\b", re.IGNORECASE)
_ITEM_SPLIT = re.compile(r"\s*[;,]\s*|\s+(?:and|or|&)\s+")
_CONJUNCTION = re.compile(r"^(?:and|or|&|also|plus)\s+", re.IGNORECASE)


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


# --- lines and the outline -------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """One non-empty line: its text without markers, what kind it is, and its rank."""

    text: str
    label: str  # markdown | unit/chapter/... | numbered | bullet | caps | colon | text
    rank: int
    indent: int


def _is_caps(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    return len(letters) >= 3 and all(c.isupper() for c in letters) and len(text.split()) <= 10


def _classify(text: str, indent: int, keyword_ranks: dict[str, int]) -> Line:
    if m := _MD.match(text):
        return Line(clean(m.group(2)), "markdown", len(m.group(1)), indent)
    if m := _KEYWORD.match(text):
        keyword = m.group(1).lower()
        rank = 10 + keyword_ranks.setdefault(keyword, len(keyword_ranks))
        return Line(clean(text), keyword, rank, indent)
    if m := _NUMBERED.match(text):
        depth = m.group(1).rstrip(".)").count(".") + 1
        return Line(clean(m.group(2)), "numbered", 40 + depth if indent == 0 else 60 + indent,
                    indent)
    if m := _BULLET.match(text):
        return Line(clean(m.group(2)), "bullet", 60 + indent, indent)
    if indent == 0 and _is_caps(text):
        return Line(clean(text), "caps", 30, 0)
    if indent == 0 and text.endswith(":") and len(text.split()) <= 12:
        return Line(clean(text), "colon", 35, 0)
    return Line(clean(text), "text", TEXT_RANK, indent)


def parse_lines(text: str) -> Iterator[Line]:
    """The non-empty lines of ``text``, classified. Keyword headings rank in order of
    first appearance, so "Unit" above "Chapter" if units come first."""
    keyword_ranks: dict[str, int] = {}
    for raw in normalize(text).split("\n"):
        stripped = raw.strip()
        if stripped:
            line = _classify(stripped, len(raw) - len(raw.lstrip()), keyword_ranks)
            if any(c.isalpha() for c in line.text):  # not bare markers or numbers
                yield line


@dataclass(eq=False)
class Node:
    """A heading, bullet or (after :func:`expand`) a line, sentence or list item."""

    title: str
    label: str
    rank: int
    parent: Node | None = None
    body: list[str] = field(default_factory=list)
    children: list[Node] = field(default_factory=list)

    def lines(self) -> list[str]:
        """Every line under this node, itself first, in document order."""
        out: list[str] = []
        todo: list[Node] = [self]
        while todo:
            node = todo.pop()
            out.extend([node.title, *node.body] if node.title else node.body)
            todo.extend(reversed(node.children))
        return out


def outline(text: str) -> Node:
    """The syllabus as a tree: structural lines nest by rank, prose lines become the body
    of the nearest heading (or of the bullet they are indented under)."""
    root = Node("", "root", -1)
    stack = [root]
    for line in parse_lines(text):
        if line.rank == TEXT_RANK:
            holder = stack[-1] if line.indent else next(
                n for n in reversed(stack) if n.rank < _HEADING_MAX_RANK)
            holder.body.append(line.text)
            continue
        while stack[-1].rank >= line.rank:
            stack.pop()
        node = Node(line.text, line.label, line.rank, parent=stack[-1])
        stack[-1].children.append(node)
        stack.append(node)
    return root


def levels(root: Node, deepest: int = 8) -> list[list[Node]]:
    """Cuts through the tree, coarse to fine: each level replaces every node that has
    children by its children; leaves carry on unchanged."""
    out = [[root]]
    while len(out) < deepest and any(n.children for n in out[-1]):
        out.append([c for n in out[-1] for c in (n.children or [n])])
    return out


def expand(leaves: list[Node]) -> None:
    """Give leaves with prose children: their lines, else sentences, else list items (a
    titled leaf with one unsplittable line gets that line, to keep one granularity)."""
    for node in leaves:
        pieces, label = split_body(node.body)
        if not pieces and node.title and len(node.body) == 1:
            pieces, label = node.body, "line"
        if pieces:
            node.children = [Node(p, label, TEXT_RANK, parent=node) for p in pieces]
            node.body = []


def split_body(body: list[str]) -> tuple[list[str], str]:
    """The finest sensible split of some prose lines, and what the pieces are."""
    if len(body) >= 2:
        return body, "line"
    joined = " ".join(body)
    if len(found := sentences_of(joined)) >= 2:
        return found, "sentence"
    if len(items := list_items(joined)) >= 2:
        return items, "item"
    return [], ""


def list_items(text: str) -> list[str]:
    """Short items of an inline list ("A, B, and C"; "Topics: A; B"), else ``[]``."""
    lead = _LEAD_IN.search(text)
    if lead and len(text[: lead.start()].split()) <= 8:
        text = text[lead.end():]
    elif "," not in text and ";" not in text:
        return []
    items = [clean(_CONJUNCTION.sub("", clean(p))).rstrip(". ") for p in _ITEM_SPLIT.split(text)]
    items = [i for i in items if stems(i)]
    return items if len(items) >= 2 and all(len(i.split()) <= 8 for i in items) else []


def strip_keyword(text: str) -> str:
    """ "Unit 1: Cell biology" -> "Cell biology"; "Week 3" stays as it is."""
    m = _KEYWORD.match(text)
    return clean(m.group(3)) if m and clean(m.group(3)) else text


def topic_name(text: str) -> str:
    """A short topic name from a heading or line: no numbering, the label of "X: details",
    or the first clause of a long line."""
    name = clean(strip_keyword(text))
    if head := label_of(name):
        name = head
    elif len(name) > 80:
        name = _CLAUSE.split(name, maxsplit=1)[0]
        name = " ".join(name.split()[:10]) if len(name) > 80 else name
    name = clip(name.rstrip(" .;,"), 120) or clip(clean(text), 120)
    return name[:1].upper() + name[1:] if name[:1].islower() else name


# --- sentences and the index -----------------------------------------------------------


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
                                line.rank < _HEADING_MAX_RANK, stems(piece), context_stems))
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


def label_of(text: str) -> str:
    """The label of a "Label: details" line (at most six words), else ``""``."""
    head = _LABEL.split(text, maxsplit=1)[0]
    return head if head != text and len(head.split()) <= 6 and stems(head) else ""
