"""Instructions per call, counted by callgrind: deterministic where the clock of a shared VM is not.

The wall-clock figures of `overhead.py` move by ten points of ratio from one run to the next on this machine;
instruction counts repeat to within a percent. This runs each workload in each configuration of `overhead.py`
under `valgrind --tool=callgrind --instr-atstart=no`, switches counting on after a warm-up (`callgrind_control`),
makes the calls, and switches it off. Each pair is counted twice, with 300 and 100 calls: the difference, over
200, removes the fixed cost of switching.

    .venv/bin/python benchmarks/instructions.py                        # the table (`make bench` runs it)
    .venv/bin/python benchmarks/instructions.py --json out.json --workloads create "stream, 50 events"
    .venv/bin/python benchmarks/instructions.py --count create otel 300    # one count, run under valgrind

Instructions are not time. The plugin's Python runs at about half the instructions per cycle of the SDK's path
(pydantic-core, the HTTP library's parsing), so its share of the time is about twice its share of the
instructions. What the counts are for is comparing configurations, and one change with the next, exactly.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import gc
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import anthropic
from overhead import (
    CAPTURED,
    FLOOR,
    FLOOR_NO_SPAN,
    REFERENCES,
    WORKLOADS,
    capture_shapes,
    configurations,
    install_pipeline,
    instrument,
    machine,
    make_clients,
)

HERE = os.path.dirname(os.path.abspath(__file__))


def callgrind(switch: str) -> None:
    subprocess.run(["callgrind_control", "-i", switch, str(os.getpid())], capture_output=True, check=False)


def count(workload: str, config: str, calls: int) -> None:
    """Under valgrind: warms up, then counts `calls` calls of `workload` in `config`.

    The metric reader collects once, at shutdown, outside the count: a collection on a timer would land in some
    counts and not others, by how fast valgrind ran, and its cost is per interval, not per call."""
    install_pipeline(export_interval_millis=86_400_000)
    if config in (FLOOR, FLOOR_NO_SPAN):
        CAPTURED.append(capture_shapes())
    clients = make_clients(native="native" in config)
    if config not in ("bare", "native"):
        instrument(config)
    WORKLOADS[workload](clients, 200, [])
    gc.collect()
    callgrind("on")
    WORKLOADS[workload](clients, calls, [])
    callgrind("off")


def counted(workload: str, config: str, calls: int) -> int:
    """Instructions that callgrind collected for `calls` calls (plus the fixed cost of switching it on and off)."""
    with tempfile.TemporaryDirectory() as scratch:
        run = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                "--instr-atstart=no",
                f"--callgrind-out-file={scratch}/callgrind.out",
                sys.executable,
                os.path.join(HERE, "instructions.py"),
                "--count",
                workload,
                config,
                str(calls),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
    found = re.search(r"Collected : (\d+)", run.stderr)
    if found is None:
        raise RuntimeError(f"callgrind counted nothing for {workload!r} / {config!r}:\n{run.stderr[-2000:]}")
    return int(found.group(1))


def per_call(workload: str, config: str) -> int:
    return (counted(workload, config, 300) - counted(workload, config, 100)) // 200


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=list(WORKLOADS))
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--count", nargs=3, metavar=("WORKLOAD", "CONFIG", "CALLS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.count:
        workload, config, calls = args.count
        count(workload, config, int(calls))
        return 0
    if shutil.which("valgrind") is None:
        print("instructions.py needs valgrind (apt-get install valgrind); skipped")
        return 0
    configs = [config for config in configurations(breakdown=True) if config in ("bare", "native", *REFERENCES)]
    configs.append(FLOOR_NO_SPAN)
    jobs = [(workload, config) for workload in args.workloads for config in configs]
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        results = dict(zip(jobs, pool.map(lambda job: per_call(*job), jobs), strict=True))
    print(f"anthropic {anthropic.__version__} on {machine()}: instructions per call (callgrind)")
    print(f"{'workload':30} {'config':16} {'instructions':>13} {'added':>11} {'ratio':>8}")
    rows = []
    for workload, config in jobs:
        value = results[(workload, config)]
        reference = REFERENCES.get(config)
        added = value - results[(workload, reference)] if reference else None
        ratio = added / results[(workload, "bare")] if added is not None else None
        rows.append({"workload": workload, "config": config, "instructions": value, "added": added, "ratio": ratio})
        shown = f"{added:+11,}" if added is not None else " " * 11
        print(f"{workload:30} {config:16} {value:13,} {shown} {f'{ratio:+8.1%}' if ratio is not None else ''}")
    per_event: dict[str, float] = {}
    long, short = "stream, 50 events", "stream, 6 events"
    if all((workload, "bare") in results for workload in (long, short)):
        for config in configs:
            per_event[config] = (results[(long, config)] - results[(short, config)]) / 44
        for config in configs:
            reference = REFERENCES.get(config)
            added = f" ({per_event[config] - per_event[reference]:+,.0f})" if reference else ""
            print(f"per stream event, {config}: {per_event[config]:,.0f} instructions{added}")
    if args.json:
        with open(args.json, "w") as out:
            figures = {"anthropic": anthropic.__version__, "machine": machine(), "rows": rows, "per_event": per_event}
            json.dump(figures, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
