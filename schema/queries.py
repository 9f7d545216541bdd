"""Query root: the caller, their sessions, and Relay's ``node``."""

from __future__ import annotations

import datetime
from uuid import UUID

import strawberry
from strawberry.types import Info

from agents import session_store
from agents.errors import InvalidInput
from schema import ids
from schema.connections import Edge, PageInfo, decode_cursor, encode_cursor, page_size
from schema.errors import RequestError
from schema.types import Node, Quiz, StudySession, StudySessionConnection, Topic, User


def session_cursor(after: str | None) -> tuple[datetime.datetime, UUID] | None:
    if after is None:
        return None
    raw = decode_cursor(after)
    at, _, sid = raw.partition("|")
    try:
        return datetime.datetime.fromisoformat(at), UUID(sid)
    except ValueError as exc:
        raise InvalidInput("after is not a sessions cursor", field=["after"]) from exc


@strawberry.type
class Query:
    @strawberry.field(description="The caller.")
    async def me(self, info: Info) -> User:
        user_id = await info.context.user_id()
        record = await info.context.services.users.get(user_id)
        return User(id=strawberry.ID(str(record.id)), email=record.email,
                    created_at=record.created_at)

    @strawberry.field(description="A session of the caller's; null when absent or not theirs.")
    async def session(self, info: Info, id: strawberry.ID) -> StudySession | None:
        loaders = await info.context.loaders()
        try:
            raw = ids.decode(id, "StudySession", "id")
        except InvalidInput:
            return None
        record = await loaders.session_by_id.load(raw)
        return StudySession.of(record) if record is not None else None

    @strawberry.field(description="The caller's sessions, newest first.")
    async def sessions(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> StudySessionConnection:
        user_id = await info.context.user_id()
        try:
            limit = page_size(first, info.context.services.settings.max_page_size)
            cursor = session_cursor(after)
        except InvalidInput as exc:
            raise RequestError.of(exc) from None
        db = info.context.db
        records = await session_store.list_sessions(db, user_id, cursor, limit + 1)
        edges = [
            Edge(cursor=encode_cursor(f"{r.created_at.isoformat()}|{r.id}"),
                 node=StudySession.of(r))
            for r in records[:limit]
        ]
        return StudySessionConnection(
            edges=edges,
            page_info=PageInfo(has_next_page=len(records) > limit,
                               has_previous_page=cursor is not None,
                               start_cursor=edges[0].cursor if edges else None,
                               end_cursor=edges[-1].cursor if edges else None),
            total_count=await session_store.count_sessions(db, user_id),
        )

    @strawberry.field(description="Any object by global id; null when absent or not the caller's.")
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        loaders = await info.context.loaders()
        try:
            type_name, raw = ids.parse(id)
        except ValueError:
            return None
        if type_name == "StudySession":
            session = await loaders.session_by_id.load(raw)
            return StudySession.of(session) if session else None
        if type_name == "Topic":
            topic = await loaders.topic_by_id.load(raw)
            return Topic.of(topic) if topic else None
        if type_name == "Quiz":
            quiz = await loaders.quiz_by_id.load(raw)
            return Quiz.of(quiz) if quiz else None
        return None
