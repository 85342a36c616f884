"""The options of `instrument()`, each also settable by an `ANTHROPIC_OTEL_*` environment variable.

Options are declared in one table (`OPTIONS`) with their variable, parser and default, so that the README, the
parser and the error messages cannot drift apart. A bad value is refused when `instrument()` runs, with an error
that names the option, the value and what is accepted: a typo must not silently turn telemetry off.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

TRUE = frozenset({"true", "1", "yes", "on"})
FALSE = frozenset({"false", "0", "no", "off"})

CONTENT_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
"""The GenAI instrumentations' common switch for recording prompts and completions."""

CONTENT_MODES = {
    # the shared variable's documented values, and booleans: where prompts and completions are recorded
    "no_content": "none",
    "span_only": "span",
    "event_only": "event",
    "span_and_event": "span_and_event",
}


class ConfigError(ValueError):
    """A bad option of `instrument()` or a bad `ANTHROPIC_OTEL_*` variable."""


def parse_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in TRUE | FALSE:
        return value.strip().lower() in TRUE
    raise ValueError("true or false (also 1/0, yes/no, on/off)")


def parse_content(value: object) -> str:
    """`none`, `span` (the call's span), `event` (its log record) or `span_and_event`."""
    if isinstance(value, str) and value.strip().lower() in CONTENT_MODES:
        return CONTENT_MODES[value.strip().lower()]
    if isinstance(value, str) and value.strip().lower() in CONTENT_MODES.values():
        return value.strip().lower()
    try:
        return "span" if parse_bool(value) else "none"
    except ValueError:
        raise ValueError(
            "true or false, or one of NO_CONTENT, SPAN_ONLY, EVENT_ONLY, SPAN_AND_EVENT (where content is recorded)"
        ) from None


def parse_chars(value: object) -> int:
    try:
        number = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        number = 0
    if number < 1:
        raise ValueError("a whole number of characters, at least 1, e.g. 4000")
    return number


def parse_secret(value: object) -> str:
    if isinstance(value, str) and len(value) >= 16:
        return value
    raise ValueError("a secret of at least 16 characters (keep it out of the code: set it in the environment)")


@dataclass(frozen=True)
class Option:
    name: str
    env: str
    parse: Callable[[object], Any]
    default: Any
    doc: str


def parse_keys(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, (list, tuple)) and all(isinstance(key, str) and key.isidentifier() for key in value):
        return tuple(value)
    raise ValueError("attribution keys as a list or a comma-separated string of identifiers, e.g. tenant,region")


def parse_prices(value: object) -> Any:
    from .prices import PriceFileError, load_prices

    if not isinstance(value, str) or not value:
        raise ValueError("the path of a JSON price file")
    try:
        return load_prices(value)
    except PriceFileError as err:
        raise ValueError(f"a readable price file; {err}") from None


def parse_factor(value: object) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        number = 0.0
    if not number > 1:
        raise ValueError("a number above 1, e.g. 2 for twice the average")
    return number


def parse_count(value: object) -> int:
    try:
        number = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        number = 0
    if number < 1:
        raise ValueError("a whole number of requests, at least 1")
    return number


def parse_logger_name(value: object) -> str:
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise ValueError("the name of a stdlib logger, e.g. anthropic.calls")


OPTIONS: tuple[Option, ...] = (
    Option(
        "capture_content",
        "ANTHROPIC_OTEL_CAPTURE_CONTENT",
        parse_content,
        "none",
        f"Record prompts and completions: true (on spans), or as {CONTENT_ENV} says it.",
    ),
    Option(
        "content_max_chars",
        "ANTHROPIC_OTEL_CONTENT_MAX_CHARS",
        parse_chars,
        100_000,
        "Recorded content is cut at this many characters per attribute.",
    ),
    Option(
        "metric_attributes",
        "ANTHROPIC_OTEL_METRIC_ATTRIBUTES",
        parse_keys,
        (),
        "Extra attribution keys (low-cardinality ones only) to put on metrics as app.<key>.",
    ),
    Option(
        "metrics_include_user_id",
        "ANTHROPIC_OTEL_METRICS_INCLUDE_USER_ID",
        parse_bool,
        False,
        "Put user.id on metrics too (one series per user: only for small user counts).",
    ),
    Option(
        "prices",
        "ANTHROPIC_OTEL_PRICES",
        parse_prices,
        None,
        "A JSON price file that overrides and extends the shipped table (same shape as data/prices.json).",
    ),
    Option(
        "json_logger",
        "ANTHROPIC_OTEL_JSON_LOGGER",
        parse_logger_name,
        None,
        "Also write each call's record as one JSON line to this stdlib logger.",
    ),
    Option(
        "anomaly_factor",
        "ANTHROPIC_OTEL_ANOMALY_FACTOR",
        parse_factor,
        2.0,
        "A request above this many times its (model, feature) average input is a token anomaly.",
    ),
    Option(
        "anomaly_warmup",
        "ANTHROPIC_OTEL_ANOMALY_WARMUP",
        parse_count,
        20,
        "Requests per (model, feature) before anomalies are judged.",
    ),
    Option(
        "user_id_hash_key",
        "ANTHROPIC_OTEL_USER_ID_HASH_KEY",
        parse_secret,
        None,
        "Replace user.id by a keyed hash (HMAC-SHA256) before it leaves the process.",
    ),
    Option("metrics", "ANTHROPIC_OTEL_METRICS", parse_bool, True, "Emit the metrics (spans are always on)."),
    Option("logs", "ANTHROPIC_OTEL_LOGS", parse_bool, True, "Emit one log record per call."),
)
"""Every option, in the order the README lists them."""

OBJECT_OPTIONS = frozenset({"tracer_provider", "meter_provider", "logger_provider", "content_hook"})
"""Options that take objects rather than values, passed through as they are."""

RESOLVED = "_anthropic_otel_settings"
"""The keyword under which `anthropic_otel.instrument()` hands the instrumentor options it already resolved."""


@dataclass(frozen=True)
class Settings:
    """The resolved options: every field is an option of `OPTIONS` (whose defaults are the only ones) or an
    object option."""

    capture_content: str
    content_max_chars: int
    metric_attributes: tuple[str, ...]
    metrics_include_user_id: bool
    prices: Any
    json_logger: str | None
    anomaly_factor: float
    anomaly_warmup: int
    user_id_hash_key: str | None
    metrics: bool
    logs: bool
    tracer_provider: Any = None
    meter_provider: Any = None
    logger_provider: Any = None
    content_hook: Any = None
    """A callable that takes the content attributes of a call (a dict of strings) and returns them redacted, or
    `None` to record none."""


def resolve(options: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> Settings:
    """The settings from `instrument()`'s keyword options over the environment over the defaults.

    Raises `ConfigError` naming the option and the accepted values for a bad value or an unknown option.
    """
    environ = os.environ if environ is None else environ
    known = {option.name for option in OPTIONS} | OBJECT_OPTIONS
    unknown = sorted(set(options) - known)
    if unknown:
        raise ConfigError(
            f"anthropic_otel.instrument() got unknown option(s) {', '.join(unknown)}; "
            f"the options are: {', '.join(sorted(known))}"
        )
    values: dict[str, Any] = {name: options.get(name) for name in OBJECT_OPTIONS}
    given: set[str] = set()
    for option in OPTIONS:
        if option.name in options and options[option.name] is not None:
            source, raw = f"option {option.name}=", options[option.name]
        elif environ.get(option.env, "").strip():  # empty is unset, as the OpenTelemetry variables say
            source, raw = f"environment variable {option.env}=", environ[option.env]
        else:
            values[option.name] = option.default
            continue
        given.add(option.name)
        try:
            values[option.name] = option.parse(raw)
        except (ValueError, TypeError) as err:
            raise ConfigError(f"anthropic_otel: bad value for {source}{raw!r}: expected {err}") from None
    if "capture_content" not in given and environ.get(CONTENT_ENV, "").strip():
        try:
            values["capture_content"] = parse_content(environ[CONTENT_ENV])
        except ValueError as err:
            raise ConfigError(
                f"anthropic_otel: bad value for environment variable {CONTENT_ENV}={environ[CONTENT_ENV]!r}: "
                f"expected {err}"
            ) from None
    hook = values["content_hook"]
    if hook is not None and not callable(hook):
        raise ConfigError(
            f"anthropic_otel: bad value for option content_hook={hook!r}: expected a callable that takes the content "
            "attributes (a dict) and returns them redacted, or None"
        )
    return Settings(**values)
