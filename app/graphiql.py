"""Offline GraphiQL page for StudyPilot, served from vendored assets.

Vendored into ``app/static/graphiql/`` (see VERSIONS.txt there for sha256 sums
and the refresh commands): graphiql@3.9.0 (UMD bundle, which already contains
the ``graphql-ws`` client used for subscriptions), react@18.3.1 and
react-dom@18.3.1 (UMD production builds). The page loads nothing from any
external host.

Usage (the app mounts the assets itself)::

    Mount(ASSETS_PATH, app=StaticFiles(directory=ASSETS_DIR))
    HTMLResponse(graphiql_html("/graphql"))
"""

from __future__ import annotations

import json
from pathlib import Path

ASSETS_DIR: Path = Path(__file__).resolve().parent / "static" / "graphiql"
ASSETS_PATH = "/graphiql-assets"

DEFAULT_HEADERS = """{
  "Authorization": "Bearer <token from: studypilot token you@example.com>"
}"""

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>StudyPilot GraphiQL</title>
<style>html, body, #graphiql { height: 100%; margin: 0; }</style>
<link rel="stylesheet" href="__ASSETS__/graphiql.min.css">
</head>
<body>
<div id="graphiql">Loading GraphiQL…</div>
<script src="__ASSETS__/react.production.min.js"></script>
<script src="__ASSETS__/react-dom.production.min.js"></script>
<script src="__ASSETS__/graphiql.min.js"></script>
<script>
  const url = new URL(__ENDPOINT__, window.location.href);
  const wsUrl = new URL(url.href);
  wsUrl.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  // GraphiQL 3.9 opens a new graphql-ws client per subscription and sends
  // {...wsConnectionParams, ...<headers editor JSON>} as the connection_init
  // payload, so an Authorization header typed in the editor reaches the
  // websocket too; no extra wiring is needed.
  const fetcher = GraphiQL.createFetcher({ url: url.href, subscriptionUrl: wsUrl.href });
  ReactDOM.createRoot(document.getElementById("graphiql")).render(
    React.createElement(GraphiQL, {
      fetcher,
      isHeadersEditorEnabled: true,
      defaultHeaders: __HEADERS__,
      defaultEditorToolsVisibility: "headers",
    })
  );
</script>
</body>
</html>
"""


def _js_string(value: str) -> str:
    """A JS string literal that is also safe inside an inline <script>."""
    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e")


def graphiql_html(endpoint: str = "/graphql") -> str:
    """Return the GraphiQL page for ``endpoint`` (HTTP; its ws/wss twin for subscriptions)."""
    return (
        _PAGE.replace("__ASSETS__", ASSETS_PATH)
        .replace("__HEADERS__", _js_string(DEFAULT_HEADERS))
        .replace("__ENDPOINT__", _js_string(endpoint))
    )
