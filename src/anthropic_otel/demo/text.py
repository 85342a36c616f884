"""The words the demo's requests carry: deterministic prose of a given length in tokens.

The fake API counts about 4 characters per token (`testing.fake_api.tokens`), so a text of `4 * n` characters is
`n` tokens there. Texts are built from a fixed vocabulary and a seeded generator, so the same seed sends the same
bytes and the prompt cache sees the same prefixes.
"""

from __future__ import annotations

import functools
import random

from ..testing.fake_api.tokens import CHARS_PER_TOKEN

VOCABULARY = (
    "account billing invoice refund order shipping delivery password login subscription plan upgrade downgrade "
    "cancel renewal charge card payment receipt address tracking warehouse carrier delay damaged replacement "
    "warranty return label policy escalation agent customer ticket priority outage status update confirm verify "
    "identity email phone chat queue response resolution apology credit voucher discount loyalty points region "
    "tax currency export report dashboard integration webhook api key limit quota region support hours weekend"
)
WORDS = tuple(VOCABULARY.split())

KNOWLEDGE_BASE = [
    "Refunds are issued to the original payment method within five business days of approval.",
    "Orders ship from the nearest warehouse; tracking numbers are emailed when the carrier scans the parcel.",
    "A subscription renews on the same day each month; a downgrade takes effect at the next renewal.",
    "Agents never ask for a full card number or a password; identity is confirmed with the email on file.",
    "Damaged items are replaced without a return when the customer sends a photo within thirty days.",
    "Escalate to a human agent when the customer asks twice, mentions a legal matter, or an outage is declared.",
]


def words(rng: random.Random, tokens: int) -> str:
    """About `tokens` tokens (on the fake's count) of plausible words."""
    target = max(tokens, 1) * CHARS_PER_TOKEN
    # Words average about 7 characters with their space: draw enough at once, then cut to the exact length.
    drawn = " ".join(rng.choices(WORDS, k=target // 5 + 2))
    while len(drawn) < target:
        drawn += " " + " ".join(rng.choices(WORDS, k=target // 5 + 2))
    return drawn[:target]


@functools.lru_cache(maxsize=32)
def system_prompt(feature: str, tokens: int) -> str:
    """A support assistant's instructions and knowledge base, `tokens` long: the same text for a feature all day,
    different per feature (each feature's prompt is its own cache entry)."""
    head = f"You are the {feature} assistant of an online shop's customer-support team. Answer from the policy. "
    body = " ".join(KNOWLEDGE_BASE)
    rng = random.Random(f"system:{feature}")
    filler = words(rng, tokens)
    text = f"{head}{body} {filler}"
    return text[: tokens * CHARS_PER_TOKEN]


def truncate(text: str, max_tokens: int) -> str:
    """The input-length validation of the after run: at most `max_tokens` tokens of the user's text, with a note
    that the rest was cut, so the model knows it reads an excerpt."""
    limit = max_tokens * CHARS_PER_TOKEN
    if len(text) <= limit:
        return text
    note = " [truncated]"
    return text[: limit - len(note)] + note
