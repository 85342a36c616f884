"""Thin proxies around the SDK's `Stream` and `AsyncStream` that show each event to the call.

They keep `isinstance` and every attribute of the stream (wrapt), return themselves from `__iter__` and `__enter__`
so that the events still pass through them, and tell the call how the stream ended: read to the end, closed,
failed, or dropped by the application (`__del__`). The call itself makes sure it ends only once.
"""

from __future__ import annotations

from typing import Any

import wrapt

from .call import Call


class CallStream(wrapt.ObjectProxy):  # type: ignore[misc]
    def __init__(self, stream: Any, call: Call) -> None:
        super().__init__(stream)
        self._self_call = call

    def __iter__(self) -> CallStream:
        return self

    def __next__(self) -> Any:
        try:
            event = self.__wrapped__.__next__()
        except StopIteration:
            self._self_call.stream_ended("read")
            raise
        except BaseException as err:
            self._self_call.stream_ended("failed", err)
            raise
        self._self_call.stream_event(event)
        return event

    def __enter__(self) -> CallStream:
        self.__wrapped__.__enter__()
        return self

    def __exit__(self, *exc: Any) -> Any:
        try:
            return self.__wrapped__.__exit__(*exc)
        finally:
            self._self_call.stream_ended("closed")

    def close(self) -> None:
        try:
            self.__wrapped__.close()
        finally:
            self._self_call.stream_ended("closed")

    def __del__(self) -> None:
        self._self_call.stream_ended("closed")


class AsyncCallStream(wrapt.ObjectProxy):  # type: ignore[misc]
    def __init__(self, stream: Any, call: Call) -> None:
        super().__init__(stream)
        self._self_call = call

    def __aiter__(self) -> AsyncCallStream:
        return self

    async def __anext__(self) -> Any:
        try:
            event = await self.__wrapped__.__anext__()
        except StopAsyncIteration:
            self._self_call.stream_ended("read")
            raise
        except BaseException as err:
            self._self_call.stream_ended("failed", err)
            raise
        self._self_call.stream_event(event)
        return event

    async def __aenter__(self) -> AsyncCallStream:
        await self.__wrapped__.__aenter__()
        return self

    async def __aexit__(self, *exc: Any) -> Any:
        try:
            return await self.__wrapped__.__aexit__(*exc)
        finally:
            self._self_call.stream_ended("closed")

    async def close(self) -> None:
        try:
            await self.__wrapped__.close()
        finally:
            self._self_call.stream_ended("closed")

    def __del__(self) -> None:
        self._self_call.stream_ended("closed")
