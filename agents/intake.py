"""Intake: validate what the student gives and open a session in INTAKE."""

from __future__ import annotations

import datetime
import json
from typing import Any
from uuid import UUID

from pydantic import ValidationError

from agents import session_store
from agents.errors import InvalidInput
from agents.session_store import SessionRecord
from agents.state_machine import StudentContext
from app.database import Db

MAX_EXAM_TYPE_CHARS = 200
EARLIEST_EXAM_DATE = datetime.date(2000, 1, 1)


def clean_text(value: str, field: list[str], max_chars: int) -> str:
    text = value.replace("\x00", "").strip()
    if not text:
        raise InvalidInput(f"{field[-1]} must not be empty", field=field)
    if len(text) > max_chars:
        raise InvalidInput(
            f"{field[-1]} is {len(text)} characters; the limit is {max_chars}", field=field)
    return text


def parse_context(raw: Any, field: list[str], max_bytes: int) -> StudentContext:
    if not isinstance(raw, dict):
        raise InvalidInput("context must be a JSON object", field=field)
    size = len(json.dumps(raw, default=str))
    if size > max_bytes:
        raise InvalidInput(f"context is {size} bytes; the limit is {max_bytes}", field=field)
    try:
        return StudentContext.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        path = [*field, *(str(p) for p in first["loc"])]
        raise InvalidInput(f"{'.'.join(path)}: {first['msg']}", field=path) from None


async def start_session(
    db: Db, user_id: UUID, exam_type: str, syllabus: str, exam_date: datetime.date | None,
    *, max_syllabus_chars: int,
) -> SessionRecord:
    exam = clean_text(exam_type, ["input", "examType"], MAX_EXAM_TYPE_CHARS)
    text = clean_text(syllabus, ["input", "syllabus"], max_syllabus_chars)
    if exam_date is not None and exam_date < EARLIEST_EXAM_DATE:
        raise InvalidInput("examDate is implausibly early", field=["input", "examDate"])
    context = StudentContext(user_id=str(user_id)).model_dump(mode="json")
    data = {"exam_type": exam, "syllabus_chars": len(text),
            "exam_date": exam_date.isoformat() if exam_date else None}
    return await session_store.create_session(
        db, user_id, exam, exam_date, text, context, data,
        reasoning="The student named an exam and gave a syllabus.",
    )
