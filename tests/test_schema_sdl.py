"""The committed schema.graphql is the live schema.

Regenerate it with: studypilot schema > schema.graphql
"""

from __future__ import annotations

from pathlib import Path

from app.settings import Settings
from schema import build_schema

ROOT = Path(__file__).resolve().parent.parent

CONTRACT = [  # names of API.md that clients rely on
    "enum StudyPhase", "type StudySession implements Node", "type Topic implements Node",
    "type Quiz implements Node", "type TutorChat", "type ChatMessage", "type LlmUsage",
    "type Question", "type TutorExplanation", "type MisconceptionAnalysis",
    "type AutopilotStep", "type AutopilotStatus", "type UserError",
    "startSession(input: StartSessionInput!): SessionPayload!",
    "generatePlan(sessionId: ID!): SessionPayload!",
    "askTutor(topicId: ID!, message: String!): TutorChatPayload!",
    "takeQuiz(sessionId: ID!): QuizPayload!",
    "me: User!", "session(id: ID!): StudySession",
]


def test_committed_sdl_matches_live_schema() -> None:
    live = build_schema(Settings()).as_str().strip()
    committed = (ROOT / "schema.graphql").read_text().strip()
    assert committed == live, "schema.graphql is stale: run `studypilot schema > schema.graphql`"


def test_contract_names_present() -> None:
    sdl = build_schema(Settings()).as_str()
    for name in CONTRACT:
        assert name in sdl, name
