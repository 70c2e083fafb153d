"""``llmtrace serve``'s OTLP/HTTP side: the server, its request handler, and request bodies.

A body comes with a ``Content-Length`` (the Python and Go exporters) or in chunks
(``Transfer-Encoding: chunked``: the Node exporter streams its body, with no length); either
may be gzipped. A body that cannot be read (a chunk cut off, a size line that is not hex) or
that is larger than ``MAX_BODY`` gets the OTLP error response, is counted as malformed, and
ends the connection, since what is left of it on the socket is not the next request.
"""

from __future__ import annotations

import gzip
import socket
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from google.rpc import code_pb2, status_pb2

__all__ = ["MAX_BODY", "BodyTooLarge", "HTTPServer", "http_handler", "read_chunked"]

MAX_BODY = 64 * 1024 * 1024
_MAX_LINE = 4096  # a chunk size line or a trailer, with any extensions


class _Stream(Protocol):
    def read(self, size: int, /) -> bytes: ...
    def readline(self, size: int, /) -> bytes: ...


class BodyTooLarge(ValueError):
    """A request body over ``MAX_BODY``."""


def read_chunked(stream: _Stream, limit: int = MAX_BODY) -> bytes:
    """A chunked request body (RFC 9112 section 7.1), its trailers read and dropped.
    ``ValueError`` when it is not chunked as the RFC says, ``BodyTooLarge`` past ``limit``."""
    parts: list[bytes] = []
    total = 0
    while True:
        line = stream.readline(_MAX_LINE)
        if not line.endswith(b"\n"):
            raise ValueError("a chunk size line is cut off or too long")
        size = int(line.split(b";", 1)[0].strip() or b"-", 16)  # "" and junk: ValueError
        if size < 0:
            raise ValueError(f"a negative chunk size: {line!r}")
        if size == 0:
            break
        total += size
        if total > limit:
            raise BodyTooLarge(f"a chunked body over {limit} bytes")
        data = stream.read(size)
        if len(data) != size or stream.readline(_MAX_LINE) not in (b"\r\n", b"\n"):
            raise ValueError("a chunk is cut off or not followed by CRLF")
        parts.append(data)
    while True:  # trailers, up to the empty line
        line = stream.readline(_MAX_LINE)
        if line in (b"\r\n", b"\n"):
            return b"".join(parts)
        if not line.endswith(b"\n"):
            raise ValueError("the chunked body's trailers are cut off")


class HTTPServer(ThreadingHTTPServer):
    """A thread per connection (an exporter keeps its connection open). Many exporters may
    connect at once (a fleet starting, a collector's fan-in): a deeper listen backlog than
    socketserver's 5, so that none waits out a SYN retry while the accept loop waits for the
    GIL."""

    daemon_threads = True
    request_queue_size = 128


def _status_body(code: int, message: str) -> bytes:
    body: bytes = status_pb2.Status(code=code, message=message).SerializeToString()
    return body


def _http_head(status: int, date: str, length: int, close: bool) -> bytes:
    connection = "Connection: close\r\n" if close else ""
    return (
        f"HTTP/1.1 {status} {BaseHTTPRequestHandler.responses[status][0]}\r\n"
        f"Date: {date}\r\nContent-Type: application/x-protobuf\r\n"
        f"{connection}"
        f"Content-Length: {length}\r\n\r\n"
    ).encode("ascii")


class _Handler(BaseHTTPRequestHandler):
    """OTLP/HTTP requests for ``receiver`` (a ``TraceReceiver``: ``authorized``, ``counts``,
    ``ingest``), set on the subclass ``http_handler`` makes."""

    receiver: Any
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # counted, not logged
        pass

    def setup(self) -> None:
        super().setup()  # replies go out whole (below), at once: no Nagle wait on them
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _reply(self, status: int, body: bytes) -> None:
        """Status line, headers and body in one write (one segment, one system call)."""
        date = self.date_time_string()
        head = _http_head(status, date, len(body), self.close_connection)
        self.wfile.write(head + body)

    def _refuse(self, status: int, code: int, message: str, counted: str | None) -> None:
        if counted is not None:
            self.receiver.counts.add(**{counted: 1})
        self._reply(status, _status_body(code, message))

    def _body(self) -> bytes | None:
        """The request's body; None when it could not be read (answered, counted, and the
        connection ends: the rest of the body is still on it)."""
        chunked = "chunked" in (self.headers.get("Transfer-Encoding") or "").lower()
        try:
            if chunked:
                return read_chunked(self.rfile)
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                raise BodyTooLarge(f"{length} bytes")
            return self.rfile.read(length) if length > 0 else b""
        except BodyTooLarge:
            problem, status = "payload too large", 413
        except ValueError as exc:
            problem, status = f"the request body cannot be read: {exc}", 400
        self.close_connection = True
        self._refuse(status, code_pb2.INVALID_ARGUMENT, problem, "malformed_requests")
        return None

    def do_POST(self) -> None:
        body = self._body()
        if body is None:
            return
        if self.path.split("?")[0] != "/v1/traces":
            self._refuse(404, code_pb2.NOT_FOUND, "POST spans to /v1/traces", None)
            return
        if not self.receiver.authorized(self.headers.get("Authorization")):
            message = "a bearer token is required"
            self._refuse(401, code_pb2.UNAUTHENTICATED, message, "unauthorized_requests")
            return
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip()
        if content_type != "application/x-protobuf":
            message = f"content type {content_type!r}: send application/x-protobuf"
            self._refuse(415, code_pb2.INVALID_ARGUMENT, message, "malformed_requests")
            return
        try:
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
        except (OSError, EOFError, zlib.error) as exc:
            message = f"bad gzip body: {exc}"
            self._refuse(400, code_pb2.INVALID_ARGUMENT, message, "malformed_requests")
            return
        response, problem = self.receiver.ingest(body)
        if problem is not None:
            self._reply(400, _status_body(code_pb2.INVALID_ARGUMENT, problem))
            return
        self._reply(200, response.SerializeToString())


def http_handler(receiver: Any) -> type[BaseHTTPRequestHandler]:
    """The handler class for ``receiver``'s HTTP server."""
    return type("Handler", (_Handler,), {"receiver": receiver})
