"""A Flask service whose calls to Claude are attributed to the feature and the user that made them, so that
cost, tokens and errors can be split by feature (and, on spans and logs, by user and tenant).

`attribution()` holds the values in a context variable: each request handled by a thread (or an asyncio task)
keeps its own, and every call made inside the block carries them. Spans and log records get `app.feature`,
`user.id` and `app.<key>`; metrics get `app.feature` and only the keys listed in `metric_attributes`: never the
user, one series per user would swamp a metrics backend.

Usage: python web_attribution.py (listens on 127.0.0.1, port $PORT or 8000), then
  curl -X POST localhost:8000/summarise -H 'X-User-Id: u-1' -H 'X-Tenant: acme' \
       -H 'content-type: application/json' -d '{"text": "..."}'
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

import anthropic
from flask import Flask, abort, request
from instrument_at_startup import configure_opentelemetry

import anthropic_otel
from anthropic_otel import attribution

MODEL = "claude-sonnet-4-6"

configure_opentelemetry()
# `tenant` is one of a few dozen values: fine as a metric label. A user id is not.
anthropic_otel.instrument(metric_attributes=["tenant"])

app = Flask(__name__)
client = anthropic.Anthropic()  # one client for the process: it holds the connection pool


@app.post("/summarise")
@attribution(feature="summarise")  # every call this handler makes counts for the feature
def summarise() -> dict[str, Any]:
    text = str((request.get_json(silent=True) or {}).get("text", ""))
    if not text:
        abort(400, "a JSON body with a non-empty text")  # the API would refuse an empty message anyway
    # Who the call is for is only known per request (in a real service: from its authentication, not a header
    # the client sets); this block adds it to the feature above.
    with attribution(user_id=request.headers.get("X-User-Id"), tenant=request.headers.get("X-Tenant")):
        message = client.messages.create(
            model=MODEL,
            max_tokens=300,
            system="Summarise the user's text in one sentence.",
            messages=[{"role": "user", "content": text}],
        )
    summary = "".join(block.text for block in message.content if block.type == "text")
    return {"summary": summary}


if __name__ == "__main__":
    # `docker stop` and process managers send SIGTERM, which by default ends Python at once, losing the spans not
    # exported yet. Exiting normally runs the providers' shutdown, which flushes them.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    app.run(host="127.0.0.1", port=int(os.environ.get("PORT", "8000")))
