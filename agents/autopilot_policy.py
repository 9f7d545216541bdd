"""What the autopilot does next, decided from the persisted state alone (pure, no I/O).

Because the decision depends only on what is in the database, a process that takes over
a session after a crash decides the same next step the dead one was taking, and redoes
it; a step that had committed is not redone, because the phase has moved on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from agents.state_machine import StudyPhase
from agents.topic_store import QuizRecord, TopicRecord

PLAN, TEACH, QUIZ, AWAIT, GRADE, NEXT, COMPLETE, DONE = (
    "plan", "teach", "quiz", "await", "grade", "next", "complete", "done")


@dataclass(frozen=True)
class Limits:
    mastery_threshold: int
    max_quizzes_per_topic: int


@dataclass(frozen=True)
class Decision:
    action: str
    reasoning: str
    topic: TopicRecord | None = None
    question: dict[str, Any] | None = None


def open_topics(topics: list[TopicRecord], quizzes: dict[UUID, int],
                limits: Limits) -> list[TopicRecord]:
    """Topics still worth studying: not mastered, and not yet quizzed the maximum times."""
    return [t for t in topics if t.mastery_score < limits.mastery_threshold
            and quizzes.get(t.id, 0) < limits.max_quizzes_per_topic]


def pick(topics: list[TopicRecord], quizzes: dict[UUID, int], limits: Limits) -> TopicRecord:
    """Lowest mastery first (then fewest quizzes, then syllabus order)."""
    candidates = open_topics(topics, quizzes, limits) or topics
    return min(candidates, key=lambda t: (t.mastery_score, quizzes.get(t.id, 0), t.position))


def next_question(quiz: QuizRecord | None, answered: set[str]) -> dict[str, Any] | None:
    if quiz is None:
        return None
    return next((q for q in quiz.questions if q["id"] not in answered), None)


def decide(phase: StudyPhase, topics: list[TopicRecord], quizzes: dict[UUID, int],
           quiz: QuizRecord | None, answered: set[str], limits: Limits) -> Decision:
    if phase is StudyPhase.INTAKE:
        return Decision(PLAN, "No plan yet: the planner turns the syllabus into topics.")
    if phase is StudyPhase.PLANNING:
        topic = pick(topics, quizzes, limits)
        return Decision(TEACH, f"{topic.name!r} has the lowest mastery ({topic.mastery_score})"
                               f" of the topics still open.", topic=topic)
    if phase is StudyPhase.LEARNING:
        return Decision(QUIZ, "The lesson is done: test it.")
    if phase is StudyPhase.QUIZZING:
        question = next_question(quiz, answered)
        if question is not None:
            return Decision(AWAIT, "Waiting for the student's answer.", question=question)
        return Decision(GRADE, "Every question is answered: grade and diagnose.")
    if phase is StudyPhase.ANALYZING:
        remaining = open_topics(topics, quizzes, limits)
        if not remaining:
            return Decision(COMPLETE, "Every topic is mastered or has had its quizzes "
                                      f"(at most {limits.max_quizzes_per_topic} each).")
        return Decision(NEXT, f"{len(remaining)} topic(s) still below mastery "
                              f"{limits.mastery_threshold}.")
    return Decision(DONE, "The session is complete.")
