"""Everything that differs between the generations of the Anthropic SDK, in one place.

- 0.x sends with `httpx`; 1.0 and newer with its fork `httpx2`.
- 1.14 and newer start their own call span (`anthropic._tracing.start_api_call_span`), unless the client's
  `open_telemetry` option or `ANTHROPIC_OPEN_TELEMETRY=false` turns it off.
- 0.x keeps the API's error type only in `APIStatusError.body`; 0.5x and newer also in `.type`.

Nothing else in this package asks which SDK is installed.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from importlib import import_module
from types import ModuleType
from typing import Any

log = logging.getLogger(__name__)

SDK_SCOPE = "com.anthropic.sdk.python"
"""The instrumentation scope of the SDK's own spans."""

BASE_CLIENT_MODULE = "anthropic._base_client"

MESSAGES_PATHS = frozenset({"/v1/messages", "/v1/messages?beta=true"})
"""The request paths of `messages.create` and every helper built on it, as `request()` sees them (before Bedrock and
Vertex rewrite them)."""

# What the API sends in its error envelope, by status code, for an attempt whose body was never read (a streaming
# request that failed is closed unread). From the API's documented error types.
ERROR_TYPE_BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def base_client() -> ModuleType:
    return import_module(BASE_CLIENT_MODULE)


def http_module() -> ModuleType:
    """The HTTP client library the installed SDK sends with: `httpx2` from 1.0 on, `httpx` before."""
    module = base_client()
    found = getattr(module, "httpx2", None) or getattr(module, "httpx", None)
    if found is None:  # pragma: no cover - every supported SDK imports one of them
        raise ImportError("the installed anthropic SDK imports neither httpx nor httpx2")
    return found


def has_native_spans() -> bool:
    """Whether the installed SDK can start its own call span (anthropic 1.14 and newer)."""
    return hasattr(base_client(), "start_api_call_span")


def native_span_expected(client: Any) -> bool:
    """Whether `client` will start its own call span for a traced endpoint. Never raises.

    The SDK decides when the call starts, from the client's `open_telemetry` option; its tracer is `None`
    when spans are off.
    """
    try:
        return getattr(client, "_tracer", None) is not None
    except Exception:
        log.debug("Could not ask the client whether it traces its calls", exc_info=True)
        return False


def records_content(client: Any) -> bool:
    """Whether `client` is in the SDK's own content mode (1.14+: `open_telemetry={"traces": {"content_mode":
    "content"}}`), which asks for prompts and completions on the span. Never raises."""
    try:
        return bool(getattr(getattr(client, "_otel", None), "records_content", 0))
    except Exception:
        return False


def request_id(result: Any) -> str | None:
    """The request id the SDK keeps on a returned model (`_request_id`, from the `request-id` header)."""
    found = getattr(result, "_request_id", None)
    return found if isinstance(found, str) and found else None


def span_attributes(span: Any) -> dict[str, Any]:
    """The attributes the SDK's span holds (the OpenTelemetry SDK's `ReadableSpan.attributes`; sequences as
    tuples), or none for a span that does not say."""
    found = getattr(span, "attributes", None)
    if not isinstance(found, Mapping):
        return {}
    # The OpenTelemetry SDK's is a read-only view of its `BoundedAttributes`, whose `copy()` is one dict copy;
    # `dict()` of the view would read it key by key, through a lock and a Python `__getitem__` for each.
    copied = found.copy() if hasattr(found, "copy") else None
    return copied if isinstance(copied, dict) else dict(found)


def span_start_ns(span: Any) -> int | None:
    """When the SDK's span started (the SDK's `ReadableSpan.start_time`), or `None` for a span that does not say."""
    start = getattr(span, "start_time", None)
    return start if isinstance(start, int) else None


_PROVIDERS: dict[type, str] = {}
_SERVERS: dict[int, tuple[Any, str | None, int | None]] = {}
"""Caches by client class and by base URL: these are read on every call and never change for a client."""


def provider_name(client: Any) -> str:
    """`gen_ai.provider.name` of `client`: `aws.bedrock`, `gcp.vertex_ai`, or `anthropic`."""
    cls = type(client)
    name = _PROVIDERS.get(cls)
    if name is None:
        name = _provider_name(cls)
        if len(_PROVIDERS) < 256:
            _PROVIDERS[cls] = name
    return name


def server_of(client: Any) -> tuple[str | None, int | None]:
    """`server.address` and `server.port` of `client`, from its base URL."""
    base_url = getattr(client, "base_url", None)
    cached = _SERVERS.get(id(base_url))
    if cached is not None and cached[0] is base_url:
        return cached[1], cached[2]
    address: str | None = getattr(base_url, "host", None) or None
    port = getattr(base_url, "port", None)
    scheme = getattr(base_url, "scheme", "https")
    if address is None:
        port = None
    elif not port:
        port = 80 if scheme == "http" else 443
    if len(_SERVERS) >= 256:
        _SERVERS.clear()
    _SERVERS[id(base_url)] = (base_url, address, port)  # holding the URL keeps its id from being reused
    return address, port


def _provider_name(cls: type) -> str:
    name = getattr(cls, "_gen_ai_provider_name", None)
    if isinstance(name, str):
        return name
    # SDKs before 1.14 have no such attribute: tell the platform clients by their class names, which have
    # stayed the same, without importing their modules (Bedrock's needs botocore).
    for base in cls.__mro__:
        if "Bedrock" in base.__name__:
            return "aws.bedrock"
        if "Vertex" in base.__name__:
            return "gcp.vertex_ai"
    return "anthropic"


def api_error_type(error: BaseException) -> str | None:
    """The `type` of the API's error envelope that `error` carries, if any."""
    declared = getattr(error, "type", None)
    if isinstance(declared, str) and declared:
        return declared
    body = getattr(error, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("type"), str):
            return str(inner["type"])
    return None


def is_timeout(error: BaseException) -> bool:
    """A timeout of the SDK (`APITimeoutError`) or of its HTTP library."""
    names = {cls.__name__ for cls in type(error).__mro__}
    return "APITimeoutError" in names or "TimeoutException" in names


def is_connection_error(error: BaseException) -> bool:
    names = {cls.__name__ for cls in type(error).__mro__}
    return "APIConnectionError" in names or "TransportError" in names


def error_type(error: BaseException) -> str:
    """`error.type` for a failed call or attempt, as the SDK's own spans name it.

    The API's error type (`rate_limit_error`, `overloaded_error`, ...), else `client_timeout_error` or
    `connection_error`, else the status code, else `client_error`.
    """
    if is_timeout(error):
        return "client_timeout_error"
    if is_connection_error(error):
        return "connection_error"
    if (api_type := api_error_type(error)) is not None:
        return api_type
    status = getattr(error, "status_code", None)
    if isinstance(status, int) and status >= 400:
        return ERROR_TYPE_BY_STATUS.get(status, str(status))
    return "client_error"


def status_error_type(status: int, body: bytes | None) -> str:
    """`error.type` of an attempt answered with an error status, from its body when that was read."""
    if body:
        try:
            import json

            decoded = json.loads(body)
            error = decoded.get("error") if isinstance(decoded, dict) else None
            if isinstance(error, dict) and isinstance(error.get("type"), str):
                return str(error["type"])
        except Exception:
            pass  # Not the API's envelope (a proxy's HTML page, say): fall back to the status code.
    return ERROR_TYPE_BY_STATUS.get(status, str(status))


def read_body(response: Any) -> bytes | None:
    """The body of an HTTP response if it has already been read, without reading it.

    `content` raises for a streamed body that nobody read, and reads nothing then.
    """
    try:
        return bytes(response.content)
    except Exception:
        return None


@functools.cache
def stream_classes() -> tuple[type, type]:
    """The SDK's `Stream` and `AsyncStream`."""
    module = import_module("anthropic")
    return module.Stream, module.AsyncStream


def jsonl_decoders() -> tuple[type, type]:
    """The SDK's `JSONLDecoder` and `AsyncJSONLDecoder`, which decode Message Batches results."""
    module = import_module("anthropic._decoders.jsonl")
    return module.JSONLDecoder, module.AsyncJSONLDecoder


@functools.cache
def raw_response_classes() -> tuple[type, ...]:
    """The wrappers that `with_raw_response` and `with_streaming_response` return, in every generation."""
    classes: list[type] = []
    for module_name, name in (
        ("anthropic._response", "BaseAPIResponse"),
        ("anthropic._legacy_response", "LegacyAPIResponse"),
    ):
        try:
            classes.append(getattr(import_module(module_name), name))
        except (ImportError, AttributeError):
            continue
    return tuple(classes)


def request_options(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """The `FinalRequestOptions` of a `request(cast_to, options, ...)` call, in every generation."""
    if "options" in kwargs:
        return kwargs["options"]
    return args[1] if len(args) > 1 else None


def is_messages_request(options: Any) -> bool:
    """Whether `options` describe a `messages.create`-like call (also the stream and parse helpers, beta, Bedrock
    and Vertex, which all post to the same path before the platform clients rewrite it)."""
    return getattr(options, "url", None) in MESSAGES_PATHS and str(getattr(options, "method", "")).lower() == "post"
