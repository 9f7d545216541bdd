"""The GraphQL HTTP/websocket endpoint: strawberry's ASGI view with our context,
offline GraphiQL, and GraphQL-over-HTTP style JSON errors for malformed requests."""

from __future__ import annotations

from typing import Any

import orjson
from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.schema.exceptions import InvalidOperationTypeError

from app.auth import AuthError
from app.graphiql import graphiql_html
from app.services import Services
from schema.context import Context


def json_error(status: int, message: str, code: str) -> JSONResponse:
    return JSONResponse({"errors": [{"message": message, "extensions": {"code": code}}]},
                        status_code=status)


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
            response = await self.run(request)
        except HTTPException as exc:
            response = self._http_error(exc)
        await response(scope, receive, send)

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

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)
