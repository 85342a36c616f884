"""Draw the main panels of the bundle's Grafana dashboard from a live Prometheus, as a PNG (no Grafana needed).

Each panel's own PromQL, legend and threshold are read from the dashboard JSON; template variables are replaced as
Grafana does (the service given, All for environment, model and feature, `$__rate_interval` as given) and every
query is run as a range query over [--start, --end]. Needs matplotlib (`pip install matplotlib`); the
end-to-end test (tests/ops/test_end_to_end.py) runs this when ANTHROPIC_OTEL_PICTURE names the PNG to write:

    ANTHROPIC_OTEL_PICTURE=docs/dashboard.png .venv/bin/python -m pytest -q tests/ops/test_end_to_end.py

or by hand against any Prometheus that scrapes the plugin's series:

    python tools/dashboard_picture.py --prometheus http://127.0.0.1:9090 --service checkout --out dashboard.png
"""

from __future__ import annotations

import argparse
import json
import re
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# The panels drawn, by their stable ids (anthropic_otel.ops.alerts.PANEL_* and grafana.py), in reading order.
PANELS = (2, 3, 4, 5, 21, 22, 30, 31, 33, 34, 35, 6)
COLUMNS = 3
# Drawn on a log scale: spend, budget and the day's forecast differ by orders of magnitude.
LOG_SCALE = frozenset({2})
UNITS = {
    "currencyUSD": ("USD", lambda v: f"${v:,.3g}"),
    "percentunit": ("%", lambda v: f"{v * 100:.3g}%"),
    "s": ("s", lambda v: f"{v:.3g} s"),
    "reqps": ("per s", lambda v: f"{v:.3g}/s"),
    "x": ("x budget pace", lambda v: f"{v:.3g}x"),
    "short": ("", lambda v: f"{v:.3g}"),
}


def substitute(expr: str, service: str, rate_interval: str, range_: str) -> str:
    return (
        expr.replace("$__rate_interval", rate_interval)
        .replace("$__interval", rate_interval)
        .replace("$__range", range_)
        .replace("$service", service)
        .replace("$environment", ".*")
        .replace("$model", ".*")
        .replace("$feature", ".*")
    )


def query_range(prometheus: str, expr: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
    query = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": step})
    with urllib.request.urlopen(f"{prometheus}/api/v1/query_range?{query}", timeout=30) as response:
        answer = json.loads(response.read())
    if answer["status"] != "success":
        raise SystemExit(f"Prometheus refused {expr!r}: {answer}")
    return list(answer["data"]["result"])


def legend(template: str, labels: dict[str, str]) -> str:
    if template in ("", "__auto"):
        return ", ".join(f"{k}={v}" for k, v in sorted(labels.items())) or "value"
    text = re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), template).strip()
    return text or "(none)"


def threshold(panel: dict[str, Any]) -> float | None:
    steps = panel.get("fieldConfig", {}).get("defaults", {}).get("thresholds", {}).get("steps", [])
    values = [step["value"] for step in steps if step.get("value") is not None]
    return float(values[0]) if values else None


def draw(ax: Any, panel: dict[str, Any], results: list[tuple[str, list[dict[str, Any]]]], start: float) -> int:
    """One panel: every series of every target, the alert threshold as a dashed line; returns the series drawn."""
    import matplotlib.ticker

    unit, fmt = UNITS.get(panel.get("fieldConfig", {}).get("defaults", {}).get("unit", "short"), UNITS["short"])
    drawn = 0
    for template, found in results:
        for series in found:
            points = [(float(t) - start, float(v)) for t, v in series["values"] if v not in ("NaN", "+Inf", "-Inf")]
            if not points:
                continue
            xs, ys = zip(*points, strict=True)
            ax.plot(xs, ys, label=legend(template, series["metric"]), linewidth=1.4)
            drawn += 1
    if (limit := threshold(panel)) is not None:
        ax.axhline(limit, color="red", linestyle="--", linewidth=1, label=f"alert threshold {fmt(limit)}")
    if panel["id"] in LOG_SCALE and drawn:
        ax.set_yscale("log")
    ax.set_title(panel["title"] + (" (log scale)" if panel["id"] in LOG_SCALE else ""), fontsize=11, loc="left")
    ax.set_xlabel("seconds into the run", fontsize=8)
    ax.set_ylabel(unit, fontsize=8)
    ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: fmt(v)))
    ax.tick_params(labelsize=8)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    return drawn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prometheus", required=True, help="Prometheus' base URL, e.g. http://127.0.0.1:9090")
    parser.add_argument("--service", required=True, help="the $service to show")
    parser.add_argument("--dashboard", type=Path, default=ROOT / "grafana/dashboards/anthropic-otel.json")
    parser.add_argument("--rate-interval", default="1m", help="what $__rate_interval becomes (4 scrape intervals)")
    parser.add_argument("--start", type=float, help="epoch seconds (default: an hour before --end)")
    parser.add_argument("--end", type=float, help="epoch seconds (default: now)")
    parser.add_argument("--step", type=float, default=None, help="seconds between points (default: range / 300)")
    parser.add_argument("--title", default=None)
    parser.add_argument("--out", type=Path, required=True, help="the PNG to write")
    args = parser.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    end = args.end or time.time()
    start = args.start or end - 3600
    step = args.step or max(1.0, round((end - start) / 300, 1))
    board = json.loads(args.dashboard.read_text())
    by_id = {panel["id"]: panel for panel in board["panels"]}
    range_ = f"{round(end - start)}s"

    rows = -(-len(PANELS) // COLUMNS)
    figure, axes = plt.subplots(rows, COLUMNS, figsize=(6 * COLUMNS, 3.6 * rows), squeeze=False)
    empty = []
    for ax, panel_id in zip(axes.flat, PANELS, strict=False):
        panel = by_id[panel_id]
        exprs = [
            (target.get("legendFormat", ""), substitute(target["expr"], args.service, args.rate_interval, range_))
            for target in panel["targets"]
        ]
        results = [(fmt, query_range(args.prometheus, expr, start, end, step)) for fmt, expr in exprs]
        if not draw(ax, panel, results, start):
            empty.append(panel["title"])
    for ax in list(axes.flat)[len(PANELS) :]:
        ax.axis("off")
    title = args.title or f"{board['title']}: service {args.service}"
    figure.suptitle(title, fontsize=14, x=0.01, ha="left")
    figure.text(
        0.01,
        0.005,
        f"Drawn by tools/dashboard_picture.py from Prometheus range queries of the dashboard's own PromQL "
        f"({args.dashboard.name}), service {args.service}, $__rate_interval={args.rate_interval}, step {step:g} s. "
        "No Grafana involved.",
        fontsize=8,
        color="dimgray",
    )
    figure.tight_layout(rect=(0, 0.02, 1, 0.97))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(args.out, dpi=80)
    if empty:
        raise SystemExit(f"No data for: {empty}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
