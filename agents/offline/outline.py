"""The outline of a syllabus: its lines, classified and ranked, and the tree they make.

A syllabus is read line by line. Each line is classified (markdown heading,
"Unit 3:"-style keyword heading, ALL-CAPS or colon-ending heading, numbered line, bullet,
or plain text) and given a *rank*: smaller ranks sit higher in the outline, and a stack
turns ranks into a tree (:func:`outline`). Prose lines become the body of the heading
above them; :func:`expand` splits a leaf's body into lines, sentences or list items when
the plan needs finer topics.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from agents.offline.text import clean, clip, label_of, normalize, sentences_of, stems

TEXT_RANK = 1_000_000  # prose lines are never a parent in the outline
HEADING_MAX_RANK = 60  # ranks below this are headings; bullets are 60 + indent

_KEYWORDS = "unit|chapter|module|week|part|section|lesson|lecture|topic|day|session|block|theme"
_MD = re.compile(r"^(#{1,6})\s+(.*?)[\s#]*$")
_KEYWORD = re.compile(
    rf"^({_KEYWORDS})\s+(\d{{1,3}}(?:\.\d{{1,3}})*[a-z]?|[ivxlc]{{1,6}})(?=$|[\s:.\-\u2013—)])[\s:.\-\u2013—)]*(.*)$",
    re.IGNORECASE,
)
_NUMBERED = re.compile(r"^(\d{1,3}(?:\.\d{1,3})+\.?|\d{1,3}[.)]|[IVXLC]{1,6}[.)])\s+(\S.*)$")
_BULLET = re.compile(r"^([-*•+▪◦‣·\u2013—>➢✓✔]|\(?[A-Za-z][.)]|\(\d{1,3}\))\s+(\S.*)$")
_CLAUSE = re.compile(r"\s*[,;(—\u2013]\s*")
_LEAD_IN = re.compile(r":|\b(?:including|such as)\b", re.IGNORECASE)
_ITEM_SPLIT = re.compile(r"\s*[;,]\s*|\s+(?:and|or|&)\s+")
_CONJUNCTION = re.compile(r"^(?:and|or|&|also|plus)\s+", re.IGNORECASE)


# --- lines -----------------------------------------------------------------------------


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


# --- the tree --------------------------------------------------------------------------


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
                n for n in reversed(stack) if n.rank < HEADING_MAX_RANK)
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


# --- names -----------------------------------------------------------------------------


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
