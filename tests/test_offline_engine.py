"""The offline model's engine: every answer validates, is drawn from the student's own
text, is fair (quizzes), deterministic, and survives odd input."""

from __future__ import annotations

import copy
import json
import os
import statistics
import subprocess
import sys
import time
from typing import Any

import pytest
from pydantic import BaseModel

from agents.models import (
    MisconceptionAnalysis,
    Quiz,
    StudyPlan,
    TutorExplanation,
    TutorReply,
)
from agents.offline import UnsupportedTask, respond

AP_BIO = """AP Biology — Course Outline

Unit 1: Chemistry of Life
- Water: hydrogen bonding, cohesion, adhesion and high specific heat
- Macromolecules: carbohydrates, lipids, proteins and nucleic acids
- Enzymes lower activation energy; for example, catalase breaks down hydrogen peroxide.

Unit 2: Cell Structure and Function
- Cell membrane: phospholipid bilayer and the fluid mosaic model
- Organelles such as mitochondria, chloroplasts, ribosomes and the Golgi apparatus
- Diffusion and osmosis move water and solutes across membranes without energy.
- Active transport uses ATP to pump ions against a concentration gradient.

Unit 3: Cellular Energetics
- Photosynthesis converts light energy into chemical energy in chloroplasts.
- The light reactions occur in the thylakoid membranes and produce ATP and NADPH.
- The Calvin cycle fixes carbon dioxide into sugar in the stroma.
- Cellular respiration breaks down glucose to make ATP in the mitochondria.

Unit 4: Cell Cycle and Genetics
- Mitosis produces two identical diploid daughter cells.
- Meiosis produces four haploid gametes and increases genetic variation.
- Mendelian genetics: dominant and recessive alleles, Punnett squares.
"""

ONE_LINE = "Photosynthesis, cellular respiration, and mitosis"

CS = """# Data Structures and Algorithms

## Arrays and Linked Lists
Arrays store elements in contiguous memory, so indexing takes constant time.
Linked lists store nodes that point to the next node, so insertion at the head is O(1).

## Stacks and Queues
A stack is last-in first-out: push and pop happen at the top.
A queue is first-in first-out, e.g. a printer queue serves jobs in arrival order.

## Sorting
Merge sort divides the list in half, sorts each half and merges them in O(n log n) time.
Quicksort picks a pivot and partitions the array; its worst case is O(n^2).
Insertion sort is fast on nearly sorted input.

## Graphs
Breadth-first search explores neighbours level by level using a queue.
Depth-first search follows one path as deep as possible using a stack.
Dijkstra's algorithm finds shortest paths when edge weights are not negative.
"""

SYLLABI = {"ap_bio": AP_BIO, "one_line": ONE_LINE, "cs": CS}


def ask(model: type[BaseModel], payload: dict[str, Any]) -> dict[str, Any]:
    """Call the engine and check the answer against the agent's output model."""
    answer = respond(model.__name__, payload)
    model.model_validate(answer)
    return answer


def plan_of(syllabus: str, **extra: Any) -> dict[str, Any]:
    return ask(StudyPlan, {"task": "plan", "exam_type": "AP Biology", "syllabus": syllabus,
                           "exam_date": None, "max_topics": 12, **extra})


def flat(text: str) -> str:
    """Whitespace-normalised and case-folded, to look text up in the material."""
    return " ".join(text.split()).casefold()


def topic_docs(syllabus: str) -> list[dict[str, Any]]:
    """One agent input document per planned topic, as the agents send them."""
    topics = plan_of(syllabus)["topics"]
    names = [t["name"] for t in topics]
    return [{"exam_type": "AP Biology", "topic": t["name"], "topic_summary": t["summary"],
             "material": syllabus, "other_topics": [n for n in names if n != t["name"]],
             "num_questions": 5} for t in topics]


ALL_TOPICS = [pytest.param(name, doc, id=f"{name}-{doc['topic']}")
              for name, text in SYLLABI.items() for doc in topic_docs(text)]


def quiz_of(doc: dict[str, Any]) -> dict[str, Any]:
    return ask(Quiz, {"task": "quiz", **doc})


def fairness_problems(q: dict[str, Any]) -> list[str]:
    """The validator's rules for one question, as a list of what is wrong."""
    options, key = q["options"], q["correct_index"]
    problems = []
    if len({" ".join(o.casefold().split()) for o in options}) != len(options):
        problems.append("options are not distinct")
    if not 0 <= key < len(options):
        return [*problems, "correct_index out of range"]
    wrong = [o for i, o in enumerate(options) if i != key]
    if not wrong or len(options[key]) > 1.5 * statistics.median(len(o) for o in wrong):
        problems.append("the key gives itself away by length")
    if sorted(d["option_index"] for d in q["distractors"]) != [
            i for i in range(len(options)) if i != key]:
        problems.append("distractor tags do not match the wrong options")
    return problems


# --- StudyPlan -------------------------------------------------------------------------


@pytest.mark.parametrize(("syllabus", "names", "source"), [
    (AP_BIO, ["Chemistry of Life", "Cell Structure and Function", "Cellular Energetics",
              "Cell Cycle and Genetics"], "4 unit headings"),
    (ONE_LINE, ["Photosynthesis", "Cellular respiration", "Mitosis"], "comma-separated"),
    (CS, ["Arrays and Linked Lists", "Stacks and Queues", "Sorting", "Graphs"],
     "markdown headings"),
], ids=list(SYLLABI))
def test_plan_topics_come_from_the_syllabus(syllabus: str, names: list[str], source: str) -> None:
    plan = plan_of(syllabus)
    topics = plan["topics"]
    assert [t["name"] for t in topics] == names
    assert [t["order"] for t in topics] == list(range(1, len(topics) + 1))
    for t in topics:
        assert t["name"].casefold() in syllabus.casefold()
        assert all(flat(line) in flat(syllabus) for line in t["summary"].splitlines())
        assert 10 <= t["estimated_minutes"] <= 120 and 0 < t["weight"] <= 10
    assert plan["exam_type"] == "AP Biology"
    assert source in plan["rationale"] and plan["rationale"].startswith(f"{len(names)} topics")


def test_plan_bigger_units_get_more_time_and_weight() -> None:
    topics = plan_of(AP_BIO)["topics"]
    energetics, chemistry = topics[2], topics[0]
    assert energetics["estimated_minutes"] > chemistry["estimated_minutes"]
    assert energetics["weight"] > chemistry["weight"]
    assert "Calvin cycle" in energetics["summary"]


@pytest.mark.parametrize(("syllabus", "names"), [
    ("Unit 1: Cells\n- Cell membrane\n- Organelles\nUnit 2: Genetics\n- DNA replication\n"
     "- Transcription\n- Mendel's laws\n",
     ["Cell membrane", "Organelles", "DNA replication", "Transcription", "Mendel's laws"]),
    ("1. Limits\n1.1 One-sided limits\n1.2 Continuity\n2. Derivatives\n2.1 Power rule\n"
     "2.2 Chain rule\n3. Integrals\n",
     ["One-sided limits", "Continuity", "Power rule", "Chain rule", "Integrals"]),
    ("Week 1 - Intro to economics\r\nWeek 2 - Supply and demand\r\nWeek 3\r\n"
     "Week 4 - Elasticity: price elasticity; income elasticity\r\n",
     ["Intro to economics", "Supply and demand", "Elasticity"]),
    ("THERMODYNAMICS\nHeat and work\nENTROPY\nThe second law\nKINETICS\nRate laws\n",
     ["THERMODYNAMICS", "ENTROPY", "KINETICS"]),
    ("Topics covered:\n* Cell biology\n* Cell biology\n* Genetics\n* Evolution\n",
     ["Cell biology", "Genetics", "Evolution"]),
    ("Photosynthesis\nCellular respiration\nMitosis and meiosis\n",
     ["Photosynthesis", "Cellular respiration", "Mitosis and meiosis"]),
    ("Biologie : la cellule, l'ADN, l'évolution des espèces",
     ["La cellule", "L'ADN", "L'évolution des espèces"]),
], ids=["bullets-under-units", "numbered", "weeks-crlf", "all-caps", "duplicates",
        "lines", "unicode-list"])
def test_plan_reads_many_syllabus_shapes(syllabus: str, names: list[str]) -> None:
    assert [t["name"] for t in plan_of(syllabus)["topics"]] == names


def test_plan_rationale_names_its_source() -> None:
    plan = plan_of("Unit 1: Cells\n- Cell membrane\n- Organelles\nUnit 2: Genetics\n"
                   "- DNA replication\n- Transcription\n- Mendel's laws\n")
    assert plan["rationale"].startswith("5 topics from 5 bullet points under 2 unit headings")


def test_plan_groups_to_max_topics() -> None:
    syllabus = "Unit 1: Physics\n" + "".join(f"- Law number {i} of motion\n" for i in range(30))
    topics = plan_of(syllabus)["topics"]
    assert len(topics) == 12
    assert sum(t["summary"].count("Law number") for t in topics) == 30
    assert len(plan_of(AP_BIO, max_topics=3)["topics"]) <= 3


def test_plan_of_an_empty_syllabus_is_one_honest_topic() -> None:
    plan = plan_of("  \n\n ")
    assert [t["name"] for t in plan["topics"]] == ["AP Biology"]
    assert "empty" in plan["rationale"]


# --- TutorExplanation and TutorReply ---------------------------------------------------


@pytest.mark.parametrize(("name", "doc"), ALL_TOPICS)
def test_lesson_is_built_from_the_material(name: str, doc: dict[str, Any]) -> None:
    lesson = ask(TutorExplanation, {"task": "lesson", **doc})
    material = flat(doc["material"])
    assert lesson["topic"] == doc["topic"]
    assert 1 <= len(lesson["steps"]) <= 6
    quoted = [s["content"] for s in lesson["steps"] if s["title"] != "Say it back"]
    assert quoted and all(flat(c) in material for c in quoted)
    assert flat(lesson["intuition"].rsplit(": ", 1)[-1]) in material or \
        flat(lesson["intuition"]) in material
    if name != "one_line":
        assert len(lesson["steps"]) >= 2
        assert doc["other_topics"][0] != "" and any(
            o in lesson["common_pitfall"] for o in doc["other_topics"])


def test_lesson_on_cell_structure_uses_its_own_unit() -> None:
    doc = next(d for d in topic_docs(AP_BIO) if d["topic"] == "Cell Structure and Function")
    lesson = ask(TutorExplanation, doc)
    text = json.dumps(lesson)
    assert "phospholipid bilayer" in text and "Meiosis" not in lesson["intuition"]
    assert "Organelles such as mitochondria" in lesson["real_world_example"]
    assert lesson["common_pitfall"].startswith(
        "Don't mix up Cell Structure and Function with Cellular Energetics")
    assert "_____" in (lesson["practice_question"] or "")


def test_lesson_says_so_when_the_material_is_silent() -> None:
    lesson = ask(TutorExplanation, {"topic": "Quantum gravity", "topic_summary": "",
                                    "material": AP_BIO, "other_topics": []})
    assert "does not mention Quantum gravity" in lesson["intuition"]
    empty = ask(TutorExplanation, {"topic": "Optics", "material": ""})
    assert "nothing on Optics" in empty["intuition"]


def chat(message: str, history: list[dict[str, str]] | None = None,
         material: str = AP_BIO, topic: str = "Cellular Energetics") -> dict[str, Any]:
    return ask(TutorReply, {"task": "chat", "topic": topic, "material": material,
                            "history": history or [], "message": message})


def test_chat_quotes_the_best_matching_sentences() -> None:
    reply = chat("Where do the light reactions happen?")
    assert reply["cited"][0] == ("The light reactions occur in the thylakoid membranes and "
                                 "produce ATP and NADPH.")
    assert all(flat(c) in flat(AP_BIO) for c in reply["cited"])
    assert reply["cited"][0] in reply["reply"]


def test_chat_follow_up_brings_new_sentences() -> None:
    first = chat("Where do the light reactions happen?")
    history = [{"role": "user", "content": "Where do the light reactions happen?"},
               {"role": "assistant", "content": first["reply"]}]
    more = chat("more", history)
    assert more["cited"] and not set(more["cited"]) & set(first["cited"])
    example = chat("give me an example", material=CS, topic="Stacks and Queues")
    assert "e.g. a printer queue" in example["cited"][0]


def test_chat_says_when_the_material_does_not_cover_it() -> None:
    assert "doesn't cover" in chat("What does the stock market do?")["reply"]
    assert "don't mention Krebs" in chat("What is the Krebs cycle?")["reply"]
    assert "no material" in chat("anything?", material="")["reply"]


# --- Quiz and MisconceptionAnalysis ----------------------------------------------------


@pytest.mark.parametrize(("name", "doc"), ALL_TOPICS)
def test_quiz_is_fair_and_drawn_from_the_material(name: str, doc: dict[str, Any]) -> None:
    quiz = quiz_of(doc)
    material = flat(doc["material"])
    questions = quiz["questions"]
    assert 1 <= len(questions) <= 5 and quiz["topic"] == doc["topic"]
    assert len({q["prompt"].casefold() for q in questions}) == len(questions)
    allowed = {flat(doc["topic"]), "true", *map(flat, doc["other_topics"])}
    for q in questions:
        assert fairness_problems(q) == [], q
        key = q["options"][q["correct_index"]]
        assert flat(key) in material or flat(key) in allowed
        for d in q["distractors"]:
            option = q["options"][d["option_index"]]
            assert flat(option) in material or flat(option) in allowed | {"false"}
            assert d["confusion"] and d["source"]
        assert q["concept_tested"] and q["explanation"]
    if name != "one_line":
        assert len(questions) >= 3
        assert any(len(q["options"]) == 4 for q in questions)


def test_quiz_on_ap_biology_varies_keys_and_difficulty() -> None:
    quizzes = [quiz_of(doc) for doc in topic_docs(AP_BIO)]
    questions = [q for quiz in quizzes for q in quiz["questions"]]
    assert all(len(quiz["questions"]) == 5 for quiz in quizzes)
    assert len({q["correct_index"] for q in questions}) >= 3
    assert {q["difficulty"] for q in questions} == {"easy", "medium", "hard"}
    cloze = next(q for q in questions if "_____" in q["prompt"])
    assert cloze["options"][cloze["correct_index"]].casefold() not in cloze["prompt"].casefold()
    tagged = [d for q in questions for d in q["distractors"]]
    assert any(d["confusion"] == "Confuses Cellular Energetics with Cell Structure and Function"
               for d in tagged)


def test_quiz_of_thin_material_still_has_a_question() -> None:
    for material in ("", "Mitosis", "🧬🧬🧬"):
        quiz = quiz_of({"topic": "Mitosis", "material": material, "other_topics": []})
        assert len(quiz["questions"]) == 1
        assert fairness_problems(quiz["questions"][0]) == []


@pytest.mark.parametrize(("name", "doc"), [p for p in ALL_TOPICS if p.values[0] != "one_line"])
def test_misconception_explains_every_wrong_pick(name: str, doc: dict[str, Any]) -> None:
    for q in quiz_of(doc)["questions"][:3]:
        for chosen in range(len(q["options"])):
            if chosen == q["correct_index"]:
                continue
            analysis = ask(MisconceptionAnalysis, {
                "task": "misconception", "topic": doc["topic"], "material": doc["material"],
                "question": q, "chosen_index": chosen})
            tag = next(d for d in q["distractors"] if d["option_index"] == chosen)
            assert analysis["wrong_option_chosen"] == q["options"][chosen]
            assert analysis["inferred_confusion"] == tag["confusion"].rstrip(". ")
            assert q["options"][chosen] in analysis["counter_example"]
            redemption = analysis["redemption_question"]
            assert redemption["prompt"].casefold() != q["prompt"].casefold()
            assert fairness_problems(redemption) == []


def test_misconception_redemption_retests_the_same_key() -> None:
    doc = next(d for d in topic_docs(AP_BIO) if d["topic"] == "Cellular Energetics")
    q = next(q for q in quiz_of(doc)["questions"] if "_____" in q["prompt"])
    key = q["options"][q["correct_index"]]
    chosen = (q["correct_index"] + 1) % len(q["options"])
    analysis = ask(MisconceptionAnalysis, {"topic": doc["topic"], "material": AP_BIO,
                                           "question": q, "chosen_index": chosen})
    redemption = analysis["redemption_question"]
    assert redemption["options"][redemption["correct_index"]] == key
    assert redemption["concept_tested"] == q["concept_tested"]
    assert key in analysis["counter_example"] and "Re-read" in analysis["explanation"]


# --- determinism, odd input, speed ------------------------------------------------------

DETERMINISM_SCRIPT = """
import json, sys
from tests.test_offline_engine import AP_BIO, all_answers
print(json.dumps(all_answers(AP_BIO), sort_keys=True))
print("litellm" in sys.modules)
"""


def all_answers(syllabus: str) -> dict[str, Any]:
    """One answer of every schema for the first topic of ``syllabus``."""
    plan = respond("StudyPlan", {"syllabus": syllabus, "exam_type": "X"})
    doc = topic_docs(syllabus)[2]
    quiz = respond("Quiz", copy.deepcopy(doc))
    q = quiz["questions"][0]
    return {
        "plan": plan, "quiz": quiz,
        "lesson": respond("TutorExplanation", copy.deepcopy(doc)),
        "chat": respond("TutorReply", {"topic": doc["topic"], "material": syllabus,
                                       "message": "what is ATP for?", "history": []}),
        "analysis": respond("MisconceptionAnalysis", {
            "topic": doc["topic"], "material": syllabus, "question": q,
            "chosen_index": (q["correct_index"] + 1) % len(q["options"])}),
    }


def test_same_input_same_output_in_fresh_processes() -> None:
    assert all_answers(AP_BIO) == all_answers(AP_BIO)
    outputs = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run([sys.executable, "-c", DETERMINISM_SCRIPT], env=env, check=True,
                              capture_output=True, text=True, cwd=os.getcwd())
        outputs.append(done.stdout.splitlines())
    assert outputs[0] == outputs[1]
    assert outputs[0][1] == "False"  # the engine never imports litellm


ODD_TEXTS = ["", "x", "\x00\x07\u200b", "Ünïcødé — 細胞生物学。DNA複製\uff01 🧬 ok.",
             "line one\r\nline two\rline three", "\ud800 lone surrogate, then text",
             "- \n* \n# \n1.\n", "a" * 5000, "word " * 3000]


@pytest.mark.parametrize("text", ODD_TEXTS, ids=range(len(ODD_TEXTS)))
def test_odd_text_never_raises(text: str) -> None:
    plan_of(text)
    doc = {"topic": text[:50], "topic_summary": text, "material": text,
           "other_topics": [text[:10], "Genetics"], "num_questions": 3}
    ask(TutorExplanation, doc)
    ask(TutorReply, {"topic": text[:50], "material": text, "message": text, "history": []})
    quiz = ask(Quiz, doc)
    for q in quiz["questions"]:
        assert fairness_problems(q) == []
    ask(MisconceptionAnalysis, {"topic": text, "material": text,
                                "question": quiz["questions"][0], "chosen_index": 0})


@pytest.mark.parametrize("model", [StudyPlan, TutorExplanation, TutorReply, Quiz,
                                   MisconceptionAnalysis])
def test_malformed_payloads_never_raise(model: type[BaseModel]) -> None:
    for payload in ({}, {"material": 12, "syllabus": None, "topic": ["a"], "max_topics": "x",
                         "num_questions": True, "other_topics": "Genetics",
                         "history": "junk", "question": "junk", "chosen_index": "x"},
                    {"question": {"options": [None, 3], "correct_index": 9,
                                  "distractors": [{"option_index": "0"}, 5]},
                     "history": [None, {"role": 1}], "max_topics": -5, "num_questions": 500},
                    "not a dict"):
        ask(model, payload)  # type: ignore[arg-type]


def test_unknown_schema_is_unsupported() -> None:
    with pytest.raises(UnsupportedTask, match="Essay"):
        respond("Essay", {})
    assert issubclass(UnsupportedTask, ValueError)


def test_speed_on_a_200k_character_syllabus() -> None:
    units = [AP_BIO.replace("Unit ", f"Unit {i}.").replace("Water", f"Water{i}")
             for i in range(1, 400)]
    syllabus = "\n".join(units)[:200_000]
    timings = {}
    start = time.perf_counter()
    plan = respond("StudyPlan", {"syllabus": syllabus, "exam_type": "AP Biology"})
    timings["StudyPlan"] = time.perf_counter() - start
    names = [t["name"] for t in plan["topics"]]
    doc = {"topic": names[0], "topic_summary": plan["topics"][0]["summary"],
           "material": syllabus, "other_topics": names[1:], "num_questions": 5,
           "message": "what do enzymes do?", "history": []}
    for schema in ("TutorExplanation", "TutorReply", "Quiz"):
        start = time.perf_counter()
        answer = respond(schema, doc)
        timings[schema] = time.perf_counter() - start
    q = answer["questions"][0]
    start = time.perf_counter()
    respond("MisconceptionAnalysis", {**doc, "question": q, "chosen_index": 1 - min(
        q["correct_index"], 1)})
    timings["MisconceptionAnalysis"] = time.perf_counter() - start
    print("\noffline engine on 200k chars:",
          ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in timings.items()))
    assert len(plan["topics"]) == 12
