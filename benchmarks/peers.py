"""anthropic-otel side by side with the other Anthropic instrumentations, in one run, on one SDK.

Each instrumentation lives in a venv of its own (`make bench-peers` builds them: the same anthropic, OpenTelemetry
SDK and Python in each) with one worker process per venv (`peer_worker.py`): the real SDK on an in-process
transport, `overhead.py`'s responses (rendered here once and handed to every worker as bytes), its workloads and its
pipeline (BatchSpanProcessor, periodic metric reader, batch log processor, exporters that drop what they get but
count it). Every instrumentation runs as its docs say for full telemetry with content capture off.

Three parts, in this order:
- **census**: what one call of each workload emits under each instrumentation (spans, histogram measurements,
  counters it adds to, log records), since they do not emit the same telemetry;
- **wall clock**: every round runs every (venv, configuration) pair once, in an order rotated by one from the
  round before, one worker at a time while the others wait; the added cost is paired by round against the `bare`
  (or `native`) configuration of the same worker, as in `overhead.py`;
- **instructions**: callgrind counts of each (venv, workload, configuration), a process each, repeating to
  0.01% where the wall clock of a shared machine moves by tens of points.

The ratios are to a bare call: `peer` against `bare` (native tracing off), and `native+peer` against `native`
(what the instrumentation adds on top of the SDK's own span), both over the bare median.

    .venvs/peer-anthropic-otel/bin/python benchmarks/peers.py --venv anthropic-otel=.venvs/peer-anthropic-otel \\
        --venv otel-genai=.venvs/peer-otel-genai --venv openllmetry=.venvs/peer-openllmetry --json out.json
    ... --quick                      # 4 rounds x 50 calls, 20 counted calls (a count is still a process each)
    ... --no-wall / --no-instructions / --workloads create "stream, 6 events"
    .venvs/peer-anthropic-otel/bin/python benchmarks/peers.py --markdown out.json    # its tables, as Markdown
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures
import glob
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any

import peer_worker  # benchmarks/, the script's own folder
from overhead import BODY, HEADERS, JSON_BODY, STREAMS, machine

HERE = os.path.dirname(os.path.abspath(__file__))
WORKER = os.path.join(HERE, "peer_worker.py")
WORKLOADS = list(peer_worker.WORKLOADS)
"""The workloads of `overhead.py`; `--workloads` keeps some of them."""
REFERENCE = {"peer": "bare", "native+peer": "native"}


def write_bodies(path: str) -> None:
    with open(path, "w") as out:
        json.dump(
            {
                "json": base64.b64encode(JSON_BODY).decode(),
                "streams": {str(events): base64.b64encode(body).decode() for events, body in STREAMS.items()},
                "headers": HEADERS,
                "request": BODY,
            },
            out,
        )


@dataclass
class Venv:
    name: str
    path: str

    @property
    def python(self) -> str:
        return os.path.join(self.path, "bin", "python")

    def command(self, bodies: str, *mode: str) -> list[str]:
        return [self.python, WORKER, "--peer", self.name, "--bodies", bodies, *mode]

    def environment(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith(("OTEL_", "TRACELOOP_"))}
        env.pop("ANTHROPIC_OPEN_TELEMETRY", None)
        env["PYTHONHASHSEED"] = "0"
        env.update(peer_worker.ENVIRONMENT.get(self.name, {}))
        return env


def run_census(venvs: list[Venv], bodies: str) -> dict[str, Any]:
    found = {}
    for venv in venvs:
        run = subprocess.run(
            venv.command(bodies, "census"), capture_output=True, text=True, env=venv.environment(), check=False
        )
        if run.returncode != 0:
            raise RuntimeError(f"the census of {venv.name} failed:\n{run.stderr[-3000:]}")
        found[venv.name] = json.loads(run.stdout.strip().splitlines()[-1])
    return found


class Process:
    """A worker in `serve` mode: one JSON line out, one back."""

    def __init__(self, venv: Venv, bodies: str) -> None:
        self.venv = venv
        self.process = subprocess.Popen(
            venv.command(bodies, "serve"),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=venv.environment(),
        )

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the {self.venv.name} worker died (exit {self.process.wait()})")
        return json.loads(line)  # type: ignore[no-any-return]

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=60)


Samples = dict[tuple[str, str, str], list[float]]
"""(venv, workload, configuration) -> the median of each round, in nanoseconds."""


def wall_clock(venvs: list[Venv], bodies: str, rounds: int, calls: int) -> tuple[Samples, dict[str, Any]]:
    workers = {venv.name: Process(venv, bodies) for venv in venvs}
    configs = {name: worker.ask({"op": "versions"})["configs"] for name, worker in workers.items()}
    units = [(name, config) for name in workers for config in configs[name]]
    medians: Samples = {}
    started = time.monotonic()
    for number in range(rounds + 1):  # round 0 warms every worker up and is not kept
        shift = number % len(units)
        for name, config in units[shift:] + units[:shift]:
            for workload in WORKLOADS:
                reply = workers[name].ask({"workload": workload, "config": config, "calls": calls})
                if number:
                    medians.setdefault((name, workload, config), []).append(statistics.median(reply["samples"]))
        print(f"  round {number}/{rounds} done, {time.monotonic() - started:.0f} s", file=sys.stderr)
    exported = {name: worker.ask({"op": "spans"}) for name, worker in workers.items()}
    for worker in workers.values():
        worker.close()
    return medians, exported


@dataclass
class Ratio:
    added: float
    ratio: float
    spread: float = 0.0
    """Wall clock only: the interquartile range of the per-round differences, as a ratio of the bare median."""


def paired(medians: Samples, venv: str, workload: str) -> dict[str, Ratio]:
    """`peer` against `bare` and `native+peer` against `native` of the same worker, paired by round."""
    bare = statistics.median(medians[(venv, workload, "bare")])
    found = {}
    for config, reference in REFERENCE.items():
        if (venv, workload, config) not in medians:
            continue
        differences = [
            mine - theirs
            for mine, theirs in zip(
                medians[(venv, workload, config)], medians[(venv, workload, reference)], strict=True
            )
        ]
        added = statistics.median(differences)
        quartiles = statistics.quantiles(differences, n=4) if len(differences) > 1 else [added, added, added]
        found[config] = Ratio(added / 1000, added / bare, (quartiles[2] - quartiles[0]) / bare)
    return found


def callgrind_count(venv: Venv, bodies: str, workload: str, config: str, *, low: int, high: int) -> int:
    """Instructions per call: (the `high` calls' count minus the `low` calls') over `high - low`."""
    with tempfile.TemporaryDirectory() as scratch:
        run = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                "--instr-atstart=no",
                f"--callgrind-out-file={scratch}/callgrind.out",
                *venv.command(bodies, "count", workload, config, str(low), str(high)),
            ],
            capture_output=True,
            text=True,
            env=venv.environment(),
            check=False,
        )
        totals = []
        for path in sorted(glob.glob(f"{scratch}/callgrind.out.*"), key=lambda name: int(name.rsplit(".", 1)[1])):
            with open(path) as dump:
                found = re.search(r"^totals: (\d+)", dump.read(), re.MULTILINE)
            if found:
                totals.append(int(found.group(1)))
    if run.returncode != 0 or len(totals) < 2:
        raise RuntimeError(f"callgrind counted nothing for {venv.name} / {workload} / {config}:\n{run.stderr[-2000:]}")
    return (totals[1] - totals[0]) // (high - low)


def instructions(
    venvs: list[Venv], bodies: str, configs: dict[str, list[str]], low: int, high: int
) -> dict[tuple[str, str, str], int]:
    # Workload by workload, so that a run cut short has every instrumentation's figures for the workloads it did.
    jobs = [(venv, workload, config) for workload in WORKLOADS for venv in venvs for config in configs[venv.name]]
    started = time.monotonic()

    def one(job: tuple[Venv, str, str]) -> int:
        venv, workload, config = job
        value = callgrind_count(venv, bodies, workload, config, low=low, high=high)
        print(f"  {venv.name} / {workload} / {config}: {value:,} ({time.monotonic() - started:.0f} s)", file=sys.stderr)
        return value

    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        counts = list(pool.map(one, jobs))
    return {(venv.name, workload, config): value for (venv, workload, config), value in zip(jobs, counts, strict=True)}


def counted(counts: dict[tuple[str, str, str], int], venv: str, workload: str) -> dict[str, Ratio]:
    bare = counts[(venv, workload, "bare")]
    return {
        config: Ratio(
            counts[(venv, workload, config)] - counts[(venv, workload, reference)],
            (counts[(venv, workload, config)] - counts[(venv, workload, reference)]) / bare,
        )
        for config, reference in REFERENCE.items()
        if (venv, workload, config) in counts
    }


def emitted(census: dict[str, Any], venv: str, workload: str, config: str) -> str:
    """One call's telemetry, short: spans (attributes, events), histogram measurements, log records."""
    found = census[venv]["census"][f"{workload} | {config}"]
    spans = "+".join(
        f"{span['attributes']}a" + (f"/{span['events']}e" if span["events"] else "") for span in found["spans"]
    )
    points = sum(value for name, value in found["metric_points"].items() if name.endswith("(histogram)"))
    sums = sum(name.endswith("(sum)") for name in found["metric_points"])
    return f"{len(found['spans'])} span ({spans or '-'}), {points} pts, {sums} counters, {len(found['logs'])} log"


def print_table(title: str, venvs: list[Venv], rows: dict[str, dict[str, str]], first: str) -> None:
    print(f"\n{title}")
    width = 22
    print(f"{'workload':30} {first:>10} " + " ".join(f"{venv.name:>{width}}" for venv in venvs))
    for workload, cells in rows.items():
        print(
            f"{workload:30} {cells.get(first, ''):>10} " + " ".join(f"{cells.get(v.name, ''):>{width}}" for v in venvs)
        )


def cell(ratios: dict[str, Ratio]) -> str:
    off = ratios.get("peer")
    on = ratios.get("native+peer")
    text = f"{off.ratio:+.1%}" if off else "-"
    return text + (f" / {on.ratio:+.1%}" if on else "")


def report_census(venvs: list[Venv], census: dict[str, Any], configs: dict[str, list[str]]) -> None:
    print(f"{machine()}; anthropic {census[venvs[0].name]['versions']['anthropic']}")
    for venv in venvs:
        print(f"  {venv.name}: " + ", ".join(f"{k} {v}" for k, v in census[venv.name]["versions"].items()))
    for config, title in (("peer", "native tracing off"), ("native+peer", "on top of the SDK's native span")):
        print(f"per call, {title}: spans (attributes/events), histogram measurements, counters moved, log records")
        for workload in WORKLOADS:
            shown = [
                f"{venv.name}: {emitted(census, venv.name, workload, config)}"
                for venv in venvs
                if config in configs[venv.name]
            ]
            print(f"  {workload:30} " + " | ".join(shown))


def report_wall(
    venvs: list[Venv], census: dict[str, Any], medians: Samples, exported: dict[str, Any], *, rounds: int, calls: int
) -> dict[str, Any]:
    rows: dict[str, dict[str, str]] = {}
    wall: list[dict[str, Any]] = []
    for workload in WORKLOADS:
        bare = statistics.median(medians[(venvs[0].name, workload, "bare")]) / 1000
        rows[workload] = {"bare us": f"{bare:.1f}"}
        for venv in venvs:
            ratios = paired(medians, venv.name, workload)
            rows[workload][venv.name] = cell(ratios)
            venv_bare = statistics.median(medians[(venv.name, workload, "bare")]) / 1000
            for config, ratio in ratios.items():
                entry = {"venv": venv.name, "workload": workload, "config": config, "bare_us": venv_bare}
                wall.append(entry | vars(ratio))
    title = f"wall clock, added to a bare call (paired by round, {rounds} x {calls}): native off / on top of native"
    print_table(title, venvs, rows, "bare us")
    spread = statistics.median(entry["spread"] for entry in wall)
    print(f"interquartile range of the per-round differences: median {spread:.1%} of a bare call")
    expected = {
        name: (rounds + 1)
        * calls
        * sum(len(found["spans"]) for key, found in census[name]["census"].items() if key.split(" | ")[0] in WORKLOADS)
        for name in exported
    }
    print(
        "spans exported by each worker, of those its census expects: "
        + ", ".join(f"{name} {found['spans']} of {expected[name]}" for name, found in exported.items())
    )
    return {"rounds": rounds, "calls": calls, "rows": wall, "exported": exported, "expected_spans": expected}


def report_instructions(
    venvs: list[Venv], configs: dict[str, list[str]], counts: dict[tuple[str, str, str], int], low: int, high: int
) -> dict[str, Any]:
    rows: dict[str, dict[str, str]] = {}
    counted_rows: list[dict[str, Any]] = []
    for workload in WORKLOADS:
        rows[workload] = {"bare": f"{counts[(venvs[0].name, workload, 'bare')]:,}"}
        for venv in venvs:
            ratios = counted(counts, venv.name, workload)
            rows[workload][venv.name] = cell(ratios)
            for config in configs[venv.name]:
                entry: dict[str, Any] = {
                    "venv": venv.name,
                    "workload": workload,
                    "config": config,
                    "instructions": counts[(venv.name, workload, config)],
                }
                if config in ratios:
                    entry |= {"added": ratios[config].added, "ratio": ratios[config].ratio}
                counted_rows.append(entry)
    title = f"instructions added to a bare call (callgrind, {high} - {low} calls): native off / on top of native"
    print_table(title, venvs, rows, "bare")
    return {"low": low, "high": high, "rows": counted_rows}


def markdown(figures: dict[str, Any]) -> str:
    """The tables of a JSON file this wrote, as Markdown (`--markdown FILE`), for benchmarks/RESULTS.md."""
    names = list(figures["versions"])
    lines: list[str] = []
    header = "| workload | bare | " + " | ".join(f"{name}: off / on native" for name in names) + " |"
    rule = "| --- " * (len(names) + 2) + "|"
    for part, value, unit in (("instructions", "instructions", "added"), ("wall_clock", "bare_us", "ratio")):
        if part not in figures:
            continue
        rows = figures[part]["rows"]
        lines += ["", f"{part}, {figures[part]['date']}:", "", header, rule]
        for workload in dict.fromkeys(row["workload"] for row in rows):
            mine = {(row["venv"], row["config"]): row for row in rows if row["workload"] == workload}
            if part == "instructions":
                bare = f"{mine[(names[0], 'bare')]['instructions']:,}"
                show = {key: f"{row[unit]:+,} ({row['ratio']:+.1%})" for key, row in mine.items() if "ratio" in row}
            else:
                bare = f"{mine[(names[0], 'peer')][value]:.0f} us"
                show = {key: f"{row['added']:+.0f} us ({row[unit]:+.1%})" for key, row in mine.items()}
            cells = [" / ".join(show[(name, c)] for c in REFERENCE if (name, c) in show) for name in names]
            lines.append(f"| {workload} | {bare} | " + " | ".join(cells) + " |")
    lines += ["", "| workload | " + " | ".join(names) + " |", "| --- " * (len(names) + 1) + "|"]
    for workload in dict.fromkeys(key.split(" | ")[0] for key in figures["census"][names[0]]):
        cells = []
        for name in names:
            census = {name: {"census": figures["census"][name]}}
            cells.append(" / ".join(emitted(census, name, workload, c) for c in REFERENCE))
        lines.append(f"| {workload} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--venv", action="append", metavar="NAME=PATH", help="one per instrumentation")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--calls", type=int, default=100, help="calls per workload, configuration and round")
    parser.add_argument("--count-calls", type=int, nargs=2, default=(5, 35), metavar=("LOW", "HIGH"))
    parser.add_argument("--quick", action="store_true", help="4 rounds x 50 calls, instructions of 5 and 25 calls")
    parser.add_argument("--no-wall", action="store_true")
    parser.add_argument("--no-instructions", action="store_true")
    parser.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=WORKLOADS)
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--markdown", metavar="FILE", help="only print the tables of a JSON file this wrote")
    args = parser.parse_args(argv)
    if args.markdown:
        with open(args.markdown) as source:
            print(markdown(json.load(source)))
        return 0
    if not args.venv:
        parser.error("--venv NAME=PATH is needed, once per instrumentation")
    WORKLOADS[:] = args.workloads
    venvs = [Venv(*spec.split("=", 1)) for spec in args.venv]
    rounds, calls, (low, high) = (4, 50, (5, 25)) if args.quick else (args.rounds, args.calls, args.count_calls)
    figures: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine()}
    figures["command"] = " ".join(sys.argv)
    with tempfile.TemporaryDirectory() as scratch:
        bodies = os.path.join(scratch, "bodies.json")
        write_bodies(bodies)
        census = run_census(venvs, bodies)
        configs = {
            name: list(dict.fromkeys(key.split(" | ")[1] for key in found["census"])) for name, found in census.items()
        }
        figures["versions"] = {name: found["versions"] for name, found in census.items()}
        figures["census"] = {name: found["census"] for name, found in census.items()}
        report_census(venvs, census, configs)
        if not args.no_wall:
            print(f"\nwall clock: {rounds} rounds x {calls} calls per (venv, workload, configuration)", file=sys.stderr)
            medians, exported = wall_clock(venvs, bodies, rounds, calls)
            figures["wall_clock"] = {"date": figures["date"]} | report_wall(
                venvs, census, medians, exported, rounds=rounds, calls=calls
            )
        if not args.no_instructions and shutil.which("valgrind") is None:
            print("instructions need valgrind (apt-get install valgrind); skipped")
        elif not args.no_instructions:
            print(f"\ninstructions: {high} minus {low} counted calls, per call", file=sys.stderr)
            counts = instructions(venvs, bodies, configs, low, high)
            figures["instructions"] = {"date": figures["date"]} | report_instructions(venvs, configs, counts, low, high)
    if args.json:  # a part measured alone (--no-wall, --no-instructions) replaces its own figures, keeping the rest
        earlier: dict[str, Any] = {}
        if os.path.exists(args.json):
            with open(args.json) as source:
                earlier = json.load(source)
        with open(args.json, "w") as out:
            json.dump(earlier | figures, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
