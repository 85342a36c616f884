"""What the server's handler threads share: the script, what was received, and the simulated API's memory
(prompt cache, batches, models), behind one lock."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .replies import Reply
from .simulation import Clock, Pacer, Simulation
from .tokens import PromptCache

MODELS: tuple[tuple[str, str, str], ...] = (
    # (id, display name, released): what GET /v1/models lists by default, newest first, as the API orders them.
    ("claude-opus-4-5-20251101", "Claude Opus 4.5", "2025-11-24T00:00:00Z"),
    ("claude-haiku-4-5-20251001", "Claude Haiku 4.5", "2025-10-15T00:00:00Z"),
    ("claude-sonnet-4-5-20250929", "Claude Sonnet 4.5", "2025-09-29T00:00:00Z"),
    ("claude-opus-4-1-20250805", "Claude Opus 4.1", "2025-08-05T00:00:00Z"),
    ("claude-opus-4-20250514", "Claude Opus 4", "2025-05-22T00:00:00Z"),
    ("claude-sonnet-4-20250514", "Claude Sonnet 4", "2025-05-22T00:00:00Z"),
    ("claude-3-7-sonnet-20250219", "Claude Sonnet 3.7", "2025-02-24T00:00:00Z"),
    ("claude-3-5-haiku-20241022", "Claude Haiku 3.5", "2024-10-22T00:00:00Z"),
    ("claude-3-haiku-20240307", "Claude Haiku 3", "2024-03-07T00:00:00Z"),
)

ModelsLike = Iterable[str | Mapping[str, Any]]


def model_entries(models: ModelsLike | None) -> list[dict[str, Any]]:
    """Model objects as the API lists them, from ids (display name = id) or complete dicts; None: :data:`MODELS`."""
    if models is None:
        return [
            {"type": "model", "id": id, "display_name": name, "created_at": created} for id, name, created in MODELS
        ]
    known = {id: (name, created) for id, name, created in MODELS}
    entries = []
    for model in models:
        if isinstance(model, str):
            name, created = known.get(model, (model, "2025-01-01T00:00:00Z"))
            entries.append({"type": "model", "id": model, "display_name": name, "created_at": created})
        else:
            entries.append({"type": "model", **model})
    return entries


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


@dataclass
class State:
    """Everything handler threads share, behind one lock. ``clear`` returns it to how it was constructed."""

    simulation: Simulation = field(default_factory=Simulation)
    clock: Clock = time.time
    models: list[dict[str, Any]] = field(default_factory=lambda: model_entries(None))
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)
    script: deque[Reply] = field(default_factory=deque)
    default: Reply = field(default_factory=Reply.message)
    requests: list[ReceivedRequest] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)
    batches: dict[str, Any] = field(default_factory=dict)
    """Message batches by id (:class:`~.batches.Batch`)."""
    cache: PromptCache = field(default_factory=PromptCache)
    responder: Callable[[ReceivedRequest], Reply | None] | None = None
    """Chooses the reply of a message request from the request itself, before the script: for clients that send
    concurrently, where the order of arrival, and so a first-in first-out script, is not reproducible."""

    def __post_init__(self) -> None:
        self._initial = (self.simulation, list(self.models))
        self.pacer = Pacer(self.simulation.latency)

    def simulate(self, simulation: Simulation) -> None:
        with self.lock:
            self.simulation = simulation
            self.pacer = Pacer(simulation.latency)

    def clear(self) -> None:
        self.simulate(self._initial[0])
        with self.lock:
            self.models = list(self._initial[1])
            self.script.clear()
            self.default = Reply.message()
            self.requests.clear()
            self.errors.clear()
            self.counters.clear()
            self.batches.clear()
            self.cache.clear()
            self.responder = None

    def new_id(self, prefix: str) -> str:
        """Deterministic ids, one counter per prefix: ``req_fake_000001``, ``msg_fake_000001``, ..."""
        with self.lock:
            self.counters[prefix] = number = self.counters.get(prefix, 0) + 1
        return f"{prefix}_{number:06d}"

    def take(self, policy: Literal["any", "faults", "none"], request: ReceivedRequest | None = None) -> Reply | None:
        """The reply for the next request: message endpoints take the responder's choice, else anything scripted
        (else the default); other endpoints only scripted faults."""
        responder = self.responder
        if policy == "any" and responder is not None and request is not None:
            chosen = responder(request)
            if chosen is not None:
                return chosen
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
