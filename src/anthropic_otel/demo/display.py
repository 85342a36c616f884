"""What the demo prints: a live progress display while the day runs, then the report as tables.

On a terminal, `rich` draws a bar per scenario and live counters read from the latest metrics collection; when
stdout is not a terminal (a pipe, a CI log), progress is a plain line every few simulated hours and the tables are
drawn in ASCII without colour, so that the output reads the same in a file.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich import box
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table

from .. import names as n
from .driver import Progress as Step
from .driver import day_time
from .pipeline import Point
from .report import calls_of, spend_of, total

PLAIN_LINES = 8
"""Progress lines per run when stdout is not a terminal."""


def counters(points: list[Point]) -> str:
    calls = calls_of(points)
    failed = calls_of(points, lambda point: point.get(n.ERROR_TYPE) is not None)
    retried = int(total(points, "anthropic.client.attempts", lambda point: point.get(n.ATTEMPT_RETRIED) is True))
    return f"calls {calls}  spend ${spend_of(points):.2f}  errors {failed}  retries {retried}"


class Live:
    """Progress for the two runs: a bar per scenario on a terminal, a line now and then elsewhere."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress: Progress | None = None
        self.tasks: dict[tuple[str, str], Any] = {}
        self.status: dict[str, Any] = {}
        self.next_line: dict[str, int] = {}

    @contextmanager
    def showing(self) -> Iterator[Live]:
        if self.console.is_terminal:
            self.progress = Progress(
                TextColumn("{task.description:<16}"),
                BarColumn(bar_width=24),
                TextColumn("{task.fields[count]:>9}"),
                TextColumn("{task.fields[info]}"),
                console=self.console,
            )
            with self.progress:
                yield self
        else:
            yield self

    def __call__(self, step: Step) -> None:
        info = f"{day_time(step.at)}  {counters(step.sample.points)}" if step.sample is not None else ""
        if self.progress is None:
            every = max(step.duration // PLAIN_LINES, 60)
            due = self.next_line.get(step.run, every)
            if step.sample is not None and step.at >= due:
                self.next_line[step.run] = (step.at // every + 1) * every
                self.console.print(f"{step.run:<6} {info}", highlight=False)
            elif step.sample is None:
                self.console.print(f"{step.run:<6} done", highlight=False)
            return
        if step.run not in self.status:
            self.status[step.run] = self.progress.add_task(f"{step.run} run", total=step.duration, count="", info="")
            for scenario, planned in step.planned.items():
                self.tasks[step.run, scenario] = self.progress.add_task(
                    f"  {scenario}", total=planned, count="", info=""
                )
        live = {"info": counters(step.sample.points)} if step.sample is not None else {}
        self.progress.update(self.status[step.run], completed=step.at, count=day_time(step.at), **live)
        for scenario, done in step.done.items():
            self.progress.update(
                self.tasks[step.run, scenario], completed=done, count=f"{done}/{step.planned[scenario]}"
            )


def money(value: float) -> str:
    """Dollars and cents; below a cent, to a hundredth of one, so that a cheap feature's spend (a classifier on
    Haiku) shows what it costs rather than $0.00."""
    if value == 0 or abs(value) >= 0.01:
        return f"${value:,.2f}"
    return f"${value:.4f}"


def percent(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value * 100:.{digits}f}%"


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f} ms"


def pairs(counts: dict[str, int]) -> str:
    return ", ".join(f"{key} {value}" for key, value in counts.items()) or "-"


def quantiles(values: dict[str, float | None], *keys: str) -> str:
    return " / ".join(ms(values[key]) for key in keys)


def table(title: str, *columns: str, plain: bool) -> Table:
    result = Table(title=title, box=box.ASCII if plain else box.SIMPLE_HEAVY, title_justify="left")
    for index, column in enumerate(columns):
        result.add_column(column, justify="left" if index == 0 else "right")
    return result


def render(report: dict[str, Any], console: Console) -> None:
    """The report as tables, each figure the JSON's."""
    plain = not console.is_terminal
    spend = report["spend_usd"]
    tables = []

    features = table("Spend by feature", "feature", "before", "after", "change", plain=plain)
    for feature, values in report["spend_by_feature"].items():
        change = (values["after"] / values["before"] - 1) if values["before"] else None
        features.add_row(feature, money(values["before"]), money(values["after"]), percent(change))
    features.add_row(
        "total",
        money(spend["before"]),
        money(spend["after"]),
        percent(spend["after"] / spend["before"] - 1 if spend["before"] else None),
    )
    tables.append(features)

    models = table("Spend by model", "model", "before", "after", plain=plain)
    for model, values in report["spend_by_model"].items():
        models.add_row(model, money(values["before"]), money(values["after"]))
    tables.append(models)

    levers = table("Savings", "lever", "on", "before", "after", "saved", "saved %", "case study", plain=plain)
    names = {"caching": "prompt caching", "batching": "Message Batches", "input_validation": "input validation"}
    scopes = {"caching": "chat features", "total": "the whole bill"}
    for lever, values in report["savings"].items():
        scope = scopes.get(lever) or ", ".join(values["features"])
        levers.add_row(
            names.get(lever, "total"), scope, money(values["before_usd"]), money(values["after_usd"]),
            money(values["usd"]), f"-{values['percent']:.1f}%", f"-{values['case_study_percent']:.0f}%",
        )  # fmt: skip
    tables.append(levers)

    cache, batch = report["cache"], report["batch"]
    money_table = table("Cache and batch", "figure", "value", plain=plain)
    money_table.add_row("cache hit ratio (prefix tokens read / cached)", percent(cache["hit_ratio"]))
    money_table.add_row("cache-write premium paid", money(cache["write_premium_usd"]))
    money_table.add_row("cache savings, net of the premium", money(cache["savings_usd"]))
    money_table.add_row("batch cost", money(batch["cost_usd"]))
    money_table.add_row("what the batch saved", money(batch["saved_usd"]))
    tables.append(money_table)

    runs = report["reliability"]["by_run"]
    reliability = table("Reliability", "figure", "before", "after", plain=plain)
    rows = [
        ("calls", lambda r: str(r["calls"])),
        ("error rate (after retries)", lambda r: percent(r["error_rate"], 2)),
        ("masked error rate (retried attempts / calls)", lambda r: percent(r["masked_error_rate"])),
        ("retries by error type", lambda r: pairs(r["retries_by_error_type"])),
        ("failed calls by error type", lambda r: pairs(r["failed_by_error_type"])),
        ("stopped at max_tokens", lambda r: percent(r["max_tokens_share"])),
        ("latency p50 / p95 / p99", lambda r: quantiles(r["seconds"], "p50", "p95", "p99")),
        ("time to first token p50 / p95", lambda r: quantiles(r["time_to_first_token_seconds"], "p50", "p95")),
    ]  # fmt: skip
    for label, cell in rows:
        reliability.add_row(label, cell(runs["before"]), cell(runs["after"]))
    tables.append(reliability)

    anomalies = table("Token anomalies", "run", "at", "feature", "input tokens", "average", "trace id", plain=plain)
    for item in report["anomalies"]:
        anomalies.add_row(
            item["run"],
            item["at"],
            item["feature"],
            f"{item['input_tokens']:,}",
            f"{item['average_tokens']:,.0f}",
            item["trace_id"],
        )
    tables.append(anomalies)

    alerts = table(
        "Alerts that would have fired (first time; how often)",
        "run",
        "at",
        "alert",
        "why",
        "times",
        "example trace",
        plain=plain,
    )
    alerts.columns[3].justify = "left"
    for shown_table in (anomalies, alerts):
        shown_table.columns[-1].no_wrap = True
        shown_table.columns[-1].min_width = 32
    for item in report["alerts"]:
        alerts.add_row(
            item["run"], item["fired_at"], item["name"], item["reason"], str(item["episodes"]), item["trace_id"] or "-"
        )
    tables.append(alerts)

    for index, shown in enumerate(tables):
        console.print(shown)
        if shown is reliability:
            console.print(report["reliability"]["note"], highlight=False)
        if index < len(tables) - 1:
            console.print()
    total_saving = report["savings"]["total"]
    console.print(
        f"\nThe day cost {money(spend['before'])} before and {money(spend['after'])} after: "
        f"-{total_saving['percent']:.1f}% (the case study: -35%).",
        highlight=False,
    )
