"""The wrapt wrappers: thin, each hands what it sees to the current `Call`.

- `SyncAPIClient.request` / `AsyncAPIClient.request`: the API call. Every `messages` method funnels through it
  (`create`, `stream()`, `parse`, beta, raw and streaming responses, Bedrock, Vertex), so one hook sees them all,
  including on clients made before `instrument()`.
- `Client.send` / `AsyncClient.send` of the SDK's HTTP library: each HTTP attempt and its outcome.
- `BaseClient._calculate_retry_timeout`: the SDK decided to retry, and how long it will wait.
- `anthropic._base_client.start_api_call_span` (1.14+): the SDK's own span, adopted instead of starting a second.

The current call travels in a context variable, so threads and asyncio tasks keep their calls apart.
"""

from __future__ import annotations

import logging
from typing import Any

from opentelemetry.instrumentation.utils import is_instrumentation_enabled

from . import content, sdk_compat
from .call import CURRENT, Call
from .streams import watch
from .telemetry import Telemetry

log = logging.getLogger(__name__)


class Hooks:
    """The wrappers, bound to the telemetry and the settings of one `instrument()`."""

    def __init__(self, telemetry: Telemetry, *, content_policy: content.Policy) -> None:
        self.telemetry = telemetry
        self.content_policy = content_policy

    def begin(self, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call | None:
        """A `Call` for a `messages` request, with its span started unless the SDK will start one. Never raises."""
        try:
            if not is_instrumentation_enabled():
                return None
            options = sdk_compat.request_options(args, kwargs)
            if not sdk_compat.is_messages_request(options):
                return None
            return Call(
                self.telemetry,
                instance,
                options,
                stream=bool(kwargs.get("stream")),
                content_policy=self.content_policy,
            )
        except Exception:
            log.debug("Could not begin recording an API call", exc_info=True)
            return None

    def ending(self, call: Call, result: Any) -> Any:
        """Hands `result` back unchanged. A stream, or a raw response whose body is still unread, ends the call
        later (see `streams.py`); anything else ends it now."""
        try:
            if isinstance(result, sdk_compat.stream_classes()):
                watch(result.response, call)
                return result
            raw_classes = sdk_compat.raw_response_classes()
            if raw_classes and isinstance(result, raw_classes) and sdk_compat.read_body(result.http_response) is None:
                watch(result.http_response, call)
                return result
        except Exception:
            log.debug("Could not follow the stream of an API call", exc_info=True)
        call.returned(result)
        return result

    def request(self, wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        call = self.begin(instance, args, kwargs)
        if call is None:
            return wrapped(*args, **kwargs)
        token = CURRENT.set(call)
        span_token = call.span.make_current()
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as err:
            call.fail(err)
            raise
        finally:
            call.collecting = False
            call.span.release(span_token)
            CURRENT.reset(token)
        return self.ending(call, result)

    async def request_async(self, wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        call = self.begin(instance, args, kwargs)
        if call is None:
            return await wrapped(*args, **kwargs)
        token = CURRENT.set(call)
        span_token = call.span.make_current()
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as err:
            call.fail(err)
            raise
        finally:
            call.collecting = False
            call.span.release(span_token)
            CURRENT.reset(token)
        return self.ending(call, result)

    def send(self, wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        call = CURRENT.get()
        if call is None or not call.collecting:
            return wrapped(*args, **kwargs)
        call.before_attempt()
        try:
            response = wrapped(*args, **kwargs)
        except BaseException as err:
            call.attempt_failed(err)
            raise
        call.attempt_answered(response)
        return response

    async def send_async(self, wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        call = CURRENT.get()
        if call is None or not call.collecting:
            return await wrapped(*args, **kwargs)
        call.before_attempt()
        try:
            response = await wrapped(*args, **kwargs)
        except BaseException as err:
            call.attempt_failed(err)
            raise
        call.attempt_answered(response)
        return response

    def retry_timeout(self, wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        delay = wrapped(*args, **kwargs)
        call = CURRENT.get()
        if call is not None and call.collecting:
            call.retrying(delay)
        return delay

    def native_span(self, wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Wrapper of `start_api_call_span` (1.14+): the call adopts the SDK's span, or hands the SDK its own."""
        span = wrapped(*args, **kwargs)
        call = CURRENT.get()
        if call is None or not call.collecting:
            return span
        return call.sdk_span_started(span)
