"""The ``studypilot`` command: serve, migrate, token, schema."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from app.settings import Settings, SettingsError


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from app.main import create_app

    settings = settings.replace(host=args.host or settings.host, port=args.port or settings.port)
    uvicorn.run(
        create_app(settings), host=settings.host, port=settings.port, loop="uvloop",
        http="httptools", lifespan="on", log_level=settings.log_level,
        access_log=settings.access_log, ws_per_message_deflate=settings.ws_compression,
        timeout_graceful_shutdown=30,
    )
    return 0


def _migrate(settings: Settings, args: argparse.Namespace) -> int:
    from app.main import open_services

    async def run() -> None:
        async with open_services(settings):
            pass  # opening applies the migrations

    asyncio.run(run())
    print("migrations up to date")
    return 0


def _token(settings: Settings, args: argparse.Namespace) -> int:
    from app.auth import Authenticator, local_user_id, resolve_secret

    auth = Authenticator(resolve_secret(settings), settings.jwt_audience)
    user_id = local_user_id(args.email)
    print(auth.mint(user_id, args.email, ttl_seconds=args.ttl_days * 86400))
    return 0


def _schema(settings: Settings, args: argparse.Namespace) -> int:
    from schema import build_schema

    print(build_schema(settings).as_str())
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="studypilot", description="StudyPilot GraphQL API")
    sub = p.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the API (embedded PostgreSQL if no DATABASE_URL)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.set_defaults(func=_serve)
    sub.add_parser("migrate", help="apply sql/ migrations and exit").set_defaults(func=_migrate)
    token = sub.add_parser("token", help="print a bearer token for EMAIL (local use)")
    token.add_argument("email")
    token.add_argument("--ttl-days", type=int, default=30)
    token.set_defaults(func=_token)
    sub.add_parser("schema", help="print the GraphQL SDL").set_defaults(func=_schema)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        print(f"studypilot: bad setting {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    result: int = args.func(settings, args)
    return result


if __name__ == "__main__":
    sys.exit(main())
