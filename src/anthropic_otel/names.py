"""Every attribute, event and span name the plugin writes, declared once.

The GenAI, HTTP, server and URL names are those of the OpenTelemetry semantic conventions; the `anthropic.` ones
are the plugin's own, for what the conventions do not (yet) say. The README's tables list them all.
"""

from __future__ import annotations

from typing import Final

# --- spans and events ----------------------------------------------------------------------------------------
SPAN_NAME: Final = "anthropic.messages.create"
"""The name of the call span: the SDK's own (1.14+) or the plugin's, the same on every SDK generation."""
RETRY_EVENT: Final = "anthropic.retry"
ANOMALY_EVENT: Final = "anthropic.token_anomaly"
LOG_EVENT: Final = "anthropic.call"
BATCH_LOG_EVENT: Final = "anthropic.batch_result"

# --- the request ----------------------------------------------------------------------------------------------
OPERATION: Final = "gen_ai.operation.name"
PROVIDER: Final = "gen_ai.provider.name"
REQUEST_MODEL: Final = "gen_ai.request.model"
REQUEST_MAX_TOKENS: Final = "gen_ai.request.max_tokens"
REQUEST_TEMPERATURE: Final = "gen_ai.request.temperature"
REQUEST_TOP_P: Final = "gen_ai.request.top_p"
REQUEST_TOP_K: Final = "gen_ai.request.top_k"
REQUEST_STOP_SEQUENCES: Final = "gen_ai.request.stop_sequences"
REQUEST_STREAM: Final = "gen_ai.request.stream"
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
HTTP_METHOD: Final = "http.request.method"
HTTP_ROUTE: Final = "http.route"
URL_SCHEME: Final = "url.scheme"
URL_PATH: Final = "url.path"
URL_FULL: Final = "url.full"

# --- the response ---------------------------------------------------------------------------------------------
RESPONSE_ID: Final = "gen_ai.response.id"
RESPONSE_MODEL: Final = "gen_ai.response.model"
FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
STOP_REASON: Final = "anthropic.message.stop_reason"
TIME_TO_FIRST_CHUNK: Final = "gen_ai.response.time_to_first_chunk"
SERVICE_TIER: Final = "anthropic.response.service_tier"
REQUEST_ID: Final = "anthropic.request.id"
STATUS_CODE: Final = "http.response.status_code"
RESEND_COUNT: Final = "http.request.resend_count"
ERROR_TYPE: Final = "error.type"

# --- usage and cost -------------------------------------------------------------------------------------------
INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
CACHE_READ_TOKENS: Final = "gen_ai.usage.cache_read.input_tokens"
CACHE_WRITE_TOKENS: Final = "gen_ai.usage.cache_write.input_tokens"
CACHE_WRITE_5M_TOKENS: Final = "anthropic.usage.cache_creation.ephemeral_5m_input_tokens"
CACHE_WRITE_1H_TOKENS: Final = "anthropic.usage.cache_creation.ephemeral_1h_input_tokens"
REASONING_TOKENS: Final = "gen_ai.usage.reasoning.output_tokens"
SPEED: Final = "anthropic.usage.speed"
INFERENCE_GEO: Final = "anthropic.usage.inference_geo"
WEB_SEARCH_REQUESTS: Final = "anthropic.usage.server_tool_use.web_search_requests"
WEB_FETCH_REQUESTS: Final = "anthropic.usage.server_tool_use.web_fetch_requests"
COST_USD: Final = "anthropic.cost.usd"
CACHE_SAVINGS_USD: Final = "anthropic.cost.cache_savings.usd"
BATCH_SAVINGS_USD: Final = "anthropic.cost.batch_savings.usd"
COST_NOTE: Final = "anthropic.cost.note"
UNPRICED: Final = "anthropic.cost.unpriced"
"""Why a call that used tokens has no cost (`unknown_model`, `unknown_speed`, ...)."""
LOG_COST_USD: Final = "anthropic.cost_usd"
LOG_LATENCY_MS: Final = "anthropic.latency_ms"
TOKEN_TYPE: Final = "gen_ai.token.type"
ANTHROPIC_TOKEN_TYPE: Final = "anthropic.token.type"

# --- events ---------------------------------------------------------------------------------------------------
RETRY_DELAY: Final = "anthropic.retry.delay"
ANOMALY_TOKENS: Final = "anthropic.tokens"
ANOMALY_AVERAGE: Final = "anthropic.tokens.average"
ANOMALY_FACTOR: Final = "anthropic.tokens.factor"

# --- metrics only ---------------------------------------------------------------------------------------------
BATCH: Final = "anthropic.batch"
ATTEMPT_RETRIED: Final = "anthropic.attempt.retried"
RATELIMIT_KIND: Final = "anthropic.ratelimit.kind"
RATELIMIT_SIDE: Final = "anthropic.ratelimit.side"
OVERFLOW: Final = "otel.metric.overflow"
SERVER_TOOL: Final = "anthropic.server_tool"
UNPRICED_REASON: Final = "anthropic.unpriced.reason"

# --- attribution ----------------------------------------------------------------------------------------------
FEATURE: Final = "app.feature"
USER_ID: Final = "user.id"

# --- content (opt-in) -----------------------------------------------------------------------------------------
INPUT_MESSAGES: Final = "gen_ai.input.messages"
SYSTEM_INSTRUCTIONS: Final = "gen_ai.system_instructions"
OUTPUT_MESSAGES: Final = "gen_ai.output.messages"
