"""`anthropic-otel`: the command line. Each subcommand lives in the module named for what it does.

A subcommand's module exposes `add_arguments(parser)` and `run(args) -> int`; it is imported only when it runs,
so `anthropic-otel prices` needs neither the OpenTelemetry SDK nor the operations bundle.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Sequence

COMMANDS: dict[str, tuple[str, str]] = {
    # name: (module, one-line help)
    "prices": ("anthropic_otel.prices_cli", "show the price table, or how a model id resolves"),
    "bundle": ("anthropic_otel.ops.bundle", "render the operations bundle (collector, Prometheus, Grafana, compose)"),
    "demo": ("anthropic_otel.demo", "replay a day of traffic against the bundled fake API and report its cost"),
}


def installed(module_name: str) -> bool:
    try:
        return importlib.util.find_spec(module_name) is not None
    except ModuleNotFoundError:  # its parent package is missing
        return False


def available() -> dict[str, tuple[str, str]]:
    """The subcommands whose module is installed."""
    return {name: entry for name, entry in COMMANDS.items() if installed(entry[0])}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="anthropic-otel", description="OpenTelemetry for the Anthropic SDK.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, summary) in available().items():
        sub = commands.add_parser(name, help=summary, description=summary)
        sub.set_defaults(module=module_name)
        importlib.import_module(module_name).add_arguments(sub)
    args = parser.parse_args(argv)
    try:
        return int(importlib.import_module(args.module).run(args) or 0)
    except BrokenPipeError:  # `anthropic-otel prices | head`: the reader has what it wanted
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
