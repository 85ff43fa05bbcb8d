"""`bench view`'s web server: the standard library's threading HTTP server,
bound to 127.0.0.1 unless told otherwise, answering the app's files and
four JSON routes, nothing else (no path from a URL ever reaches the disk):

  /                      the app (bench/view/static/)
  /api/runs              every run: name, model, suite, strategy, scaling
  /api/problems?run=I    run I's problem list
  /api/problem?run=I&id=P   one problem of run I
"""

from __future__ import annotations

import errno
import json
import sys
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from bench.errors import UsageError
from bench.view.data import RunView
from bench.view.pages import prices_for, problem_list, problem_page

STATIC = Path(__file__).parent / "static"
FILES = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/index.html": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/app.css": ("app.css", "text/css; charset=utf-8"),
}
# The page runs only our own script: a chain that smuggled markup in could not run any.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


class Viewer:
    """The runs, and the JSON each route answers."""

    def __init__(self, runs: list[RunView]) -> None:
        self.runs = runs

    def answer(self, path: str, query: dict[str, list[str]]) -> Any:
        if path == "/api/runs":
            return [run.describe() for run in self.runs]
        run = self._run(query)
        if path == "/api/problems":
            return problem_list(run)
        if path == "/api/problem":
            pid = (query.get("id") or [""])[0]
            page = problem_page(run, pid, prices=prices_for(run))
            if page is None:
                raise LookupError(f"run {run.name} has no problem {pid!r}")
            return page
        raise LookupError(f"no such page: {path}")

    def _run(self, query: dict[str, list[str]]) -> RunView:
        value = (query.get("run") or [""])[0]
        if not value.isdigit() or int(value) >= len(self.runs):
            raise LookupError(f"run={value!r}: give 0..{len(self.runs) - 1}")
        return self.runs[int(value)]


def _handler(viewer: Viewer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "thinkbench-view"

        def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
            url = urlsplit(self.path)
            if url.path in FILES:
                name, kind = FILES[url.path]
                return self._send(HTTPStatus.OK, (STATIC / name).read_bytes(), kind)
            if not url.path.startswith("/api/"):
                return self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain")
            try:
                body = viewer.answer(url.path, parse_qs(url.query))
            except LookupError as exc:
                return self._json(HTTPStatus.NOT_FOUND, {"error": str(exc)})
            except Exception as exc:  # a damaged part, a half-written file: say so, keep serving
                return self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"{exc}"})
            return self._json(HTTPStatus.OK, body)

        def _json(self, status: HTTPStatus, body: Any) -> None:
            data = json.dumps(body, allow_nan=False, default=str).encode()
            self._send(status, data, "application/json")

        def _send(self, status: HTTPStatus, data: bytes, kind: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            for key, value in SECURITY_HEADERS.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            return None  # the terminal keeps the URL line, not a line per request

    return Handler


def make_server(runs: list[RunView], host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """The server, bound; port 0 takes a free one. A port in use is one line."""
    if not 0 <= port <= 65535:
        raise UsageError(f"--port {port} is not a port; give 1..65535, or 0 for any free one")
    try:
        server = ThreadingHTTPServer((host, port), _handler(Viewer(runs)))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise UsageError(
                f"port {port} on {host} is in use; pick another with --port N (or --port 0 for any free one)"
            ) from None
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    server.daemon_threads = True
    return server


def serve(runs: list[RunView], host: str, port: int) -> int:
    server = make_server(runs, host, port)
    bound_host, bound_port = server.server_address[:2]
    print(f"bench view: http://{bound_host}:{bound_port}/  (Ctrl-C stops it)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("", file=sys.stderr)
    finally:
        server.server_close()
    return 0
