"""The SQL that compiled reads (``schema/compiled.py``) nest into one statement: for each
table, the columns a query may select and the relations it may follow.

Scoped and ordered like the stores' own queries (``session_store.SELECT_SESSIONS_BY_IDS``,
``topic_store.SELECT_TOPICS_BY_SESSIONS`` / ``SELECT_QUIZZES_BY_TOPICS``), so the compiled
answer is the loaders' answer. In the fragments ``{a}`` is the row's alias, ``{p}`` the
parent row's, ``{c}`` the related row's, ``{arg}`` the parameter of a root argument, and
``$1`` is always the caller's user id.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Relation:
    """Rows of ``table`` reached from a parent row: one (``many=False``) or a list."""

    table: str
    many: bool
    source: str  # FROM ... WHERE ...
    order: str | None = None


@dataclass(frozen=True)
class Table:
    columns: dict[str, str]  # record attribute -> SQL expression over {a}
    relations: dict[str, Relation] = field(default_factory=dict)


TABLES: dict[str, Table] = {
    "session": Table(
        columns={
            "id": "{a}.id", "exam_type": "{a}.exam_type", "exam_date": "{a}.exam_date",
            "state": "{a}.current_state", "version": "{a}.version", "syllabus": "{a}.syllabus",
            "context": "{a}.current_context", "created_at": "{a}.created_at",
            "updated_at": "{a}.updated_at",
        },
        relations={
            # the session row is already the caller's
            "topics": Relation("topic", True, "FROM topics {c} WHERE {c}.session_id = {p}.id",
                               order="{c}.position"),
            "current_topic": Relation("topic", False,
                                      "FROM topics {c} WHERE {c}.id = {p}.current_topic_id"),
        },
    ),
    "topic": Table(
        columns={
            "id": "{a}.id", "name": "{a}.name", "status": "{a}.status",
            "mastery_score": "{a}.mastery_score", "position": "{a}.position",
            "estimated_minutes": "{a}.estimated_minutes",
        },
        relations={
            "quizzes": Relation(
                "quiz", True, "FROM quizzes {c} WHERE {c}.topic_id = {p}.id AND {c}.user_id = $1",
                order="{c}.created_at, {c}.id"),
        },
    ),
    "quiz": Table(
        columns={"id": "{a}.id", "time_estimate_minutes": "{a}.time_estimate_minutes",
                 "score": "{a}.score"},
    ),
}

# The caller's session / topic / quiz by id (a NULL parameter, for a malformed id or one
# of another type, finds nothing); as SELECT_SESSIONS_BY_IDS, SELECT_TOPICS_BY_IDS and
# SELECT_QUIZZES_BY_IDS.
SESSION_BY_ID = Relation(
    "session", False, "FROM study_sessions {c} WHERE {c}.id = {arg} AND {c}.user_id = $1")
TOPIC_BY_ID = Relation(
    "topic", False, "FROM topics {c} JOIN study_sessions owner ON owner.id = {c}.session_id "
                    "WHERE {c}.id = {arg} AND owner.user_id = $1")
QUIZ_BY_ID = Relation(
    "quiz", False, "FROM quizzes {c} WHERE {c}.id = {arg} AND {c}.user_id = $1")

# A page of the caller's sessions, newest first, as session_store.SELECT_SESSIONS_PAGE
# ({at}, {sid}: the cursor's (created_at, id), NULL for the first page; {fetch}: the page
# size + 1, to learn whether there is a next page).
SESSIONS_PAGE = """FROM (
    SELECT * FROM study_sessions s
    WHERE s.user_id = $1
      AND ({at}::timestamptz IS NULL OR (s.created_at, s.id) < ({at}::timestamptz, {sid}::uuid))
    ORDER BY s.created_at DESC, s.id DESC
    LIMIT {fetch}
) {c}"""
SESSIONS_PAGE_ORDER = "{c}.created_at DESC, {c}.id DESC"
SESSIONS_COUNT = "(SELECT count(*) FROM study_sessions WHERE user_id = $1)"  # COUNT_SESSIONS
