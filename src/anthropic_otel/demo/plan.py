"""The day the demo replays: who calls what, when, and what goes wrong, drawn once from a seed.

A day is a list of calls, each at a minute of the simulated day, and the incidents that make some of their HTTP
attempts fail. The *before* and *after* runs are the same day (the same draws from the same seed), changed only by
the three levers:

- prompt caching: the chat features' ~4,000-token system prompt gets a `cache_control` breakpoint;
- batching: the nightly classification job goes out as one Message Batch instead of synchronous calls;
- input validation: a ticket summary's input is cut at `SUMMARY_MAX_TOKENS` instead of sent whole.

`duration` compresses the day: every time of day is scaled by `duration / DAY` and every volume with it, while the
incidents keep their length in minutes, so a short run still has a rate-limit storm long enough to alert on.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

DAY = 86400
MINUTE = 60

SONNET = "claude-sonnet-4-6"
"""The chat features and the nightly job."""
SONNET_SUMMARY = "claude-sonnet-5-5"
"""Ticket summaries."""
HAIKU = "claude-haiku-5-5"
"""Triage: a small call that routes each conversation to the chat feature that answers it."""

CHAT_FEATURES = ("support-chat", "agent-assist", "email-reply")
"""The features that send the large system prompt, and that prompt caching changes."""
JOB_FEATURE = "nightly-classify"
SUMMARY_FEATURE = "ticket-summary"
TRIAGE_FEATURE = "triage"

SYSTEM_TOKENS = 4_200
"""The chat system prompt: above the 1,024-token minimum a Sonnet prompt must have to be cached."""
CONTEXT_TOKENS = (2_000, 4_000)
"""Order details and help articles retrieved for each chat turn: different every turn, so never cached."""
SUMMARY_TOKENS = (6_000, 10_000)
OVERLONG_TOKENS = (50_000, 65_000)
"""A ticket thread with a pasted log dump: what input validation is for."""
SUMMARY_MAX_TOKENS = 12_000
"""The after run's input limit for summaries: well above any ordinary thread, far below a log dump."""
JOB_TOKENS = (11_000, 13_000)

CONVERSATIONS = 110
SUMMARIES = 130
OVERLONG = 3
JOB_TICKETS = 320
JOB_PER_MINUTE = 20
JOB_START = 2 * 3600
"""The nightly job starts at 02:00."""
BATCH_SECONDS = 45 * MINUTE
"""How long the fake API takes to process the batch."""
BATCH_POLL = 5 * MINUTE

HOURLY = (
    0.15, 0.1, 0.08, 0.08, 0.1, 0.2, 0.4, 0.7, 1.0, 1.0, 1.0, 0.95,
    0.9, 1.0, 1.0, 0.95, 0.9, 0.8, 0.6, 0.5, 0.4, 0.35, 0.25, 0.2,
)  # fmt: skip
"""The weight of each hour of the day in chat and summary traffic: quiet nights, busy office hours."""

Status = Literal[429, 500, 529]
Variant = Literal["before", "after"]


@dataclass(frozen=True)
class Incident:
    """A stretch of the day where a share of HTTP attempts fails with `status`."""

    name: str
    status: Status
    start: float
    """Where in the day it starts, as a fraction of the day."""
    minutes: int
    """How long it lasts, in simulated minutes (whatever the duration)."""
    probability: float
    low_headroom: bool = False
    """Whether responses in it report an almost spent rate limit."""


INCIDENTS = (
    Incident("rate-limit storm", 429, 10.5 / 24, 20, 0.85, low_headroom=True),
    Incident("overload burst", 529, 15 / 24, 10, 0.7),
)
STEADY_500 = 0.10
"""The share of attempts that fail with a 500 all day: low enough that the SDK's retries hide nearly all of it."""
LONG_REPLIES = (13 / 24, 90, 0.4)
"""From 13:00, for 90 minutes, 40% of the chat answers run past max_tokens (a prompt change made them wordy)."""
MAX_TOKENS_SPORADIC = 0.02


@dataclass(frozen=True)
class Call:
    """One `messages.create` of the day."""

    id: str
    """Sent as the `x-demo-call` header: how the fake API knows which reply and faults this call has."""
    at: int
    """Seconds into the simulated day, a whole minute."""
    feature: str
    user: str
    model: str
    mode: Literal["sync", "async"]
    stream: bool
    system: str | None
    """The feature whose system prompt the call sends, if any."""
    cache: bool
    context_tokens: int
    history: tuple[tuple[int, int], ...]
    """Earlier turns of the conversation: (user tokens, assistant tokens) each."""
    user_tokens: int
    max_tokens: int
    reply_tokens: int
    """How long the model's answer is; above `max_tokens`, the fake cuts it and says `max_tokens`."""
    faults: tuple[Status, ...] = ()
    """The status of each failed HTTP attempt before the one that succeeds (all of them when the call fails)."""
    low_headroom: bool = False
    abandon_after: int | None = None
    """A streamed call whose reader stops after this many events."""
    truncate_to: int | None = None
    """Input validation: the user's text is cut to this many tokens before it is sent."""
    seed: int = 0


@dataclass
class Day:
    """The calls of one run, by minute, and the nightly job's shape."""

    variant: Variant
    duration: int
    calls: list[Call] = field(default_factory=list)
    job: list[Call] = field(default_factory=list)
    job_at: int = 0
    batch: bool = False

    def minutes(self) -> dict[int, list[Call]]:
        found: dict[int, list[Call]] = {}
        for call in self.calls:
            found.setdefault(call.at, []).append(call)
        if not self.batch:
            for call in self.job:
                found.setdefault(call.at, []).append(call)
        return found


def scaled(fraction: float, duration: int) -> int:
    """A time of day, given as a fraction of the day, in a run of `duration` seconds, on a whole minute."""
    return int(fraction * duration) // MINUTE * MINUTE


def draw_times(rng: random.Random, count: int, duration: int) -> list[int]:
    """`count` whole-minute times in the run, following the hourly weights."""
    hours = rng.choices(range(24), weights=HOURLY, k=count)
    return sorted(scaled((hour + rng.random()) / 24, duration) for hour in hours)


def faults_at(rng: random.Random, at: int, duration: int, attempts: int = 3) -> tuple[tuple[Status, ...], bool]:
    """The failed attempts of a call at `at`: each attempt fails with an incident's status or the steady 500s,
    until one succeeds or the attempts run out."""
    found: list[Status] = []
    low_headroom = False
    for _ in range(attempts):
        status: Status | None = None
        for incident in INCIDENTS:
            start = scaled(incident.start, duration)
            if start <= at < start + incident.minutes * MINUTE:
                low_headroom = low_headroom or incident.low_headroom
                if rng.random() < incident.probability:
                    status = incident.status
                    break
        if status is None and rng.random() < STEADY_500:
            status = 500
        if status is None:
            break
        found.append(status)
    return tuple(found), low_headroom


class Ids:
    """Call ids in the order the day is drawn: `c000001`, `c000002`, ..."""

    def __init__(self) -> None:
        self.number = 0

    def __call__(self) -> str:
        self.number += 1
        return f"c{self.number:06d}"


USERS = tuple(f"user-{index:03d}" for index in range(1, 61))


def chat(seed: int, duration: int, after: bool, ids: Ids) -> list[Call]:
    """The conversations: a triage call on Haiku, then one to five turns on Sonnet with the big system prompt."""
    calls: list[Call] = []
    conversations = random.Random(f"{seed}:conversations")
    long_start = scaled(LONG_REPLIES[0], duration)
    for start in draw_times(conversations, max(1, round(CONVERSATIONS * duration / DAY)), duration):
        feature = conversations.choices(CHAT_FEATURES, weights=(5, 3, 2))[0]
        user = conversations.choice(USERS)
        turns = conversations.randint(1, 5)
        mode: Literal["sync", "async"] = "sync" if feature == "support-chat" else "async"
        stream = feature != "email-reply"
        at = start
        call_id = ids()
        triage = random.Random(f"{seed}:{call_id}")
        faults, low = faults_at(triage, at, duration)
        calls.append(
            Call(
                id=call_id, at=at, feature=TRIAGE_FEATURE, user=user, model=HAIKU, mode="sync",
                stream=False, system=None, cache=False, context_tokens=0, history=(),
                user_tokens=triage.randint(60, 160), max_tokens=16, reply_tokens=4, faults=faults,
                low_headroom=low, seed=triage.randrange(1 << 30),
            )
        )  # fmt: skip
        history: list[tuple[int, int]] = []
        for _ in range(turns):
            call_id = ids()
            rng = random.Random(f"{seed}:{call_id}")
            faults, low = faults_at(rng, at, duration)
            reply = rng.randint(250, 450) if feature != "email-reply" else rng.randint(450, 650)
            max_tokens = 1024 if feature != "email-reply" else 800
            if long_start <= at < long_start + LONG_REPLIES[1] * MINUTE:
                if rng.random() < LONG_REPLIES[2]:
                    reply = max_tokens + rng.randint(100, 400)
            elif rng.random() < MAX_TOKENS_SPORADIC:
                reply = max_tokens + rng.randint(50, 300)
            abandon = rng.randint(3, 8) if stream and rng.random() < 0.12 else None
            user_tokens = rng.randint(60, 200)
            calls.append(
                Call(
                    id=call_id, at=at, feature=feature, user=user, model=SONNET, mode=mode, stream=stream,
                    system=feature, cache=after, context_tokens=rng.randint(*CONTEXT_TOKENS),
                    history=tuple(history), user_tokens=user_tokens, max_tokens=max_tokens, reply_tokens=reply,
                    faults=faults, low_headroom=low, abandon_after=abandon, seed=rng.randrange(1 << 30),
                )
            )  # fmt: skip
            history.append((user_tokens, min(reply, max_tokens)))
            at = min(at + conversations.randint(1, 3) * MINUTE, duration - MINUTE)
    return calls


def summaries(seed: int, duration: int, after: bool, ids: Ids) -> list[Call]:
    """Ticket summaries on Sonnet 5.5; a few carry a pasted log dump, cut to size in the after run."""
    calls: list[Call] = []
    draws = random.Random(f"{seed}:summaries")
    times = draw_times(draws, max(1, round(SUMMARIES * duration / DAY)), duration)
    overlong_count = max(1, round(OVERLONG * duration / DAY))
    # Log dumps arrive in office hours, once the anomaly detector has seen enough ordinary summaries.
    eligible = [index for index, at in enumerate(times) if index >= 15 and at >= scaled(9 / 24, duration)]
    overlong = set(draws.sample(eligible, min(overlong_count, len(eligible))))
    for index, at in enumerate(times):
        call_id = ids()
        rng = random.Random(f"{seed}:{call_id}")
        faults, low = faults_at(rng, at, duration)
        tokens = rng.randint(*(OVERLONG_TOKENS if index in overlong else SUMMARY_TOKENS))
        calls.append(
            Call(
                id=call_id, at=at, feature=SUMMARY_FEATURE, user=draws.choice(USERS), model=SONNET_SUMMARY,
                mode="sync", stream=False, system=None, cache=False, context_tokens=0, history=(),
                user_tokens=tokens, max_tokens=600, reply_tokens=rng.randint(200, 300), faults=faults,
                low_headroom=low, truncate_to=SUMMARY_MAX_TOKENS if after else None, seed=rng.randrange(1 << 30),
            )
        )  # fmt: skip
    return calls


def job(seed: int, duration: int, after: bool, ids: Ids, job_at: int) -> list[Call]:
    """The nightly classification of the open ticket backlog: `JOB_PER_MINUTE` synchronous calls a minute before,
    one batch of the same requests after (a batch's requests are not retried by the SDK: no faults)."""
    calls: list[Call] = []
    draws = random.Random(f"{seed}:job")
    for index in range(max(1, round(JOB_TICKETS * duration / DAY))):
        call_id = ids()
        rng = random.Random(f"{seed}:{call_id}")
        at = job_at + index // JOB_PER_MINUTE * MINUTE
        faults, low = ((), False) if after else faults_at(rng, at, duration)
        calls.append(
            Call(
                id=call_id, at=job_at if after else at, feature=JOB_FEATURE, user="batch", model=SONNET,
                mode="sync", stream=False, system=None, cache=False, context_tokens=0, history=(),
                user_tokens=draws.randint(*JOB_TOKENS), max_tokens=32, reply_tokens=8, faults=faults,
                low_headroom=low, seed=rng.randrange(1 << 30),
            )
        )  # fmt: skip
    return calls


SCENARIOS = ("chat", "summaries", "job", "incidents")
"""What a day is made of; `--scenarios` picks some (`incidents` are the faults of the others)."""


def build(seed: int, duration: int, variant: Variant, scenarios: Sequence[str] = SCENARIOS) -> Day:
    """The day of `variant`, drawn from `seed`: the same calls at the same times whatever the variant."""
    after = variant == "after"
    day = Day(variant=variant, duration=duration, batch=after, job_at=scaled(JOB_START / DAY, duration))
    ids = Ids()
    # Every part is drawn, chosen or not, so that leaving one out does not change the others' ids and draws.
    parts = {
        "chat": chat(seed, duration, after, ids),
        "summaries": summaries(seed, duration, after, ids),
        "job": job(seed, duration, after, ids, day.job_at),
    }
    calls = [call for name in ("chat", "summaries") if name in scenarios for call in parts[name]]
    jobs = parts["job"] if "job" in scenarios else []
    if "incidents" not in scenarios:
        calls = [replace(call, faults=(), low_headroom=False) for call in calls]
        jobs = [replace(call, faults=(), low_headroom=False) for call in jobs]
    day.calls = sorted(calls, key=lambda call: (call.at, call.id))
    day.job = jobs
    return day


def features(calls: Sequence[Call]) -> list[str]:
    return sorted({call.feature for call in calls})
