"""``python -m anthropic_otel.testing.fake_api``: the fake in the foreground, for demos and other processes."""

from __future__ import annotations

import argparse
import contextlib
import threading
from collections.abc import Sequence

from .front import FakeAnthropic


def main(argv: Sequence[str] | None = None) -> int:
    """Run the fake API in the foreground until Ctrl-C, for demos: point ``ANTHROPIC_BASE_URL`` at it."""
    parser = argparse.ArgumentParser(prog="python -m anthropic_otel.testing.fake_api", description=main.__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    args = parser.parse_args(argv)
    with FakeAnthropic(args.host, args.port) as api:
        print(api.base_url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0
