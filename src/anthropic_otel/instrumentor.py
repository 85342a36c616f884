"""`AnthropicInstrumentor`: installs and removes the hooks (see `hooks.py`).

Registered under the entry-point group `opentelemetry_instrumentor` as `anthropic_otel`, so that
`opentelemetry-instrument python app.py` instruments an application without a code change.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Collection
from typing import Any

from opentelemetry import _logs, metrics, trace
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from opentelemetry.instrumentation.utils import unwrap
from wrapt import wrap_function_wrapper

from . import config, content, sdk_compat, spans, streams
from .anomalies import AnomalyDetector
from .attribution import Pseudonyms
from .batches import BatchResults
from .hooks import Hooks
from .logs import LogSink
from .metrics import MetricsSink
from .prices import default_table
from .telemetry import Telemetry
from .version import __version__

log = logging.getLogger(__name__)

SCOPE = "anthropic_otel"


def targets(hooks: Hooks, batch_results: BatchResults) -> list[tuple[Any, str, Any]]:
    """(module or class, attribute, wrapper) for every hook this SDK generation needs."""
    base = sdk_compat.base_client()
    http = sdk_compat.http_module()
    found: list[tuple[Any, str, Any]] = [
        (base.SyncAPIClient, "request", hooks.request),
        (base.AsyncAPIClient, "request", hooks.request_async),
        (base.BaseClient, "_calculate_retry_timeout", hooks.retry_timeout),
        (http.Client, "send", hooks.send),
        (http.AsyncClient, "send", hooks.send_async),
        (http.Response, "close", streams.response_close),
        (http.Response, "aclose", streams.response_aclose),
    ]
    stream_cls, async_stream_cls = sdk_compat.stream_classes()
    found += [
        (stream_cls, "__stream__", streams.stream_events),
        (stream_cls, "close", streams.stream_close),
        (async_stream_cls, "__stream__", streams.stream_events_async),
        (async_stream_cls, "close", streams.stream_close_async),
    ]
    decoder, async_decoder = sdk_compat.jsonl_decoders()
    found += [(decoder, "__decode__", batch_results.decode), (async_decoder, "__decode__", batch_results.decode_async)]
    if sdk_compat.has_native_spans():
        found.append((base, "start_api_call_span", hooks.native_span))
    return found


class AnthropicInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Instruments the Anthropic SDK. `instrument(**options)` takes the options of `anthropic_otel.config`."""

    _wrapped: list[tuple[Any, str]]

    def instrumentation_dependencies(self) -> Collection[str]:
        return ("anthropic >= 0.42",)

    def _instrument(self, **kwargs: Any) -> None:
        try:
            settings = kwargs.pop(config.RESOLVED, None) or config.resolve(kwargs)
        except config.ConfigError as err:
            # Under `opentelemetry-instrument` nobody can catch this: refuse to instrument, loudly, and let the
            # application and every other instrumentation run.
            log.error("%s. anthropic_otel is not instrumenting; the application runs as usual.", err)
            self._wrapped = []
            return
        tracer = trace.get_tracer(SCOPE, __version__, tracer_provider=settings.tracer_provider)
        policy = content.Policy(settings.capture_content, settings.content_max_chars, settings.content_hook)
        sinks: list[Any] = [functools.partial(spans.write, content=policy.on_span)]
        if settings.metrics:
            meter = metrics.get_meter(SCOPE, __version__, meter_provider=settings.meter_provider)
            sinks.append(
                MetricsSink(
                    meter, extra_keys=settings.metric_attributes, include_user_id=settings.metrics_include_user_id
                )
            )
        if settings.logs:
            otel_logger = _logs.get_logger(SCOPE, __version__, logger_provider=settings.logger_provider)
            json_logger = logging.getLogger(settings.json_logger) if settings.json_logger else None
            sinks.append(LogSink(otel_logger, json_logger, content=policy.on_log))
        telemetry = Telemetry(
            tracer,
            sinks,
            prices=settings.prices or default_table(),
            anomalies=AnomalyDetector(settings.anomaly_factor, settings.anomaly_warmup),
            pseudonyms=Pseudonyms(settings.user_id_hash_key) if settings.user_id_hash_key else None,
        )
        hooks = Hooks(telemetry, content_policy=policy)
        batch_results = BatchResults(telemetry)
        self._wrapped = []
        for owner, name, wrapper in targets(hooks, batch_results):
            wrap_function_wrapper(owner, name, wrapper)
            self._wrapped.append((owner, name))

    def _uninstrument(self, **kwargs: Any) -> None:
        for owner, name in reversed(getattr(self, "_wrapped", [])):
            unwrap(owner, name)
        self._wrapped = []
