"""A nightly batch job on the Message Batches API: submit every request at once, poll until the batch has
ended, read the results. Batches cost half the price of the same calls made one by one, and take up to 24 hours.

The plugin meters each succeeded result as it is read (not when the batch is created: only the results say
what was used): tokens, cost at the batch price (`service_tier=batch`) and what the batch saved, in
`anthropic.client.cost` and `anthropic.client.batch.savings` with `anthropic.batch=true`, plus one log record
per result (event `anthropic.batch_result`). Read the results inside `attribution()` so that the spend lands
on the job's feature. Reading the same results twice does not count them twice.

Usage: python batch_job.py
"""

from __future__ import annotations

import time

import anthropic
from instrument_at_startup import configure_opentelemetry

import anthropic_otel
from anthropic_otel import attribution

MODEL = "claude-sonnet-4-6"
TICKETS = {
    "ticket-1": "My invoice shows the wrong VAT number.",
    "ticket-2": "The app crashes when I upload a photo.",
    "ticket-3": "How do I add a second user to my account?",
}


def submit(client: anthropic.Anthropic) -> str:
    requests = [
        {
            "custom_id": ticket,  # how each result finds its request: results come back in any order
            "params": {
                "model": MODEL,
                "max_tokens": 20,
                "system": "Classify the support ticket as billing, bug or question. Answer with the word only.",
                "messages": [{"role": "user", "content": text}],
            },
        }
        for ticket, text in TICKETS.items()
    ]
    batch = client.messages.batches.create(requests=requests)
    print(f"submitted {batch.id}: {len(requests)} requests")
    return batch.id


def wait_until_ended(client: anthropic.Anthropic, batch_id: str, longest_wait: float = 60.0) -> None:
    # Most batches end within the hour: poll often at first, then back off to once a minute.
    wait = 1.0
    while (batch := client.messages.batches.retrieve(batch_id)).processing_status != "ended":
        time.sleep(wait)
        wait = min(wait * 2, longest_wait)
    counts = batch.request_counts
    print(f"ended: {counts.succeeded} succeeded, {counts.errored} errored, {counts.expired} expired")


def read_results(client: anthropic.Anthropic, batch_id: str) -> dict[str, str]:
    labels = {}
    with attribution(feature="ticket-triage"):
        for line in client.messages.batches.results(batch_id):
            if line.result.type == "succeeded":
                message = line.result.message
                labels[line.custom_id] = "".join(block.text for block in message.content if block.type == "text")
            else:  # errored (a request the API rejected), canceled or expired: resubmit or report it
                labels[line.custom_id] = f"<{line.result.type}>"
    return labels


def main() -> None:
    client = anthropic.Anthropic()
    batch_id = submit(client)
    wait_until_ended(client, batch_id)
    for ticket, label in sorted(read_results(client, batch_id).items()):
        print(f"{ticket}: {label}")


if __name__ == "__main__":
    configure_opentelemetry()
    anthropic_otel.instrument()
    main()
