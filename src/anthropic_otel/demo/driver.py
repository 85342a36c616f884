"""Plays a `plan.Day` through the real, instrumented SDK against the bundled fake API.

The day advances a minute at a time on the fake's clock (prompt-cache lifetimes and batch processing follow it).
The calls of a minute run concurrently, sync ones on a thread pool and async ones on an event loop, as an
application's requests would; then the metrics are collected (`Pipeline.scrape`), as a scrape would, before the
next minute starts. What each call gets back (its faults, its reply) is chosen by the fake from the call's
`x-demo-call` header and the SDK's retry count, never from the order of arrival, so the same seed gives the same
figures however the threads interleave.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

import anthropic

from ..attribution import attribution
from ..testing.fake_api import FakeAnthropic, FakeClock, Latency, ReceivedRequest, Reply, Simulation
from . import plan, text
from .pipeline import Pipeline, Sample

CALL_HEADER = "x-demo-call"
RETRY_AFTER = 0.02
"""Seconds the fake asks the SDK to wait before a retry (`retry-after`): the compressed day's few seconds."""
LATENCY = Latency(first_token=0.008, tokens_per_second=25_000, jitter=0.3)
"""The fake's time to first token and writing speed, in wall-clock seconds, scaled down with the day."""
JOB_REPLY = "category: billing; urgency: low"
LOW_HEADROOM = {"anthropic-ratelimit-requests-limit": "4000", "anthropic-ratelimit-requests-remaining": "120"}
WORKERS = 24


def fake_api(seed: int, clock: FakeClock, batch_seconds: float) -> FakeAnthropic:
    latency = Latency(LATENCY.first_token, LATENCY.tokens_per_second, LATENCY.jitter, seed)
    return FakeAnthropic(simulation=Simulation.realistic(latency, batch_seconds=batch_seconds), clock=clock)


def day_time(seconds: float) -> str:
    minutes = int(seconds) // 60
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def fault(status: int, low_headroom: bool) -> Reply:
    headers = LOW_HEADROOM if low_headroom else None
    if status == 429:
        return Reply.rate_limited(retry_after=RETRY_AFTER, headers=headers)
    if status == 529:
        return Reply.overloaded(retry_after=RETRY_AFTER, headers=headers)
    return Reply.error(status, "api_error", retry_after=RETRY_AFTER, headers=headers)


class Responder:
    """The fake API's choice of reply for each message request: the planned faults, then the planned answer."""

    def __init__(self) -> None:
        self.calls: dict[str, plan.Call] = {}

    def __call__(self, request: ReceivedRequest) -> Reply | None:
        call = self.calls.get(request.headers.get(CALL_HEADER, ""))
        if call is None:
            return None
        try:
            attempt = int(request.headers.get("x-stainless-retry-count", "0"))
        except ValueError:
            attempt = 0
        if attempt < len(call.faults):
            return fault(call.faults[attempt], call.low_headroom)
        rng = random.Random(call.seed)
        answer = JOB_REPLY if call.feature == plan.JOB_FEATURE else text.words(rng, call.reply_tokens)
        return Reply.message(answer, headers=LOW_HEADROOM if call.low_headroom else None)


def request_of(call: plan.Call) -> dict[str, Any]:
    """The `messages.create` arguments of a planned call (its texts drawn from the call's own seed)."""
    rng = random.Random(f"text:{call.seed}")
    messages: list[dict[str, Any]] = []
    for user_tokens, assistant_tokens in call.history:
        messages.append({"role": "user", "content": text.words(rng, user_tokens)})
        messages.append({"role": "assistant", "content": text.words(rng, assistant_tokens)})
    question = text.words(rng, call.user_tokens)
    if call.truncate_to is not None:
        question = text.truncate(question, call.truncate_to)
    content: list[dict[str, Any]] = []
    if call.context_tokens:
        content.append({"type": "text", "text": text.words(rng, call.context_tokens)})
    content.append({"type": "text", "text": question})
    messages.append({"role": "user", "content": content})
    arguments: dict[str, Any] = {"model": call.model, "max_tokens": call.max_tokens, "messages": messages}
    if call.system is not None:
        block: dict[str, Any] = {"type": "text", "text": text.system_prompt(call.system, plan.SYSTEM_TOKENS)}
        if call.cache:
            block["cache_control"] = {"type": "ephemeral"}
        arguments["system"] = [block]
    return arguments


@dataclass
class Progress:
    """What the display is told after each minute: the run, the simulated time, the calls done per scenario,
    and the latest collection (the live counters come from the telemetry, not from the driver)."""

    run: str
    at: int
    duration: int
    done: dict[str, int]
    planned: dict[str, int]
    sample: Sample | None


def scenario_of(call: plan.Call) -> str:
    if call.feature == plan.JOB_FEATURE:
        return "job"
    if call.feature == plan.SUMMARY_FEATURE:
        return "summaries"
    return "chat"


class Driver:
    def __init__(
        self,
        api: FakeAnthropic,
        clock: FakeClock,
        pipeline: Pipeline,
        *,
        speed: float,
        on_progress: Callable[[Progress], None] = lambda progress: None,
        stop: threading.Event | None = None,
    ) -> None:
        self.api = api
        self.clock = clock
        self.origin = clock()
        self.pipeline = pipeline
        self.speed = speed
        self.on_progress = on_progress
        self.stop = stop or threading.Event()
        self.responder = Responder()
        options = pipeline.client_options()
        self.client = anthropic.Anthropic(base_url=api.base_url, api_key="demo-key", max_retries=2, **options)
        self.options = options
        self.loop = asyncio.new_event_loop()
        self.loop_thread = threading.Thread(target=self.loop.run_forever, name="demo-async", daemon=True)
        self.async_client: anthropic.AsyncAnthropic | None = None

    @contextlib.contextmanager
    def running(self) -> Iterator[Driver]:
        self.loop_thread.start()
        self.async_client = asyncio.run_coroutine_threadsafe(self._async_client(), self.loop).result()
        self.pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="demo-sync")
        try:
            yield self
        finally:
            self.pool.shutdown(wait=True)
            asyncio.run_coroutine_threadsafe(self.async_client.close(), self.loop).result()
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.loop_thread.join()
            self.loop.close()
            self.client.close()

    async def _async_client(self) -> anthropic.AsyncAnthropic:
        return anthropic.AsyncAnthropic(base_url=self.api.base_url, api_key="demo-key", max_retries=2, **self.options)

    # -- one call ----------------------------------------------------------------------------------------------------

    def labels(self, call: plan.Call) -> attribution:
        return attribution(feature=call.feature, user_id=call.user, run=self.pipeline.run, day_time=day_time(call.at))

    def call_sync(self, call: plan.Call) -> None:
        arguments = request_of(call)
        with self.labels(call), contextlib.suppress(anthropic.APIError):
            headers = {CALL_HEADER: call.id}
            if not call.stream:
                self.client.messages.create(**arguments, extra_headers=headers)
                return
            stream = self.client.messages.create(**arguments, stream=True, extra_headers=headers)
            try:
                for index, _ in enumerate(stream, 1):
                    if call.abandon_after is not None and index >= call.abandon_after:
                        break  # the user closed the chat window
            finally:
                stream.close()

    async def call_async(self, call: plan.Call) -> None:
        assert self.async_client is not None
        arguments = request_of(call)
        with self.labels(call), contextlib.suppress(anthropic.APIError):
            headers = {CALL_HEADER: call.id}
            if not call.stream:
                await self.async_client.messages.create(**arguments, extra_headers=headers)
                return
            stream = await self.async_client.messages.create(**arguments, stream=True, extra_headers=headers)
            try:
                index = 0
                async for _ in stream:
                    index += 1
                    if call.abandon_after is not None and index >= call.abandon_after:
                        break
            finally:
                await stream.close()

    # -- the day -----------------------------------------------------------------------------------------------------

    def run(self, day: plan.Day) -> None:
        """Plays `day` minute by minute; returns early, between minutes, when `stop` is set."""
        by_minute = day.minutes()
        self.responder.calls = {call.id: call for call in [*day.calls, *day.job]}
        self.api.responder = self.responder
        self.api.default = Reply.message(JOB_REPLY)  # what the batch's requests are answered with
        planned: dict[str, int] = {}
        for call in [*day.calls, *day.job]:
            planned[scenario_of(call)] = planned.get(scenario_of(call), 0) + 1
        done = dict.fromkeys(planned, 0)
        batch_id: str | None = None
        next_poll = 0
        started = time.monotonic()
        for at in range(0, day.duration, plan.MINUTE):
            if self.stop.is_set():
                return
            self.clock.advance(self.origin + at - self.clock())
            calls = by_minute.get(at, [])
            active = bool(calls)
            if day.batch and day.job and at == day.job_at:
                batch_id = self.submit_batch(day)
                next_poll, active = at + plan.BATCH_POLL, True
            elif batch_id is not None and at >= next_poll:
                active = True
                if self.poll_batch(batch_id, day):
                    batch_id = None
                    done["job"] = planned["job"]
                else:
                    next_poll = at + plan.BATCH_POLL
            if not active:
                continue
            if self.speed > 0:  # keep to the pace: a simulated minute every 60 / speed wall-clock seconds
                ahead = started + at / self.speed - time.monotonic()
                if ahead > 0:
                    self.stop.wait(ahead)
            self.play(calls)
            for call in calls:
                done[scenario_of(call)] += 1
            sample = self.pipeline.scrape(at + plan.MINUTE)
            self.on_progress(Progress(day.variant, at + plan.MINUTE, day.duration, dict(done), planned, sample))
        self.on_progress(Progress(day.variant, day.duration, day.duration, dict(done), planned, None))

    def play(self, calls: list[plan.Call]) -> None:
        futures: list[Future[Any]] = []
        for call in calls:
            if call.mode == "async":
                futures.append(asyncio.run_coroutine_threadsafe(self.call_async(call), self.loop))  # type: ignore[arg-type]
            else:
                futures.append(self.pool.submit(self.call_sync, call))
        wait(futures)
        for future in futures:
            future.result()

    def submit_batch(self, day: plan.Day) -> str:
        requests = [{"custom_id": call.id, "params": request_of(call)} for call in day.job]
        with attribution(feature=plan.JOB_FEATURE, run=self.pipeline.run, day_time=day_time(day.job_at)):
            batch = self.client.messages.batches.create(requests=requests)  # type: ignore[arg-type]
        return batch.id

    def poll_batch(self, batch_id: str, day: plan.Day) -> bool:
        """Whether the batch has ended; its results are read (and metered by the plugin) when it has."""
        with attribution(feature=plan.JOB_FEATURE, run=self.pipeline.run):
            batch = self.client.messages.batches.retrieve(batch_id)
            if batch.processing_status != "ended":
                return False
            for _ in self.client.messages.batches.results(batch_id):
                pass
        return True
