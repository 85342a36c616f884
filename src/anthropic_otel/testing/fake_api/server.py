"""The HTTP side: a threading HTTP/1.1 server, the state its handler threads share, and one request being answered.

HTTP/1.1 with keep-alive because the SDK pools connections; chunked bodies written one chunk per event so that
streams really stream; prompt shutdown because a test suite starts and stops many servers.
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import socketserver
import struct
import sys
import threading
from collections.abc import Iterable, Mapping, Sequence
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

from .endpoints import Route, resolve
from .render import (
    EVENT_STREAM_CONTENT_TYPE,
    JSON_CONTENT_TYPE,
    SSE_CONTENT_TYPE,
    Event,
    HeaderItems,
    bedrock_chunk,
    bedrock_exception,
    dumps,
    encode_event,
    merge_headers,
    rate_limit_headers,
    render_message,
)
from .replies import MessageReply
from .simulation import simulate_usage
from .state import ReceivedRequest, State

Ending = Literal["complete", "close", "reset"]


def _bedrock_encode(event: Event) -> bytes:
    name, data = event
    if name == "error":
        return bedrock_exception(str(data["error"]["type"]), str(data["error"]["message"]))
    return bedrock_chunk(event)


REASONS: Mapping[int, str] = {529: "Overloaded"}

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
        self.eventstream = False
        """Whether streams travel in AWS event-stream framing (Bedrock) rather than as SSE."""

    @property
    def request_id(self) -> str:
        """This request's ``request-id``, allocated when first needed so only answered requests use a number."""
        if self._request_id is None:
            self._request_id = self.state.new_id("req_fake")
        return self._request_id

    @property
    def body(self) -> dict[str, Any]:
        return self.request.json if isinstance(self.request.json, dict) else {}

    def now(self) -> float:
        return self.state.clock()

    def render(
        self, reply: MessageReply, body: Mapping[str, Any], model: str, *, service_tier: str | None = None
    ) -> dict[str, Any]:
        """The message ``reply`` renders for a request ``body``, its counts derived when the fake simulates them."""
        if self.state.simulation.tokens:
            with self.state.lock:
                reply = simulate_usage(reply, body, model, self.state.cache, self.now())
        msg_id = reply.id or self.state.new_id("msg_fake")
        return render_message(reply, msg_id=msg_id, model=model, new_id=self.state.new_id, service_tier=service_tier)

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

    def send_message(self, message: Mapping[str, Any], extra: Iterable[tuple[str, str]] = ()) -> None:
        """A message as JSON, after the simulated time to write it."""
        usage = message.get("usage")
        output_tokens = usage.get("output_tokens") if isinstance(usage, dict) else None
        self.sleep(self.state.pacer.before_json(output_tokens if isinstance(output_tokens, int) else 0))
        self.send_json(200, message, extra, success=True)

    def event_headers(self) -> list[tuple[str, str]]:
        kind = EVENT_STREAM_CONTENT_TYPE if self.eventstream else SSE_CONTENT_TYPE
        return [("content-type", kind), ("cache-control", "no-cache"), *rate_limit_headers()]

    def send_events(self, events: Sequence[Event], extra: HeaderItems = (), *, end: Ending = "complete") -> None:
        """A stream of events, paced by the simulated latency, as SSE or (Bedrock) AWS event-stream messages."""
        encode = _bedrock_encode if self.eventstream else encode_event
        waits = self.state.pacer.before_events(events)
        chunks = [encode(event) for event in events]
        self.send_chunks(200, merge_headers(self.event_headers(), extra), chunks, end=end, waits=waits)

    def send_chunks(
        self,
        status: int,
        headers: Iterable[tuple[str, str]],
        chunks: Iterable[bytes],
        *,
        end: Ending = "complete",
        waits: Sequence[float] = (),
    ) -> None:
        """Chunked transfer encoding, one chunk per item, each written (and so flushed) as soon as it is ready.

        ``waits[i]`` seconds pass before chunk ``i``. ``end`` sends the terminating chunk (``complete``), or cuts
        the body short: ``close`` shuts the connection down cleanly, ``reset`` resets it.
        """
        self._start(status, [*headers, ("transfer-encoding", "chunked")])
        for index, chunk in enumerate(chunks):
            if index < len(waits) and waits[index] > 0:
                self.sleep(waits[index])
            if chunk:  # an empty chunk would end the body
                self._write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        if end == "complete":
            self._write(b"0\r\n\r\n")
        elif end == "close":
            self.handler.close_connection = True
            self.handler.connection.shutdown(socket.SHUT_RDWR)
        else:
            self.handler.wfile.flush()
            self.reset()

    def reset(self) -> None:
        """Close with SO_LINGER 0, so the kernel sends a RST instead of a FIN."""
        handler = self.handler
        handler.close_connection = True
        handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        handler.rfile.close()  # the reader holds a reference that would otherwise delay the real close
        handler.connection.close()

    def sleep(self, seconds: float) -> None:
        self.state.stopping.wait(seconds)

    def hang(self) -> None:
        """Hold the connection, answering nothing, until the client closes it or the server stops."""
        connection = self.handler.connection
        while not self.state.stopping.is_set():
            readable, _, _ = select.select([connection], [], [], 0.05)
            if readable and not connection.recv(1, socket.MSG_PEEK):
                break  # the client closed its end
        self.handler.close_connection = True

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
        route, params = resolve(request.method, request.path)
        if route.recorded:
            state.record(request)
        exchange = Exchange(self, request, route, params)
        reply = state.take(route.consumes, request)
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
