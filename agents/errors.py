"""The domain's expected errors. Each maps to one ``UserError.code`` of the API.

    StudyPilotError
    ├── NotFound           NOT_FOUND           absent, or not the caller's (never "forbidden")
    ├── InvalidInput       INVALID_INPUT       with the path of the offending field
    ├── InvalidTransition  INVALID_TRANSITION  names the current phase and the allowed moves
    ├── Conflict           CONFLICT            a concurrent writer changed the session first
    └── AgentFailed        AGENT_FAILED        the model kept failing (timeout, rate limit,
                                               provider error, or replies that never
                                               validate); ``reason`` says which. The
                                               session is left as it was.

Anything else is a fault: logged, and masked before it reaches a client.
"""

from __future__ import annotations

from collections.abc import Sequence


class StudyPilotError(Exception):
    code = "ERROR"

    def __init__(self, message: str, field: Sequence[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = list(field) if field is not None else None


class NotFound(StudyPilotError):
    code = "NOT_FOUND"


class InvalidInput(StudyPilotError):
    code = "INVALID_INPUT"


class InvalidTransition(StudyPilotError):
    code = "INVALID_TRANSITION"


class Conflict(StudyPilotError):
    code = "CONFLICT"


class AgentFailed(StudyPilotError):
    code = "AGENT_FAILED"

    def __init__(self, agent: str, reason: str, message: str) -> None:
        super().__init__(f"the {agent} agent failed ({reason}): {message}")
        self.agent = agent
        self.reason = reason  # TIMEOUT | RATE_LIMITED | PROVIDER_ERROR | INVALID_OUTPUT
