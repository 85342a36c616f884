"""``python -m anthropic_otel.testing.fake_api``: the fake in the foreground, for demos and other processes."""

from __future__ import annotations

import argparse
import contextlib
import signal
import threading
import time
from collections.abc import Sequence

from .control import SpecError, load_scenario
from .front import FakeAnthropic
from .simulation import Clock, FakeClock, Latency, Simulation

_DESCRIPTION = """\
Run the fake Anthropic API on 127.0.0.1 until interrupted (Ctrl-C). The first line printed is its base URL:
point ANTHROPIC_BASE_URL (or base_url=) at it.

Script it from another process with a scenario file, or over HTTP:
  POST /_fake/enqueue   a reply spec or a list of them, e.g. {"reply": "rate_limited", "retry_after": 0.01}
  POST /_fake/default   the reply used when the script is empty
  POST /_fake/clear     forget the script, the requests received, batches and the prompt cache
  GET  /_fake/requests  what was received (method, path, headers, json, body_base64)
  POST /_fake/clock     {"advance": seconds}, with --fake-clock

A scenario (JSON, or YAML for .yaml/.yml) is a list of reply specs, or {"script": [...], "default": {...}}.
A spec names a reply with "reply" (message, error, overloaded, rate_limited, reset, delay, hang, malformed_json,
truncated_stream, stream_error, reset_mid_stream, huge, non_utf8), gives its arguments, and "repeat": N.
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m anthropic_otel.testing.fake_api",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    parser.add_argument("--scenario", metavar="FILE", help="enqueue the replies of this JSON or YAML scenario")
    parser.add_argument(
        "--realistic",
        action="store_true",
        help="derive tokens from requests, simulate prompt caching, validate requests like the API",
    )
    parser.add_argument("--first-token", type=float, default=0.0, metavar="S", help="seconds to the first token")
    parser.add_argument("--tokens-per-second", type=float, default=0.0, metavar="N", help="output speed (0: instant)")
    parser.add_argument("--jitter", type=float, default=0.0, metavar="F", help="scale waits by [1-F, 1+F]")
    parser.add_argument("--seed", type=int, default=0, help="seed of the jitter")
    parser.add_argument("--batch-seconds", type=float, default=0.0, metavar="S", help="batch processing time")
    parser.add_argument("--fake-clock", action="store_true", help="time moves only by POST /_fake/clock")
    return parser


def stop_on_signals() -> None:
    """Ctrl-C (SIGINT) and `docker stop` (SIGTERM) end the server, even when the process that started this one
    ignored or blocked them: a child inherits both the disposition and the mask of its parent's signals."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, interrupt)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})


def main(argv: Sequence[str] | None = None) -> int:
    """Run the fake API in the foreground until Ctrl-C; 2 for a scenario that cannot be read."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        script, default = load_scenario(args.scenario) if args.scenario else ([], None)
    except (OSError, SpecError, ValueError) as error:
        parser.error(f"--scenario {args.scenario}: {error}")
    latency = Latency(args.first_token, args.tokens_per_second, args.jitter, args.seed)
    simulation = Simulation(
        tokens=args.realistic, validate=args.realistic, latency=latency, batch_seconds=args.batch_seconds
    )
    clock: Clock = FakeClock() if args.fake_clock else time.time
    stop_on_signals()
    api = FakeAnthropic(args.host, args.port, simulation=simulation, clock=clock)
    with api:
        api.enqueue(*script)
        if default is not None:
            api.default = default
        print(api.base_url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0
