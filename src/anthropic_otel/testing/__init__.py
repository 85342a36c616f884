"""Test helpers shipped with the package: a fake Anthropic API server and recorded API interactions.

Names are imported lazily (PEP 562), so that importing the package stays cheap: the fake server is only loaded
by the tests and demos that use it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .fake_api import FakeAnthropic, FakeClock, Latency, ReceivedRequest, Reply, Simulation
    from .recordings import Recording, cassette_dir, load_cassette

__all__ = [
    "FakeAnthropic",
    "FakeClock",
    "Latency",
    "ReceivedRequest",
    "Recording",
    "Reply",
    "Simulation",
    "cassette_dir",
    "load_cassette",
]

_HOMES = {
    "FakeAnthropic": ".fake_api",
    "FakeClock": ".fake_api",
    "Latency": ".fake_api",
    "Simulation": ".fake_api",
    "ReceivedRequest": ".fake_api",
    "Reply": ".fake_api",
    "Recording": ".recordings",
    "cassette_dir": ".recordings",
    "load_cassette": ".recordings",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
