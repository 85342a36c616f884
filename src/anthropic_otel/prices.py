"""The price table: shipped as data (`data/prices.json`), extended by a user's price file, looked up by model id.

The table stores explicit rates per model (input, output, 5-minute and 1-hour cache writes, cache reads) rather
than multipliers: models break the 1.25x / 2x / 0.1x pattern (cache reads at 0.05x or 0.025x of input, say).
Each model has one or more dated rows (`effective_from` inclusive, `effective_until` exclusive, UTC dates), so a
call is priced by the date it was made; a row may carry fast-mode rates and prompt-size tiers.

Rates are kept in pico-dollars per token (USD per million x 1,000,000): every published rate, with the batch and
data-residency multipliers applied, is a whole number of them, so a call's cost is summed in integers and turned
into USD once (see cost.py).
"""

from __future__ import annotations

import datetime
import difflib
import json
import re
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cache
from importlib import resources
from typing import Any

RATE_FIELDS = ("input", "output", "cache_write_5m", "cache_write_1h", "cache_read")
"""The rates of a row, in USD per million tokens, in the order of `Rates`."""

MODEL_KEYS = frozenset(
    {"aliases", "bedrock", "bedrock_prefixes", "vertex", "source", "checked", "released", "status", "retired"}
    | {"inference_geo", "rates", "notes"}
    | set(RATE_FIELDS)
)
ROW_KEYS = frozenset({"effective_from", "effective_until", "fast", "tiers", *RATE_FIELDS})
TIER_KEYS = frozenset({"above_prompt_tokens", "fast", *RATE_FIELDS})
TABLE_KEYS = frozenset(
    {"checked", "unit", "sources", "batch_multiplier", "inference_geo", "inference_geo_multipliers", "server_tools"}
    | {"models", "notes"}
)

BEDROCK_PREFIXES = ("us", "eu", "apac", "jp", "au", "ca", "global", "us-gov")
"""The cross-region inference prefixes of Bedrock model ids (`us.anthropic.claude-...`)."""
BEDROCK_ID = re.compile(
    r"^(?:(?:" + "|".join(re.escape(prefix) for prefix in BEDROCK_PREFIXES) + r")\.)?"
    r"anthropic\.(?P<model>.+?)(?:-v\d+(?::\d+)?)?$"
)
DATED = re.compile(r"^(?P<base>.+)-\d{8}$")
PICO_PER_USD_PER_MILLION = 1_000_000


class PriceFileError(ValueError):
    """A price table that cannot be read: the message names the file, the line and the field, and the fix."""


@dataclass(frozen=True, slots=True)
class Rates:
    """Pico-dollars per token."""

    input: int
    output: int
    cache_write_5m: int
    cache_write_1h: int
    cache_read: int

    def scaled(self, multiplier: Fraction) -> Rates:
        """These rates times `multiplier` (batch, data residency), still whole pico-dollars where published rates
        allow; a rate that would not be is rounded to the nearest pico-dollar."""
        if multiplier == 1:
            return self
        return Rates(*(round(getattr(self, name) * multiplier) for name in RATE_FIELDS))


@dataclass(frozen=True, slots=True)
class Tier:
    above_prompt_tokens: int
    """Above this many prompt tokens (input, cache reads and cache writes), every token of the call is priced at
    `rates`, output included."""
    rates: Rates
    fast: Rates | None = None
    """Fast-mode rates above the threshold, where they differ from the row's."""


@dataclass(frozen=True, slots=True)
class Row:
    """A model's rates over a span of dates."""

    rates: Rates
    fast: Rates | None = None
    tiers: tuple[Tier, ...] = ()
    effective_from: int | None = None
    """UTC nanoseconds, inclusive; `None` for since ever."""
    effective_until: int | None = None
    """UTC nanoseconds, exclusive; `None` for still in force."""

    def covers(self, when_ns: int) -> bool:
        return (self.effective_from is None or when_ns >= self.effective_from) and (
            self.effective_until is None or when_ns < self.effective_until
        )


@dataclass(frozen=True, slots=True)
class ModelPrice:
    name: str
    rows: tuple[Row, ...]
    inference_geo: bool = True
    """Whether the data-residency multipliers apply to this model."""
    source: str | None = None
    checked: str | None = None
    status: str | None = None
    """`active`, `deprecated` or `retired` on the Claude API, as the table was checked."""

    def row_at(self, when_ns: int) -> Row | None:
        rows = self.rows
        if len(rows) == 1 and rows[0].effective_from is None and rows[0].effective_until is None:
            return rows[0]
        for row in rows:
            if row.covers(when_ns):
                return row
        return None


@dataclass(frozen=True)
class PriceTable:
    checked: str
    batch_multiplier: Fraction
    models: dict[str, ModelPrice]
    """By every id, alias, Bedrock and Vertex id, lower case."""
    geo_multipliers: dict[str, Fraction] = field(default_factory=dict)
    """By the `usage.inference_geo` the API reports: what pinning inference to a region costs on top."""
    server_tools: dict[str, int] = field(default_factory=dict)
    """Pico-dollars per use, by server tool (`web_search`, `web_fetch`)."""
    sources: dict[str, str] = field(default_factory=dict)
    found: dict[str, ModelPrice | None] = field(default_factory=dict, compare=False, repr=False)
    """Model ids already looked up: normalising an id takes two regular expressions, and a process uses few."""

    def find(self, model: str | None) -> ModelPrice | None:
        """The price of `model`: a dated id, an alias, a Bedrock id (`us.anthropic.claude-...-v1:0`) or a Vertex
        id (`claude-...@20250929`)."""
        if not model:
            return None
        try:
            return self.found[model]
        except KeyError:
            pass
        price = self.resolve(model)[0]
        if len(self.found) < 1000:
            self.found[model] = price
        return price

    def resolve(self, model: str) -> tuple[ModelPrice | None, str]:
        """The price of `model` and how the id was read (for `anthropic-otel prices --model`)."""
        name = model.strip().lower()
        if (found := self.models.get(name)) is not None:
            return found, f"{name!r} is listed"
        steps = []
        if "@" in name:
            name = name.replace("@", "-")
            steps.append(f"a Vertex id, read as {name!r}")
        if match := BEDROCK_ID.match(name):
            name = match["model"]
            steps.append(f"a Bedrock id, read as {name!r}")
        if (found := self.models.get(name)) is not None:
            return found, "; ".join([*steps, "listed"])
        if match := DATED.match(name):
            name = match["base"]
            steps.append(f"a dated id, read as {name!r}")
            if (found := self.models.get(name)) is not None:
                return found, "; ".join([*steps, "listed"])
        close = difflib.get_close_matches(name, list(self.models), n=1)
        hint = f"; the nearest listed id is {close[0]!r}" if close else ""
        return None, "; ".join([*steps, f"{name!r} is not in the table{hint}"])

    def names(self) -> list[ModelPrice]:
        """Every model once, in the table's order."""
        return list({id(price): price for price in self.models.values()}.values())


# --- reading a table ------------------------------------------------------------------------------------------


class Reader:
    """Reads one JSON table, reporting the first mistake with its file, line and field."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.text = text

    def line_of(self, *needles: str) -> int:
        position = 0
        for needle in needles:
            found = self.text.find(f'"{needle}"', position)
            position = found if found >= 0 else position
        return self.text.count("\n", 0, position) + 1

    def fail(self, where: tuple[str, ...], message: str) -> PriceFileError:
        return PriceFileError(f"{self.path}, line {self.line_of(*where)}: {'.'.join(where)}: {message}")

    def check_keys(self, where: tuple[str, ...], entry: dict[str, Any], allowed: frozenset[str]) -> None:
        for key in entry:
            if key not in allowed:
                close = difflib.get_close_matches(key, sorted(allowed), n=1)
                fix = f"did you mean {close[0]!r}?" if close else f"the keys are {', '.join(sorted(allowed))}"
                raise self.fail((*where, key), f"unknown key {key!r}; {fix}")

    def usd(self, where: tuple[str, ...], value: object) -> int:
        if value is None:
            raise self.fail(where, "missing; expected a non-negative number of USD per million tokens")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise self.fail(where, f"expected a non-negative number of USD per million tokens, got {value!r}")
        return round(Fraction(str(value)) * PICO_PER_USD_PER_MILLION)

    def rates(self, where: tuple[str, ...], entry: dict[str, Any], base: Rates | None = None) -> Rates:
        values = {}
        for name in RATE_FIELDS:
            if name not in entry and base is not None:
                values[name] = getattr(base, name)
            else:
                values[name] = self.usd((*where, name), entry.get(name))
        return Rates(**values)

    def date(self, where: tuple[str, ...], value: object) -> int | None:
        if value is None:
            return None
        try:
            day = datetime.date.fromisoformat(str(value))
        except ValueError:
            raise self.fail(where, f"expected a date as YYYY-MM-DD, got {value!r}") from None
        moment = datetime.datetime(day.year, day.month, day.day, tzinfo=datetime.timezone.utc)
        return int(moment.timestamp()) * 1_000_000_000

    def row(self, where: tuple[str, ...], entry: object, base: Row | None = None) -> Row:
        if not isinstance(entry, dict):
            raise self.fail(where, f"expected an object of rates ({', '.join(RATE_FIELDS)})")
        self.check_keys(where, entry, ROW_KEYS)
        rates = self.rates(where, entry, base.rates if base else None)
        fast = entry.get("fast", base.fast if base and "fast" not in entry else None)
        if isinstance(fast, dict):
            self.check_keys((*where, "fast"), fast, frozenset(RATE_FIELDS))
            fast = self.rates((*where, "fast"), fast)
        elif fast is not None and not isinstance(fast, Rates):
            raise self.fail((*where, "fast"), "expected an object of fast-mode rates, or null")
        tiers: list[Tier] = list(base.tiers) if base and "tiers" not in entry else []
        for index, tier in enumerate(entry.get("tiers") or ()):
            at = (*where, "tiers", str(index))
            if not isinstance(tier, dict):
                raise self.fail(at, "expected an object with above_prompt_tokens and rates")
            self.check_keys(at, tier, TIER_KEYS)
            above = tier.get("above_prompt_tokens")
            if isinstance(above, bool) or not isinstance(above, int) or above < 0:
                raise self.fail((*at, "above_prompt_tokens"), f"expected a whole number of tokens, got {above!r}")
            tier_fast = tier.get("fast")
            if tier_fast is not None and not isinstance(tier_fast, dict):
                raise self.fail((*at, "fast"), "expected an object of fast-mode rates, or null")
            tiers.append(Tier(above, self.rates(at, tier), self.rates((*at, "fast"), tier_fast) if tier_fast else None))
        tiers.sort(key=lambda tier: tier.above_prompt_tokens)
        start = self.date((*where, "effective_from"), entry.get("effective_from"))
        end = self.date((*where, "effective_until"), entry.get("effective_until"))
        if base is not None and "effective_from" not in entry and "effective_until" not in entry:
            start, end = base.effective_from, base.effective_until
        return Row(rates, fast, tuple(tiers), start, end)

    def model(self, name: str, entry: object, known: ModelPrice | None) -> ModelPrice:
        where = ("models", name)
        if not isinstance(entry, dict):
            raise self.fail(where, f"expected an object of rates ({', '.join(RATE_FIELDS)})")
        self.check_keys(where, entry, MODEL_KEYS)
        flat = {key: entry[key] for key in RATE_FIELDS if key in entry}
        rows_entry = entry.get("rates")
        if rows_entry is not None and flat:
            raise self.fail(where, "give either the five rates or a list of dated rows under 'rates', not both")
        if rows_entry is None:
            if known is None:
                rows = (self.row(where, flat),)
            else:  # only the rates it changes, on every row of the model
                rows = tuple(self.row(where, flat, base) for base in known.rows)
        elif isinstance(rows_entry, list) and rows_entry:
            rows = tuple(self.row((*where, "rates", str(index)), row) for index, row in enumerate(rows_entry))
        else:
            raise self.fail((*where, "rates"), "expected a non-empty list of rows")
        geo = entry.get("inference_geo", known.inference_geo if known else True)
        if not isinstance(geo, bool):
            raise self.fail((*where, "inference_geo"), f"expected true or false, got {geo!r}")
        source = entry.get("source", known.source if known else None)
        checked = entry.get("checked", known.checked if known else None)
        status = entry.get("status", known.status if known else None)
        return ModelPrice(name, rows, geo, source, checked, status)

    def multiplier(self, where: tuple[str, ...], value: object) -> Fraction:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise self.fail(where, f"expected a positive multiplier, e.g. 1.1, got {value!r}")
        return Fraction(str(value))

    def table(self, data: object, base: PriceTable | None = None) -> PriceTable:
        models_entry = data.get("models") if isinstance(data, dict) else None
        if not isinstance(data, dict) or not isinstance(models_entry, dict):
            raise PriceFileError(f'{self.path}, line 1: expected an object with "models": {{"<model id>": {{rates}}}}')
        self.check_keys((), data, TABLE_KEYS)
        models = dict(base.models) if base else {}
        for name, entry in models_entry.items():
            known = base.find(name) if base else None
            price = self.model(name, entry, known)
            if known is not None:  # every alias of a model it overrides follows
                for key in [key for key, value in models.items() if value is known]:
                    models[key] = price
            for kind in ("aliases", "bedrock", "vertex"):
                ids = entry.get(kind, [])
                if not isinstance(ids, list) or not all(isinstance(item, str) for item in ids):
                    raise self.fail(("models", name, kind), "expected a list of model ids")
            for key in (name, *entry.get("aliases", ()), *entry.get("bedrock", ()), *entry.get("vertex", ())):
                models[key.lower()] = price
        geo = dict(base.geo_multipliers) if base else {}
        geo_key = "inference_geo" if "inference_geo" in data else "inference_geo_multipliers"
        for region, value in (data.get(geo_key) or {}).items():
            geo[str(region)] = self.multiplier((geo_key, region), value)
        tools = dict(base.server_tools) if base else {}
        for tool, entry in (data.get("server_tools") or {}).items():
            value = entry.get("usd_per_request") if isinstance(entry, dict) else None
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise self.fail(("server_tools", tool, "usd_per_request"), f"expected USD per use, got {value!r}")
            tools[str(tool)] = round(Fraction(str(value)) * 10**12)
        batch = data.get("batch_multiplier")
        multiplier = base.batch_multiplier if base else Fraction(1, 2)
        if batch is not None:
            multiplier = self.multiplier(("batch_multiplier",), batch)
        checked = str(data.get("checked", base.checked if base else "unknown"))
        sources = {**(base.sources if base else {}), **{str(k): str(v) for k, v in (data.get("sources") or {}).items()}}
        return PriceTable(checked, multiplier, models, geo, tools, sources)


@cache
def default_table() -> PriceTable:
    text = resources.files("anthropic_otel").joinpath("data/prices.json").read_text(encoding="utf-8")
    return Reader("data/prices.json", text).table(json.loads(text))


def load_prices(path: str, base: PriceTable | None = None) -> PriceTable:
    """The shipped table overridden and extended by the JSON file at `path` (same shape as `data/prices.json`).

    A model already in the table may give only the rates it changes; a new model must give all five. Raises
    `PriceFileError` naming the line and the field of the first mistake.
    """
    base = base or default_table()
    try:
        with open(path, encoding="utf-8") as file:
            text = file.read()
    except OSError as err:
        raise PriceFileError(f"{path}: cannot read the price file: {err.strerror}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise PriceFileError(f"{path}, line {err.lineno}: not valid JSON: {err.msg}") from None
    return Reader(path, text).table(data, base)
