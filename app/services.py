"""What the composition root builds once and hands down: the long-lived clients.

Part of the composition root (with app/main.py): it names the clients of every layer,
so it is the one module of app/ that imports agents/.
"""

from __future__ import annotations

from dataclasses import dataclass

from agents.autopilot import Autopilot
from agents.llm import LlmGateway
from agents.session_store import EventRecord
from app.auth import Authenticator
from app.database import Db
from app.events import EventHub
from app.settings import Settings
from app.users import UserDirectory


@dataclass
class Services:
    settings: Settings
    db: Db
    authenticator: Authenticator
    users: UserDirectory
    llm: LlmGateway
    hub: EventHub[EventRecord]
    autopilot: Autopilot
