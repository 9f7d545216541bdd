"""The GraphQL HTTP/websocket endpoint: strawberry's ASGI view with our context,
offline GraphiQL, and GraphQL-over-HTTP style JSON errors for malformed requests."""

from __future__ import annotations

import logging
from typing import Any

import graphql
import orjson
from cross_web import HTTPException
from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.schema.exceptions import InvalidOperationTypeError

from app import idempotency
from app.auth import AuthError
from app.graphiql import graphiql_html
from app.services import Services
from schema.compiled import Fallback
from schema.context import Context
from schema.errors import Unauthenticated


def json_error(status: int, message: str, code: str) -> JSONResponse:
    return JSONResponse({"errors": [{"message": message, "extensions": {"code": code}}]},
                        status_code=status)


REPLAY_WAIT_S = 30.0
logger = logging.getLogger(__name__)


def _mutation_payload(body: bytes) -> tuple[object, object, object] | None:
    """(query, variables, operationName) when the body is a single mutation, else None."""
    try:
        data = orjson.loads(body)
        query = data["query"]
        document = graphql.parse(query)
        operation = graphql.get_operation_ast(document, data.get("operationName"))
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError, GraphQLError):
        return None
    if operation is None or operation.operation is not graphql.OperationType.MUTATION:
        return None
    return query, data.get("variables"), data.get("operationName")


class GraphQLView(GraphQL[Context, None]):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._ide = graphiql_html("/graphql")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            key = request.headers.get("idempotency-key")
            if key is not None and request.method == "POST":
                response = await self._idempotent(request, key)
            else:
                response = await self._compiled(request) or await self.run(request)
        except HTTPException as exc:
            response = self._http_error(exc)
        await response(scope, receive, send)

    async def _compiled(self, request: Request) -> Response | None:
        """The answer of a compiled read (schema/compiled.py), or None for the executor."""
        reads = getattr(self.schema, "compiled_reads", None)
        if (reads is None or request.method != "POST"
                or not request.headers.get("content-type", "").startswith("application/json")):
            return None
        try:
            data = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return None
        if not isinstance(data, dict) or not isinstance(query := data.get("query"), str):
            return None
        operation_name = data.get("operationName")
        variables = data.get("variables")
        if not (operation_name is None or isinstance(operation_name, str)) or not (
                variables is None or isinstance(variables, dict)):
            return None
        plan = reads.plan(query, operation_name)
        if plan is None:
            return None
        services: Services = request.app.state.services
        caller = Context(services=services, authorization=request.headers.get("authorization"))
        try:
            body = await reads.answer(plan, services.db, await caller.user_id(), variables)
        except (Unauthenticated, Fallback):
            return None
        except Exception:  # the executor answers (and logs it if it recurs)
            logger.warning("compiled read failed; the executor answers", exc_info=True)
            return None
        return Response(body, media_type="application/json")

    async def _idempotent(self, request: Request, key: str) -> Response:
        """Run a mutation once per (user, key); replay its response to retries."""
        if not 0 < len(key) <= idempotency.MAX_KEY_CHARS:
            return json_error(400, f"Idempotency-Key must be 1..{idempotency.MAX_KEY_CHARS} "
                                   "characters", "BAD_REQUEST")
        services: Services = request.app.state.services
        payload = _mutation_payload(await request.body())
        try:
            identity = services.authenticator.verify(request.headers.get("authorization"))
        except AuthError:
            payload = None  # the normal path answers UNAUTHENTICATED
        if payload is None:
            return await self.run(request)
        await services.users.ensure(identity)
        digest = idempotency.request_hash(*payload)
        db, user_id = services.db, identity.user_id
        if await idempotency.claim(db, user_id, key, digest, services.settings.idempotency_ttl_s):
            try:
                response = await self.run(request)
            except BaseException:
                await idempotency.release(db, user_id, key)
                raise
            await idempotency.store(db, user_id, key, response.status_code, bytes(response.body))
            return response
        stored = await idempotency.wait_for_response(db, user_id, key, REPLAY_WAIT_S)
        if stored is not None and stored.request_hash != digest:
            return json_error(422, "this Idempotency-Key was used for a different request",
                              "IDEMPOTENCY_KEY_REUSED")
        if stored is None or stored.response is None:
            return json_error(409, "a request with this Idempotency-Key is still running; "
                                   "retry later", "IDEMPOTENCY_IN_PROGRESS")
        return Response(stored.response, stored.status_code or 200,
                        media_type="application/json", headers={"idempotent-replayed": "true"})

    @staticmethod
    def _http_error(exc: HTTPException) -> Response:
        if exc.reason == "Unsupported content type":
            return json_error(415, "Unsupported Media Type: send application/json",
                              "UNSUPPORTED_MEDIA_TYPE")
        if exc.status_code == 405 or isinstance(exc.__cause__, InvalidOperationTypeError):
            response = json_error(405, exc.reason, "METHOD_NOT_ALLOWED")
            response.headers["allow"] = "POST"
            return response
        return json_error(exc.status_code, exc.reason, "BAD_REQUEST")

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        authorization = None if isinstance(request, WebSocket) else request.headers.get(
            "authorization")
        services: Services = request.app.state.services
        return Context(services=services, request=request, response=response,
                       authorization=authorization)

    async def on_ws_connect(self, context: Context) -> dict[str, object] | None:
        params = context.connection_params
        if not isinstance(params, dict):
            raise ConnectionRejectionError({"reason": "connection_init payload must be an object"})
        try:
            identity = context.services.authenticator.verify(params.get("Authorization"))
        except AuthError as exc:
            raise ConnectionRejectionError({"reason": str(exc)}) from None
        await context.services.users.ensure(identity)
        return None

    async def render_graphql_ide(self, request: Request) -> Response:
        return HTMLResponse(self._ide)

    def decode_json(self, data: str | bytes) -> object:
        return orjson.loads(data)  # invalid UTF-8 is a JSONDecodeError here, so a 400

    def encode_json(self, data: object) -> str:
        # A str, not bytes: strawberry sends bytes over websockets as binary frames, which
        # browser GraphQL clients (graphql-ws in GraphiQL) cannot parse.
        return orjson.dumps(data).decode()
