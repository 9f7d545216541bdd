"""Bearer-token auth: HS256 JWTs whose ``sub`` is the user's id (Supabase-compatible).

The same ``Authorization: Bearer <jwt>`` string is accepted in an HTTP header and in a
websocket ``connection_init`` payload. With no secret configured, one is generated into
the data dir (0600) on first start and reused after.
"""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import jwt

from app.settings import Settings

ALGORITHM = "HS256"
LOCAL_USER_NAMESPACE = uuid.UUID("6f1c1d2e-5a7b-4c8d-9e0f-a1b2c3d4e5f6")


class AuthError(Exception):
    """The request's credentials are missing or not acceptable."""


@dataclass(frozen=True)
class Identity:
    user_id: uuid.UUID
    email: str | None


def resolve_secret(settings: Settings) -> str:
    """The configured secret, or the one kept in (and if need be created in) the data dir."""
    if settings.jwt_secret is not None:
        return str(settings.jwt_secret)
    path = Path(settings.data_dir) / "jwt_secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        candidate = secrets.token_urlsafe(48)
        try:
            fd = path.open("x", encoding="utf-8")
        except FileExistsError:  # another process won the race: use theirs
            return path.read_text(encoding="utf-8").strip()
        with fd:
            path.chmod(0o600)
            fd.write(candidate)
    return path.read_text(encoding="utf-8").strip()


def local_user_id(email: str) -> uuid.UUID:
    """A stable user id for an email, so ``studypilot token`` always names one user."""
    return uuid.uuid5(LOCAL_USER_NAMESPACE, email.strip().lower())


class Authenticator:
    """Mints and verifies tokens; a verified token is remembered until it expires (a
    bounded cache), so a client reusing one token pays for HS256 once."""

    def __init__(self, secret: str, audience: str | None = None, cache_size: int = 10_000
                 ) -> None:
        self._secret = secret
        self._audience = audience
        self._verified: dict[str, tuple[Identity, float]] = {}
        self._cache_size = cache_size

    def mint(self, user_id: uuid.UUID, email: str | None, ttl_seconds: int = 30 * 86400) -> str:
        now = int(time.time())
        claims: dict[str, object] = {"sub": str(user_id), "iat": now, "exp": now + ttl_seconds}
        if email:
            claims["email"] = email
        if self._audience:
            claims["aud"] = self._audience
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def verify(self, authorization: object) -> Identity:
        """Check an ``Authorization`` value ("Bearer <jwt>"); raise ``AuthError`` if bad."""
        if isinstance(authorization, str):
            known = self._verified.get(authorization)
            if known is not None and known[1] > time.time():
                return known[0]
        identity, expires = self._decode(authorization)
        assert isinstance(authorization, str)
        if len(self._verified) >= self._cache_size:
            self._verified.pop(next(iter(self._verified)))
        self._verified[authorization] = (identity, expires)
        return identity

    def _decode(self, authorization: object) -> tuple[Identity, float]:
        if not isinstance(authorization, str) or not authorization.strip():
            raise AuthError("missing credentials: send 'Authorization: Bearer <token>'")
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError("malformed Authorization value: expected 'Bearer <token>'")
        try:
            claims = jwt.decode(
                token.strip(), self._secret, algorithms=[ALGORITHM], audience=self._audience,
                options={"require": ["sub"], "verify_aud": self._audience is not None},
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthError("token expired") from exc
        except jwt.InvalidTokenError as exc:
            raise AuthError(f"invalid token: {exc}") from exc
        try:
            user_id = uuid.UUID(str(claims["sub"]))
        except ValueError as exc:
            raise AuthError("invalid token: sub is not a UUID") from exc
        email = claims.get("email")
        expires = float(claims["exp"]) if isinstance(claims.get("exp"), int | float) \
            else time.time() + 300  # no exp: re-check every five minutes
        return Identity(user_id, email if isinstance(email, str) else None), expires
