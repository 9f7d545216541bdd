"""Errors as the API shows them.

Business errors travel in payloads as ``UserError``; ``Unauthenticated`` is a top-level
error with ``extensions.code``; anything else is masked (unless ``STUDYPILOT_DEBUG``).
"""

from __future__ import annotations

import logging

import strawberry
from graphql import GraphQLError

from agents.errors import StudyPilotError

log = logging.getLogger("studypilot.errors")


@strawberry.type(description="A business error: the request was understood and refused.")
class UserError:
    code: str = strawberry.field(
        description="NOT_FOUND, INVALID_INPUT, INVALID_TRANSITION or CONFLICT.")
    message: str
    field: list[str] | None = strawberry.field(
        default=None, description="Path of the input field at fault, when there is one.")

    @classmethod
    def of(cls, error: StudyPilotError) -> UserError:
        return cls(code=error.code, message=error.message, field=error.field)


class RequestError(GraphQLError):
    """A refused query argument, shown with its code (queries have no userErrors)."""

    @classmethod
    def of(cls, error: StudyPilotError) -> RequestError:
        return cls(error.message, extensions={"code": error.code, "field": error.field})


class Unauthenticated(GraphQLError):
    def __init__(self, message: str) -> None:
        super().__init__(message, extensions={"code": "UNAUTHENTICATED"})


def should_mask(error: GraphQLError) -> bool:
    """Mask faults; keep validation errors and our own public errors."""
    original = error.original_error
    # None: parse/validation errors. GraphQLError: ours (auth, bad arguments) or coercion.
    return original is not None and not isinstance(original, GraphQLError)


def log_faults(errors: list[GraphQLError]) -> None:
    """Log the errors that are faults, with their traceback; the rest are the client's."""
    for error in errors:
        if should_mask(error):
            log.error("unexpected error at %s", error.path, exc_info=error.original_error)
