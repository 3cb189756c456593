"""The playground's HTTP server: the standard library's threading server on the loopback interface.

One page (``static/index.html``) and a small JSON API; nothing is fetched from anywhere, the page
included. Requests whose ``Host`` is not the loopback address are refused, so a web page elsewhere
cannot reach the server through DNS rebinding.
"""

from __future__ import annotations

import json
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from ..errors import InvalidArgumentError, TokenforgeError
from .playground import MAX_FILE_BYTES, Playground

__all__ = ["LOOPBACK", "PlaygroundServer", "start"]

LOOPBACK = "127.0.0.1"


def _page() -> bytes:
    return resources.files(__package__).joinpath("static", "index.html").read_bytes()


class _Handler(BaseHTTPRequestHandler):
    server: PlaygroundServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    # ------------------------------------------------------------------ plumbing

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, value: Any, status: int = HTTPStatus.OK) -> None:
        self._send(status, json.dumps(value, ensure_ascii=False).encode(), "application/json; charset=utf-8")

    def _error(self, status: int, message: str) -> None:
        self._json({"error": message}, status)

    def _trusted_host(self) -> bool:
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0]
        return host in (LOOPBACK, "localhost")

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_FILE_BYTES + 1024:
            raise InvalidArgumentError(f"request body of {length:,} bytes is too large")
        return self.rfile.read(length)

    def _body_json(self) -> dict[str, Any]:
        try:
            value = json.loads(self._body() or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InvalidArgumentError(f"the request body is not JSON: {exc}") from None
        if not isinstance(value, dict):
            raise InvalidArgumentError("the request body must be a JSON object")
        return value

    def _route(self, method: str) -> None:
        if not self._trusted_host():
            self._error(HTTPStatus.FORBIDDEN, "only requests to 127.0.0.1 are served")
            return
        url = urlparse(self.path)
        play = self.server.playground
        try:
            if method == "GET" and url.path in ("/", "/index.html"):
                self._send(HTTPStatus.OK, _page(), "text/html; charset=utf-8")
            elif method == "GET" and url.path == "/api/tokenizers":
                self._json({"tokenizers": play.tokenizers(), "selected": self.server.selected})
            elif method == "GET" and url.path == "/api/udhr":
                self._json({"languages": play.udhr_languages()})
            elif method == "GET" and url.path.startswith("/api/udhr/"):
                self._json({"text": play.udhr_sample(unquote(url.path.rsplit("/", 1)[1]))})
            elif method == "POST" and url.path == "/api/tokenize":
                body = self._body_json()
                text, names = body.get("text", ""), body.get("tokenizers", [])
                if not isinstance(text, str) or not isinstance(names, list):
                    raise InvalidArgumentError("expected {'text': str, 'tokenizers': [names]}")
                self._json(play.tokenize(text, [str(n) for n in names]))
            elif method == "POST" and url.path == "/api/load":
                filename = parse_qs(url.query).get("filename", ["tokenizer.json"])[0]
                self._json({"name": play.load_file(filename, self._body())})
            elif method == "POST" and url.path == "/api/train":
                body = self._body_json()
                self._json(play.start_training(str(body.get("text", "")), body.get("vocab_size")))
            elif method == "GET" and url.path.startswith("/api/train/"):
                self._json(play.training(url.path.rsplit("/", 1)[1]))
            elif method == "GET" and url.path == "/favicon.ico":
                self._send(HTTPStatus.NO_CONTENT, b"", "image/x-icon")
            else:
                self._error(HTTPStatus.NOT_FOUND, f"no such page: {method} {url.path}")
        except (TokenforgeError, KeyError) as exc:
            message = str(exc) if isinstance(exc, TokenforgeError) else f"unknown {exc}"
            self._error(HTTPStatus.BAD_REQUEST, message)

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")


class PlaygroundServer(ThreadingHTTPServer):
    """A threading HTTP server bound to 127.0.0.1 holding one :class:`Playground`."""

    daemon_threads = True

    def __init__(self, playground: Playground, port: int = 0, selected: list[str] | None = None) -> None:
        super().__init__((LOOPBACK, port), _Handler)
        self.playground = playground
        self.selected = selected or []
        self.verbose = False

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.server_address[1]}/"


def start(playground: Playground, port: int = 0, selected: list[str] | None = None) -> PlaygroundServer:
    """Starts a server in a background thread (``port=0``: any free port); ``shutdown()`` stops it."""
    server = PlaygroundServer(playground, port, selected)
    threading.Thread(target=server.serve_forever, name="tokenforge-serve", daemon=True).start()
    return server
