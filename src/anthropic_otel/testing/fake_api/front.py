"""The public object: :class:`FakeAnthropic`, a fake API served from a background thread."""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from .replies import Reply
from .server import Server
from .simulation import Clock, Simulation
from .state import ModelsLike, ReceivedRequest, State, model_entries


class FakeAnthropic:
    """A fake Anthropic API on ``127.0.0.1`` and an ephemeral port, served from a background thread.

    Point the real SDK at :attr:`base_url`, script replies with :meth:`enqueue`, assert on :attr:`requests`.
    ``simulation`` chooses how much of the real API's behaviour is simulated (none by default: scripted numbers
    are rendered as given), ``clock`` is where time comes from (a :class:`~.simulation.FakeClock` to move it by
    hand), ``models`` what ``GET /v1/models`` lists (ids or model dicts; by default the current Claude models).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        simulation: Simulation | None = None,
        clock: Clock = time.time,
        models: ModelsLike | None = None,
    ) -> None:
        self._address = (host, port)
        self._state = State(simulation=simulation or Simulation(), clock=clock, models=model_entries(models))
        self._server: Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------------------------------

    def start(self) -> FakeAnthropic:
        if self._server is not None:
            raise RuntimeError("FakeAnthropic is already running")
        self._state.stopping.clear()
        self._server = Server(self._address, self._state)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # how long stop() may wait for the accept loop
            name=f"fake-anthropic:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        """Stop accepting, close every connection (idle keep-alive ones included) and join the threads."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._state.stopping.set()  # also cuts Reply.delay sleeps short
        server.shutdown()
        server.server_close()
        server.close_connections(timeout)
        thread.join(timeout)
        self._server = self._thread = None

    def __enter__(self) -> FakeAnthropic:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- where -------------------------------------------------------------------------------------------------------

    @property
    def host(self) -> str:
        return str(self._running.server_address[0])

    @property
    def port(self) -> int:
        return int(self._running.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``, for ``anthropic.Anthropic(base_url=...)``."""
        return self._running.base_url

    @property
    def _running(self) -> Server:
        if self._server is None:
            raise RuntimeError("FakeAnthropic is not running; use start() or a with block")
        return self._server

    # -- script ------------------------------------------------------------------------------------------------------

    def enqueue(self, *replies: Reply) -> None:
        """Append replies to the script; each request to a message endpoint takes the next one."""
        for reply in replies:
            if not isinstance(reply, Reply):
                raise TypeError(f"expected a Reply, got {reply!r}")
        with self._state.lock:
            self._state.script.extend(replies)

    @property
    def default(self) -> Reply:
        """The reply used when the script is empty (initially ``Reply.message()``)."""
        with self._state.lock:
            return self._state.default

    @default.setter
    def default(self, reply: Reply) -> None:
        if not isinstance(reply, Reply):
            raise TypeError(f"expected a Reply, got {reply!r}")
        with self._state.lock:
            self._state.default = reply

    @property
    def responder(self) -> Callable[[ReceivedRequest], Reply | None] | None:
        """Chooses the reply of each message request from the request (its headers, its body), ahead of the
        script; returning None leaves that request to the script. For clients that send concurrently, whose
        order of arrival, and so a first-in first-out script, is not reproducible. Called on the server's
        handler threads."""
        return self._state.responder

    @responder.setter
    def responder(self, responder: Callable[[ReceivedRequest], Reply | None] | None) -> None:
        self._state.responder = responder

    def clear(self) -> None:
        """Forget the script, the responder, the received requests, errors, batches, the prompt cache and id
        counters; restore the default reply, and the simulation and models given to the constructor."""
        self._state.clear()

    # -- how real ----------------------------------------------------------------------------------------------------

    @property
    def simulation(self) -> Simulation:
        """What the fake simulates; settable, e.g. ``api.simulation = Simulation(tokens=True)`` for one test."""
        with self._state.lock:
            return self._state.simulation

    @simulation.setter
    def simulation(self, simulation: Simulation) -> None:
        self._state.simulate(simulation)

    @property
    def clock(self) -> Clock:
        return self._state.clock

    @property
    def models(self) -> list[dict[str, Any]]:
        """What ``GET /v1/models`` lists, in order; settable from ids or model dicts."""
        with self._state.lock:
            return list(self._state.models)

    @models.setter
    def models(self, models: ModelsLike) -> None:
        entries = model_entries(models)
        with self._state.lock:
            self._state.models = entries

    # -- what happened -----------------------------------------------------------------------------------------------

    @property
    def requests(self) -> list[ReceivedRequest]:
        """Every request received, in arrival order (a snapshot)."""
        with self._state.lock:
            return list(self._state.requests)

    @property
    def errors(self) -> list[BaseException]:
        """Unexpected exceptions inside the server (client disconnects excluded), for debugging a test."""
        with self._state.lock:
            return list(self._state.errors)

    def format_errors(self) -> str:
        """The server errors with their tracebacks, for an assertion message."""
        return "\n".join("".join(traceback.format_exception(error)) for error in self.errors)

    def __repr__(self) -> str:
        where = self._server.base_url if self._server else "stopped"
        return f"FakeAnthropic({where}, {len(self.requests)} requests)"
