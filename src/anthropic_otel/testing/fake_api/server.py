"""The HTTP side: a threading HTTP/1.1 server, the state its handler threads share, and one request being answered.

HTTP/1.1 with keep-alive because the SDK pools connections; chunked bodies written one chunk per event so that
streams really stream; prompt shutdown because a test suite starts and stops many servers.
"""

from __future__ import annotations

import contextlib
import json
import socket
import socketserver
import struct
import sys
import threading
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

from .endpoints import Batch, Route, resolve
from .render import (
    JSON_CONTENT_TYPE,
    SSE_CONTENT_TYPE,
    Event,
    HeaderItems,
    dumps,
    encode_event,
    merge_headers,
    rate_limit_headers,
)
from .replies import MessageReply, Reply

REASONS: Mapping[int, str] = {529: "Overloaded"}

# --------------------------------------------------------------------------------------------------------------------
# What the server received
# --------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceivedRequest:
    """One request as the server saw it, so tests can assert on what the SDK really sent (retries included)."""

    method: str
    path: str
    """The request target, query string included (e.g. ``/v1/messages?beta=true``)."""
    headers: dict[str, str]
    """Header names lower-cased; a repeated header keeps its last value."""
    body: bytes
    json: object | None
    """The body decoded as JSON, or None when empty or not JSON."""


# --------------------------------------------------------------------------------------------------------------------
# Shared server state
# --------------------------------------------------------------------------------------------------------------------


@dataclass
class State:
    """Everything handler threads share, behind one lock."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)
    script: deque[Reply] = field(default_factory=deque)
    default: Reply = field(default_factory=Reply.message)
    requests: list[ReceivedRequest] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)
    batches: dict[str, Batch] = field(default_factory=dict)

    def clear(self) -> None:
        with self.lock:
            self.script.clear()
            self.default = Reply.message()
            self.requests.clear()
            self.errors.clear()
            self.counters.clear()
            self.batches.clear()

    def new_id(self, prefix: str) -> str:
        """Deterministic ids, one counter per prefix: ``req_fake_000001``, ``msg_fake_000001``, ..."""
        with self.lock:
            self.counters[prefix] = number = self.counters.get(prefix, 0) + 1
        return f"{prefix}_{number:06d}"

    def take(self, policy: Literal["any", "faults", "none"]) -> Reply | None:
        """The reply for the next request: message endpoints take anything (else the default), others only faults."""
        with self.lock:
            if policy == "any":
                return self.script.popleft() if self.script else self.default
            if policy == "faults" and self.script and self.script[0].fault:
                return self.script.popleft()
            return None

    def record(self, request: ReceivedRequest) -> None:
        with self.lock:
            self.requests.append(request)

    def record_error(self, error: BaseException) -> None:
        with self.lock:
            self.errors.append(error)


# --------------------------------------------------------------------------------------------------------------------
# One request being answered
# --------------------------------------------------------------------------------------------------------------------


class Exchange:
    """A request and the means to answer it: what replies and endpoints are allowed to do to the connection."""

    def __init__(self, handler: Handler, request: ReceivedRequest, route: Route, params: dict[str, str]) -> None:
        self.handler = handler
        self.request = request
        self.state = handler.server.state
        self.base_url = handler.server.base_url
        self._route = route
        self._params = params
        self._request_id: str | None = None
        self.started = False

    @property
    def request_id(self) -> str:
        """This request's ``request-id``, allocated when first needed so only answered requests use a number."""
        if self._request_id is None:
            self._request_id = self.state.new_id("req_fake")
        return self._request_id

    @property
    def body(self) -> dict[str, Any]:
        return self.request.json if isinstance(self.request.json, dict) else {}

    def answer(self, reply: MessageReply | None) -> None:
        """The endpoint's own answer, shaped by ``reply`` (a message reply, or None when nothing was scripted)."""
        self._route.answer(self, self._params, reply)

    # -- writing -----------------------------------------------------------------------------------------------------

    def send(self, status: int, headers: Iterable[tuple[str, str]], body: bytes) -> None:
        self._start(status, [*headers, ("content-length", str(len(body)))])
        self._write(body)

    def send_json(
        self, status: int, payload: object, extra: Iterable[tuple[str, str]] = (), *, success: bool = False
    ) -> None:
        headers = [("content-type", JSON_CONTENT_TYPE), *(rate_limit_headers() if success else [])]
        self.send(status, merge_headers(headers, extra), dumps(payload).encode())

    def send_error(
        self,
        status: int,
        error_type: str,
        message: str,
        extra: Iterable[tuple[str, str]] = (),
        *,
        retry_after: str | None = None,
    ) -> None:
        body = {"type": "error", "error": {"type": error_type, "message": message}, "request_id": self.request_id}
        headers = [("retry-after", retry_after)] if retry_after is not None else []
        self.send_json(status, body, merge_headers(headers, extra))

    def send_events(self, events: Iterable[Event], extra: HeaderItems = (), *, complete: bool = True) -> None:
        headers = [("content-type", SSE_CONTENT_TYPE), ("cache-control", "no-cache"), *rate_limit_headers()]
        self.send_chunks(200, merge_headers(headers, extra), map(encode_event, events), complete=complete)

    def send_chunks(
        self, status: int, headers: Iterable[tuple[str, str]], chunks: Iterable[bytes], *, complete: bool = True
    ) -> None:
        """Chunked transfer encoding, one chunk per item, each written (and so flushed) as soon as it is ready.

        ``complete=False`` closes the connection instead of sending the terminating chunk.
        """
        self._start(status, [*headers, ("transfer-encoding", "chunked")])
        for chunk in chunks:
            if chunk:  # an empty chunk would end the body
                self._write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        if complete:
            self._write(b"0\r\n\r\n")
        else:
            self.handler.close_connection = True
            self.handler.connection.shutdown(socket.SHUT_RDWR)

    def reset(self) -> None:
        """Close with SO_LINGER 0, so the kernel sends a RST instead of a FIN."""
        handler = self.handler
        handler.close_connection = True
        handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        handler.rfile.close()  # the reader holds a reference that would otherwise delay the real close
        handler.connection.close()

    def sleep(self, seconds: float) -> None:
        self.state.stopping.wait(seconds)

    def _start(self, status: int, headers: list[tuple[str, str]]) -> None:
        handler = self.handler
        handler.send_response_only(status, REASONS.get(status))
        names = {name.lower() for name, _ in headers}
        request_id = self.request_id  # allocated even when a replayed recording brings its own
        defaults = [("request-id", request_id), ("date", formatdate(usegmt=True))]
        for name, value in [*headers, *((n, v) for n, v in defaults if n not in names)]:
            handler.send_header(name, value)
        handler.end_headers()
        self.started = True

    def _write(self, data: bytes) -> None:
        self.handler.wfile.write(data)


# --------------------------------------------------------------------------------------------------------------------
# HTTP plumbing
# --------------------------------------------------------------------------------------------------------------------


class Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive (the SDK pools connections); silent, because tests read stderr too."""

    protocol_version = "HTTP/1.1"
    server_version = "fake-anthropic"
    disable_nagle_algorithm = True  # small SSE chunks must not wait for delayed ACKs
    server: Server

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request log lines on stderr."""

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _dispatch(self) -> None:
        request = ReceivedRequest(
            method=self.command,
            path=self.path,
            headers={name.lower(): value for name, value in self.headers.items()},
            body=(body := self._read_body()),
            json=decode_json(body),
        )
        state = self.server.state
        state.record(request)
        route, params = resolve(request.method, request.path)
        exchange = Exchange(self, request, route, params)
        reply = state.take(route.consumes)
        try:
            if reply is None:
                exchange.answer(None)
            else:
                reply.respond(exchange)
        except ConnectionError:  # the client went away (timeout, cancelled stream): nothing to report
            self.close_connection = True
        except Exception as error:
            state.record_error(error)
            self.close_connection = True
            if not exchange.started:  # tell the client too, as a 500 it can show
                with contextlib.suppress(OSError):
                    exchange.send_error(500, "api_error", f"fake server error: {error!r}")

    def _read_body(self) -> bytes:
        length = self.headers.get("content-length")
        if length is not None:
            return self.rfile.read(int(length))
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            return b"".join(iter(self._read_chunk, b""))
        return b""

    def _read_chunk(self) -> bytes:
        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
        data = self.rfile.read(size) if size else b""
        self.rfile.readline()  # the CRLF after the data (or after the last, empty chunk)
        return data


def decode_json(body: bytes) -> object | None:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None


class Server(ThreadingHTTPServer):
    """A threading server that can stop promptly: it knows its open connections and handler threads."""

    daemon_threads = True
    block_on_close = False  # we join our own handler threads, with a timeout
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], state: State) -> None:
        self.state = state
        self._open: set[socket.socket] = set()
        self._handler_threads: set[threading.Thread] = set()
        self._track = threading.Lock()
        super().__init__(address, Handler)
        host, port = self.server_address[:2]
        self.base_url = f"http://{host}:{port}"

    def server_bind(self) -> None:
        """Bind without HTTPServer's ``socket.getfqdn`` call, which can hang for seconds without DNS."""
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._track:  # registered by the accept loop, so stop() cannot miss a connection accepted just before
            self._open.add(request)
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        with self._track:
            self._handler_threads.add(threading.current_thread())
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._track:
                self._handler_threads.discard(threading.current_thread())

    def shutdown_request(self, request: Any) -> None:
        with self._track:
            self._open.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet about clients that disconnect; keeps anything else in ``FakeAnthropic.errors`` instead of stderr."""
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError) or (isinstance(error, OSError) and self.state.stopping.is_set()):
            return
        if error is not None:
            self.state.record_error(error)

    def close_connections(self, timeout: float) -> None:
        """Wake handler threads blocked on idle keep-alive connections, then wait for them to finish."""
        with self._track:
            connections, threads = list(self._open), list(self._handler_threads)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        for thread in threads:
            thread.join(timeout)
