"""`anthropic-otel prices`: the price table as the plugin reads it, and how a model id from a log resolves.

anthropic-otel prices                                  # the checked date, every model and its rates today
anthropic-otel prices --model us.anthropic.claude-sonnet-4-5-20250929-v1:0
anthropic-otel prices --prices my-prices.json --model claude-in-house-1
"""

from __future__ import annotations

import argparse
import os
import time
from decimal import Decimal

from .prices import RATE_FIELDS, PriceFileError, PriceTable, Rates, Row, default_table, load_prices

HEADINGS = ("input", "output", "5m write", "1h write", "cache read")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", metavar="ID", help="show how this model id resolves, and its rates")
    parser.add_argument(
        "--prices",
        metavar="FILE",
        default=os.environ.get("ANTHROPIC_OTEL_PRICES") or None,
        help="a price file over the shipped table (default: $ANTHROPIC_OTEL_PRICES)",
    )


def usd(pico_per_token: int) -> str:
    """Pico-dollars per token as USD per million tokens, without trailing zeros."""
    text = f"{Decimal(pico_per_token) / 1_000_000:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def rates_cells(rates: Rates) -> list[str]:
    return [usd(getattr(rates, name)) for name in RATE_FIELDS]


def extras(row: Row) -> str:
    notes = []
    if row.fast is not None:
        notes.append(f"fast {usd(row.fast.input)}/{usd(row.fast.output)}")
    notes.extend(
        f"above {tier.above_prompt_tokens:,} prompt tokens {usd(tier.rates.input)}/{usd(tier.rates.output)}"
        for tier in row.tiers
    )
    return "; ".join(notes)


def table_text(table: PriceTable, now_ns: int) -> str:
    rows = [("model", "status", *HEADINGS, "also")]
    for model in table.names():
        row = model.row_at(now_ns)
        if row is None:
            rows.append((model.name, model.status or "", "no rate today", "", "", "", "", ""))
            continue
        rows.append((model.name, model.status or "", *rates_cells(row.rates), extras(row)))
    widths = [max(len(line[column]) for line in rows) for column in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip() for line in rows]
    geo = ", ".join(f"{region} x{float(value):g}" for region, value in table.geo_multipliers.items()) or "none"
    tools = ", ".join(f"{tool} ${pico / 10**12:g} per use" for tool, pico in table.server_tools.items()) or "none"
    head = [
        f"anthropic-otel price table: checked {table.checked}, USD per million tokens, the rates in force today",
        f"batch x{float(table.batch_multiplier):g}; inference_geo {geo}; server tools: {tools}",
        "",
    ]
    return "\n".join(head + lines)


def model_text(table: PriceTable, model_id: str, now_ns: int) -> tuple[str, bool]:
    found, how = table.resolve(model_id)
    if found is None:
        return f"{model_id}: no price ({how}). Calls on it record no cost; add it to a price file.", False
    lines = [f"{model_id} -> {found.name} ({how})"]
    lines.append(
        f"status {found.status or 'unknown'}; source {found.source or 'a price file'}, checked {found.checked}"
    )
    lines.append(f"data residency (inference_geo) multipliers apply: {'yes' if found.inference_geo else 'no'}")
    for row in found.rows:
        start = day(row.effective_from) or "always"
        until = day(row.effective_until) or "now"
        marker = " (in force today)" if row.covers(now_ns) else ""
        cells = ", ".join(f"{heading} {cell}" for heading, cell in zip(HEADINGS, rates_cells(row.rates), strict=True))
        lines.append(f"  from {start} until {until}{marker}: {cells}")
        if notes := extras(row):
            lines.append(f"    {notes}")
    return "\n".join(lines), True


def day(ns: int | None) -> str | None:
    return None if ns is None else time.strftime("%Y-%m-%d", time.gmtime(ns // 10**9))


def run(args: argparse.Namespace) -> int:
    try:
        table = load_prices(args.prices) if args.prices else default_table()
    except PriceFileError as err:
        print(f"anthropic-otel prices: {err}")
        return 2
    now = time.time_ns()
    if args.model:
        text, known = model_text(table, args.model, now)
        print(text)
        return 0 if known else 1
    print(table_text(table, now))
    return 0
