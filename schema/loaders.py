"""DataLoaders, one per access path, scoped to the caller (``<Thing>By<Key>Loader``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar
from uuid import UUID

from strawberry.dataloader import DataLoader

from agents import autopilot_store, session_store, topic_store
from agents.autopilot_store import RunRecord
from agents.session_store import SessionRecord
from agents.topic_store import AnswerRecord, ChatRecord, QuizRecord, TopicRecord, Usage
from app.database import Db

K = TypeVar("K")
V = TypeVar("V")


def _loader(
    fetch: Callable[[list[K]], Awaitable[Mapping[K, V]]], default: Callable[[], Any]
) -> DataLoader[K, V]:
    async def load(keys: Sequence[K]) -> list[V]:
        found = await fetch(list(keys))
        return [found.get(key, default()) for key in keys]

    return DataLoader(load_fn=load)


class Loaders:
    def __init__(self, db: Db, user_id: UUID) -> None:
        self.session_by_id: DataLoader[UUID, SessionRecord | None] = _loader(
            lambda ids: session_store.get_sessions(db, user_id, ids), lambda: None)
        self.topics_by_session: DataLoader[UUID, list[TopicRecord]] = _loader(
            lambda ids: topic_store.topics_by_sessions(db, user_id, ids), list)
        self.topic_by_id: DataLoader[UUID, TopicRecord | None] = _loader(
            lambda ids: topic_store.topics_by_ids(db, user_id, ids), lambda: None)
        self.quizzes_by_topic: DataLoader[UUID, list[QuizRecord]] = _loader(
            lambda ids: topic_store.quizzes_by_topics(db, user_id, ids), list)
        self.quiz_by_id: DataLoader[UUID, QuizRecord | None] = _loader(
            lambda ids: topic_store.quizzes_by_ids(db, user_id, ids), lambda: None)
        self.chat_by_topic: DataLoader[UUID, ChatRecord | None] = _loader(
            lambda ids: topic_store.chats_by_topics(db, user_id, ids), lambda: None)
        self.answers_by_quiz: DataLoader[UUID, dict[str, AnswerRecord]] = _loader(
            lambda ids: topic_store.answers_by_quizzes(db, user_id, ids), dict)
        self.run_by_session: DataLoader[UUID, RunRecord | None] = _loader(
            lambda ids: autopilot_store.runs(db, ids), lambda: None)
        self.usage_by_session: DataLoader[UUID, Usage] = _loader(
            lambda ids: topic_store.usage_by_sessions(db, ids), Usage)
