"""A threaded HTTP server on 127.0.0.1 for the fake APIs: every request goes to one ``handle`` function.

The replay servers (USAspending, SAM.gov) differ in what they answer, not in how they
serve: this module holds the serving, so each of them is only its API's rules.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class ApiError(Exception):
    """An answer other than the normal one; raised from deep in validation, turned into a response by the fake."""

    def __init__(self, status: int, body: Any, content_type: str = "application/json") -> None:
        super().__init__(status)
        self.status, self.body, self.content_type = status, body, content_type


@dataclass
class Stream:
    """A body written as it is produced, for answers no ``bytes`` can hold (see ``fakes/hostile.py``).

    ``chunks()`` gives the bytes to send (a new iterable per request; it may never end).
    ``length`` is the Content-Length announced (None: chunked transfer encoding, ended when
    the chunks end); ``headers`` are added to the answer's. With ``raw``, the chunks are the
    whole HTTP response, status line and headers included, written exactly as given.
    """

    chunks: Callable[[], Iterable[bytes]]
    length: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    raw: bool = False


def with_headers(body: bytes, headers: Mapping[str, str]) -> Stream:
    """A plain body with extra headers (``Retry-After``...), as a Stream."""
    return Stream(lambda: [body], len(body), headers)


@dataclass
class Fault:
    """Answer the ``nth`` request (1-based) whose path starts with ``path`` with this status and body.

    Status 0 drops the connection without any answer (a connection reset); ``sleep`` waits
    before answering (longer than the client's timeout: a timeout); ``times`` answers so
    that many requests in a row. A ``Stream`` body is written as it is produced (a slow,
    endless or huge answer, extra headers).
    """

    path: str
    nth: int
    status: int
    body: bytes | Stream = b""
    content_type: str = "application/json"
    times: int = 1
    sleep: float = 0.0


#: handle(method, path with query string, request body) -> (status, body, content type)
Handle = Callable[[str, str, bytes], tuple[int, bytes | Stream, str]]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    #: Set by ``close``: a stream in progress (an endless one) ends at its next chunk.
    closing: threading.Event


def serve(handle: Handle) -> tuple[ThreadingHTTPServer, str]:
    """Start serving on a free port in a daemon thread; returns the server (to ``close``) and its base URL."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out in two writes

        def log_message(self, *args: Any) -> None:
            pass

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""  # always drained: the connection stays usable
            try:
                status, body, ctype = handle(self.command, self.path, raw)
            except Exception:  # a bug in a fake answers like a real server's crash: 500, and the test sees it
                status, body, ctype = 500, b"<h1>Server Error (500)</h1>", "text/html"
            if status == 0:  # a fault: drop the connection without an answer (the client sees a reset)
                self.close_connection = True
                return
            if isinstance(body, Stream):
                self._stream(status, body, ctype)
                return
            self.send_response(status)
            if status != 204:  # a 204 carries neither a body nor a length
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD" and status != 204:
                self.wfile.write(body)

        def _stream(self, status: int, body: Stream, ctype: str) -> None:
            """Write a Stream chunk by chunk, until it ends, the client goes away or the server closes."""
            self.close_connection = True  # whatever happens, this connection serves no other request
            chunked = body.length is None and not body.raw
            if not body.raw:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                for name, value in body.headers.items():
                    self.send_header(name, value)
                if chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                else:
                    self.send_header("Content-Length", str(body.length))
                self.end_headers()
            try:
                for chunk in body.chunks():
                    if server.closing.is_set():
                        return
                    if chunk:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
                        self.wfile.flush()
                if chunked:
                    self.wfile.write(b"0\r\n\r\n")
            except OSError:  # the client gave up (a broken pipe, a reset): what a real server sees too
                return

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _answer

    server = _Server(("127.0.0.1", 0), Handler)
    server.closing = threading.Event()
    # A short poll interval keeps shutdown (and so every test's teardown) quick.
    threading.Thread(target=lambda: server.serve_forever(poll_interval=0.05), daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def close(server: ThreadingHTTPServer | None) -> None:
    if server is not None:
        if isinstance(server, _Server):
            server.closing.set()
        server.shutdown()
        server.server_close()


class Served:
    """Base of a fake API: ``start()`` serves ``answer`` on 127.0.0.1 and returns the base URL; a context manager."""

    _server: ThreadingHTTPServer | None = None

    def answer(self, method: str, target: str, body: bytes) -> tuple[int, bytes | Stream, str]:
        raise NotImplementedError

    def start(self) -> str:
        self._server, url = serve(self.answer)
        return url

    def stop(self) -> None:
        close(self._server)
        self._server = None

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
