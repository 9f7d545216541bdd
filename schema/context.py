"""The per-request seam: services, the caller, and the request's DataLoaders."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from app.auth import AuthError, Identity
from app.services import Services
from schema.errors import Unauthenticated
from schema.loaders import Loaders


@dataclass
class Context:
    services: Services
    request: Any = None
    response: Any = None
    authorization: object = None
    connection_params: dict[str, Any] | None = None
    _identity: Identity | None = None
    _loaders: Loaders | None = field(default=None, repr=False)

    @property
    def db(self) -> Any:
        return self.services.db

    async def user_id(self) -> UUID:
        """The caller's id; raises the top-level UNAUTHENTICATED error when there is none."""
        if self._identity is None:
            authorization = self.authorization
            if self.connection_params is not None:
                authorization = self.connection_params.get("Authorization", authorization)
            try:
                identity = self.services.authenticator.verify(authorization)
            except AuthError as exc:
                raise Unauthenticated(str(exc)) from None
            await self.services.users.ensure(identity)
            self._identity = identity
        return self._identity.user_id

    async def loaders(self) -> Loaders:
        if self._loaders is None:
            self._loaders = Loaders(self.services.db, await self.user_id())
        return self._loaders
