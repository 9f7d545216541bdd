"""Questions from the student's own material: the quiz, and the analysis of a wrong answer.

Approach. A :class:`Bank` looks at the material from one topic. Every sentence gets an
*owner*: the topic (the quiz topic or one of ``other_topics``) whose words it shares
most, heading context included; sentences of the topic's summary belong to the topic.
Terms (short list items and bullet labels, runs of up to three content words) are
collected with the line they came from and the owners of the sentences they appear in.

Three kinds of question, interleaved: a *cloze* (a sentence owned by the topic with a key
term blanked out), *part of* ("Which of these belongs to <topic>?", the key a term only
the topic uses) and *which topic* (a line of the topic, its options the topic names).
Distractors are terms of the material: first of similar length, then owned by another
topic ("Confuses A with B"), then unowned, then owned by the topic itself (a harder
question), and only then other topic names. A question is kept only if it is *fair*:
distinct options, and a key no longer than 1.5x the median distractor. The key's slot
is a hash of the prompt. Thin material degrades to fewer options, then to a true/false
statement quoted from the notes.
"""

from __future__ import annotations

import hashlib
import heapq
import re
import statistics
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from agents.models import Distractor, MisconceptionAnalysis, Question, Quiz
from agents.offline.text import (
    WORD,
    Index,
    Sentence,
    build_index,
    clip,
    is_content,
    normalize,
    query,
    stem,
    stems,
    summary_keys,
    words,
)

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
_TERM_SPLIT = re.compile(r"[,;:()\[\]{}\"“”!?…|/=+]|\s[-\u2013—]\s|\.(?=\s|$)")
_EDGE = " .'\"*_`\u2019\u2018“”-\u2013—"
_JOINERS = frozenset({"of", "and", "or", "the", "a", "an", "in", "on", "&"})
BLANK = "_____"
_PART_OF = ("Which of these belongs to {} in your notes?",
            "Which of these do your notes list under {}?",
            "Which term comes from your notes on {}?")
_SCAN = 200  # sentences tried per question kind: keeps huge material fast


_VAGUE = frozenset("""
time times thing things case cases kind kinds type types level levels number numbers result
results order possible general specific similar simple common large small high low fast
slow good bad same whole nearly constant certain negative positive
""".split())


def _specific(text: str, listed: bool) -> bool:
    """A one-word term must look technical: listed, capitalised, or long, and not vague."""
    if " " in text:
        return True
    return text.lower() not in _VAGUE and (listed or not text.islower() or len(text) >= 7)


def _termy(word: str) -> bool:
    return (len(word) <= 40 and is_content(word) and word.lower() not in _VERBISH
            and any(c.isalpha() for c in word) and (len(word) >= 3 or word.isupper()))


def terms_in(text: str) -> list[tuple[str, bool]]:
    """Candidate terms of a sentence: short list segments (flagged) and runs of content
    words (at most the last three, where English puts the head noun)."""
    out: list[tuple[str, bool]] = []
    for segment in _TERM_SPLIT.split(text):
        ws = [w.strip(_EDGE) for w in segment.split()]
        ws = [w for w in ws if w]
        while ws and ws[0].lower() in _VAGUE:
            ws = ws[1:]
        while ws and ws[-1].lower() in _VAGUE:
            ws = ws[:-1]
        if not ws:
            continue
        if len(ws) <= 4 and all(_termy(w) or w.lower() in _JOINERS for w in ws) and \
                _termy(ws[0]) and _termy(ws[-1]):
            out.append((" ".join(ws), True))
        run: list[str] = []
        for w in [*ws, ""]:
            if w and _termy(w):
                run.append(w)
            elif run:
                while run and run[-1].lower() in _VAGUE:
                    run.pop()
                if run:
                    out.append((" ".join(run[-3:]), False))
                run = []
    return out


def key_phrase(index: Index, text: str, avoid: frozenset[str] = frozenset()) -> str:
    """The most specific term of ``text`` (rare words, lists and labels first)."""
    best, best_score = "", 0.0
    for term, listed in terms_in(text):
        st = stems(term) - avoid
        if st and _specific(term, listed):
            value = sum(index.weight(t) for t in st) / len(st) * (1.3 if listed else 1.0)
            value *= 1.3 if len(st) > 1 else 1.0
            if value > best_score:
                best, best_score = term, value
    return best


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


Wrong = tuple[str, str, str]  # option text, confusion, source line


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


@dataclass(frozen=True)
class Term:
    """A term of the material, where it was first seen, and who owns its sentences."""

    text: str
    stems: frozenset[str]
    source: str
    sentence: str
    pos: int
    owners: frozenset[int]  # -1 nobody, 0 the topic, k other_topics[k - 1]
    score: float
    topic_name: bool = False


class Bank:
    """The material seen from one topic: sentence owners and a pool of terms."""

    def __init__(self, topic: str, summary: str, material: str, others: Sequence[str]) -> None:
        self.topic = topic
        self.others = [o for o in others if o.casefold() != topic.casefold()][:20]
        self.index = build_index(material)
        if not self.index.sentences:
            self.index = build_index(summary)
        self.topic_stems = stems(topic)
        self.owner, self.example = self._owners(summary_keys(summary))
        self.by_text = self._terms()
        self.pool = self._pool()

    def _owners(self, in_summary: set[str]) -> tuple[dict[int, int], dict[int, str]]:
        """Who owns each sentence. A summary that matches two or more sentences is taken
        as the topic's whole material; other sentences go to the best-matching topic,
        heading context counting in full (a bullet belongs to its unit)."""
        queries = [query(n) for n in [self.topic, *self.others]]
        mine = {s.pos for s in self.index.sentences if s.text.casefold() in in_summary}
        owner: dict[int, int] = {}
        example: dict[int, str] = {}
        for s in self.index.sentences:
            scores = [self.index.score(q, s, context=1.0) for q in queries]
            if len(mine) >= 2 or s.pos in mine:
                scores[0] = 1e9 if s.pos in mine else 0.0
            best = max(scores)
            owner[s.pos] = scores.index(best) if best > 0 else -1
        for s in sorted(self.index.sentences, key=lambda s: s.heading):  # prose first
            example.setdefault(owner[s.pos], s.line)
        return owner, example

    def _terms(self) -> dict[str, Term]:
        found: dict[str, tuple[str, set[int], Sentence, bool]] = {}
        prose = [s for s in self.index.sentences if not s.heading]
        for s in prose if len(prose) >= 5 else self.index.sentences:
            for text, listed in terms_in(s.text):
                if not _specific(text, listed):
                    continue
                entry = found.setdefault(text.casefold(), (text, set(), s, listed))
                entry[1].add(self.owner[s.pos])
        out = {}
        for folded, (text, owners, s, listed) in found.items():
            st = stems(text)
            if st:
                value = sum(self.index.weight(t) for t in st) / len(st)
                value *= (1.3 if len(st) > 1 else 1.0) * (1.3 if listed else 1.0)
                out[folded] = Term(text, st, s.line, s.text, s.pos, frozenset(owners), value)
        return out

    def _pool(self) -> list[Term]:
        """Distractor candidates: the best 300 terms of each tier, then the other topics."""
        ranked = sorted(self.by_text.values(), key=lambda t: (-t.score, t.pos))
        pool = [t for tier in (0, 1, 2) for t in [t for t in ranked if self.tier(t) == tier][:300]]
        names = [Term(name, stems(name), self.example.get(k + 1, f"Your plan lists {name}."),
                      "", 10**9 + k, frozenset({k + 1}), 0.0, topic_name=True)
                 for k, name in enumerate(self.others) if stems(name)]
        return pool + names

    def tier(self, t: Term) -> int:
        """0: another topic's term; 1: nobody's; 2: this topic's own; 3: a topic name."""
        if t.topic_name:
            return 3
        if 0 in t.owners:
            return 2
        return 0 if any(o > 0 for o in t.owners) else 1

    def confusion(self, t: Term, key: str) -> str:
        """What picking ``t`` instead of ``key`` suggests."""
        tier = self.tier(t)
        if tier in (0, 3):
            other = self.others[min(o for o in t.owners if o > 0) - 1]
            return f"Confuses {self.topic} with {other}"
        if tier == 1:
            return f"Confuses “{key}” with “{t.text}”, a term your notes use elsewhere"
        return f"Mixes up two parts of {self.topic}: “{key}” and “{t.text}”"

    def pick(self, key: str, key_stems: frozenset[str], prompt: str, n: int = 3,
             tiers: Sequence[int] = (0, 1, 2, 3)) -> list[Term]:
        """Up to ``n`` distractors for ``key``: similar length first, then by tier; none
        shares a stem with the key or another pick, none appears in the prompt."""
        size, count, low = len(key), len(key.split()), prompt.casefold()

        def rank(t: Term) -> tuple[bool, int, int, int, int]:
            similar = 0.67 * size <= len(t.text) <= 1.5 * size
            return (not similar, self.tier(t), abs(len(t.text.split()) - count),
                    abs(len(t.text) - size), t.pos)

        candidates = (t for t in self.pool if self.tier(t) in tiers
                      and not t.stems & key_stems and t.text.casefold() not in low)
        chosen: list[Term] = []
        seen = set(key_stems)
        for t in heapq.nsmallest(60, candidates, key=rank):
            if not t.stems & seen:
                chosen.append(t)
                seen |= t.stems
                if len(chosen) == n:
                    break
        return chosen

    def own(self) -> list[Sentence]:
        """The topic's sentences (else nobody's, else all), prose before headings."""
        sentences = self.index.sentences
        mine = ([s for s in sentences if self.owner[s.pos] == 0]
                or [s for s in sentences if self.owner[s.pos] == -1] or sentences)
        return sorted(mine, key=lambda s: (s.heading, s.pos))[:_SCAN]

    def keys_in(self, s: Sentence) -> list[Term]:
        """Terms of ``s`` worth blanking, best first (not just the topic's own words)."""
        found = [self.by_text.get(text.casefold()) for text, _ in terms_in(s.text)]
        keys = {t.text: t for t in found if t and not t.stems <= self.topic_stems}
        return sorted(keys.values(), key=lambda t: -t.score)[:3]

    def find(self, phrase: str, hint: str = "") -> Sentence | None:
        """The sentence that holds ``phrase`` (closest to ``hint``), else the best match."""
        if not stems(phrase):
            return None
        pattern = re.compile(r"(?<!\w)" + re.escape(phrase) + r"(?!\w)", re.IGNORECASE)
        hits = [s for s in self.index.sentences if pattern.search(s.text)]
        near = stems(hint)
        if hits:
            return max(hits, key=lambda s: (not s.heading, len(s.stems & near), -s.pos))
        ranked = self.index.rank(query(phrase), 1)
        return ranked[0][1] if ranked else None


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


def _which_topic(bank: Bank, need: int) -> Iterator[Question]:
    size = len(bank.topic)
    names = sorted((o for o in bank.others if stems(o) != bank.topic_stems),
                   key=lambda o: (not 0.67 * size <= len(o) <= 1.5 * size,
                                  -len(stems(o) & bank.topic_stems)))
    wrong = [(o, f"Confuses {bank.topic} with {o}",
              bank.example.get(bank.others.index(o) + 1, f"Your plan lists {o}."))
             for o in names[:3]]
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


# --- the analysis of a wrong answer ----------------------------------------------------


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
        options = [" ".join(normalize(o).split()) for o in raw] if isinstance(raw, list) else []
        tags = {}
        for item in d.get("distractors") or []:
            if isinstance(item, dict):
                tags[as_int(item.get("option_index"), -1)] = (
                    " ".join(normalize(item.get("confusion")).split()),
                    " ".join(normalize(item.get("source")).split()))
        return cls(" ".join(normalize(d.get("prompt")).split()), options,
                   as_int(d.get("correct_index"), -1),
                   " ".join(normalize(d.get("concept_tested")).split()), tags)

    def option(self, i: int) -> str:
        """Option ``i``, or ``""`` when out of range."""
        return self.options[i] if 0 <= i < len(self.options) else ""


def as_int(value: object, default: int) -> int:
    """``value`` as an int (bools and junk read as ``default``)."""
    if isinstance(value, bool):
        return default
    try:
        return int(value)  # type: ignore[call-overload,no-any-return]
    except (TypeError, ValueError, OverflowError):
        return default


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
    counter = (f"“{picked}” comes from another line of your notes: “{clip(source, 400)}” "
               if source else f"Your notes never tie “{picked}” to this question. ")
    counter += f"The answer “{key}” comes from: “{key_text}”"
    return MisconceptionAnalysis(
        wrong_option_chosen=picked, inferred_confusion=confusion, counter_example=counter,
        explanation=_explain(picked, key, concept, confusion, key_text, source),
        redemption_question=redemption(bank, q, (picked, confusion, source), key, concept))


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
    lines = sorted((s for s in bank.index.sentences[:20 * _SCAN] if pattern.search(s.text)),
                   key=lambda s: (s.heading, len(s.stems & near), s.pos))
    framing = f"Second chance on {concept}: fill in the blank"
    for s in lines[:_SCAN]:
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
