"""Placeholder."""

from anthropic_otel.ops.alerts import Params


def files(params: Params, *args: str) -> dict[str, str]:
    return {}
