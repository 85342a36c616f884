"""Real Anthropic API interactions recorded as VCR.py cassettes, replayed byte-exact through the fake server.

Why replay: hand-written fakes encode our own idea of the API. Recorded bodies (odd whitespace in SSE, gzip'd JSON,
fields older or newer than we expected) are the ground truth the instrumentation must parse, and serving them over
HTTP lets every installed SDK version parse them its own way.

PyYAML is only needed to read cassettes (a test extra), so it is imported when a cassette is loaded.
"""

from __future__ import annotations

import gzip
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .fake_api import RawReply, Reply

__all__ = ["ENV_VAR", "Recording", "cassette_dir", "load_cassette"]

ENV_VAR = "ANTHROPIC_OTEL_RECORDINGS"
"""Environment variable naming the recordings folder; it wins over the folder found next to the repository."""

_RELATIVE_TO_REPO = Path("..", "shared", "fixtures", "recorded-anthropic")


@dataclass(frozen=True)
class Recording:
    """One request/response pair of a cassette."""

    name: str
    """File stem and index, e.g. ``prompt_caching#1``."""
    request_uri: str
    request_json: object
    """The request body decoded as JSON (None when it was empty or not JSON)."""
    status: int
    headers: list[tuple[str, str]]
    """Response headers in recorded order, one pair per value."""
    body: bytes
    """The response body as it was on the wire (still gzip'd when ``Content-Encoding`` says so)."""

    def header(self, name: str) -> str | None:
        """The first value of a response header, by case-insensitive name."""
        return next((value for key, value in self.headers if key.lower() == name.lower()), None)

    @property
    def is_gzip(self) -> bool:
        return (self.header("content-encoding") or "").lower() == "gzip"

    @property
    def is_stream(self) -> bool:
        """Whether the response is Server-Sent Events."""
        return (self.header("content-type") or "").startswith("text/event-stream")

    def decoded_body(self) -> bytes:
        """The body with any gzip content encoding removed."""
        return gzip.decompress(self.body) if self.is_gzip else self.body

    def reply(self) -> RawReply:
        """A reply serving this response byte-exact; SSE is sent one event per chunk, so it really streams."""
        chunks = _split_events(self.body) if self.is_stream and not self.is_gzip else None
        return Reply.raw(self.status, self.headers, self.body, chunks=chunks)


def _split_events(body: bytes) -> list[bytes]:
    """Split an SSE body after each blank line (event boundary); the pieces concatenate back to ``body``."""
    return [piece for piece in re.split(rb"(?<=\n\n)", body) if piece]


def load_cassette(path: str | os.PathLike[str]) -> list[Recording]:
    """Read a VCR.py YAML cassette into recordings, in file order."""
    import yaml  # a test extra, so only imported here

    path = Path(path)
    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return [
        _recording(f"{path.stem}#{index}", interaction)
        for index, interaction in enumerate(document.get("interactions") or [])
    ]


def _recording(name: str, interaction: Mapping[str, Any]) -> Recording:
    request, response = interaction["request"], interaction["response"]
    return Recording(
        name=name,
        request_uri=str(request.get("uri", "")),
        request_json=_json_or_none(_body_bytes(request.get("body"))),
        status=int(response["status"]["code"]),
        headers=[(str(k), str(v)) for k, values in (response.get("headers") or {}).items() for v in _listed(values)],
        body=_body_bytes(response.get("body")),
    )


def _body_bytes(body: object) -> bytes:
    """VCR writes a body as ``{string: ...}`` or bare; text (UTF-8) or ``!!binary`` bytes."""
    if isinstance(body, Mapping):
        body = body.get("string")
    if body is None:
        return b""
    return body if isinstance(body, bytes) else str(body).encode("utf-8")


def _listed(values: object) -> list[object]:
    return list(values) if isinstance(values, list | tuple) else [values]


def _json_or_none(data: bytes) -> object:
    try:
        return json.loads(data) if data else None
    except ValueError:
        return None


def cassette_dir() -> Path | None:
    """The recordings folder: ``$ANTHROPIC_OTEL_RECORDINGS``, else ``<repo root>/../shared/fixtures/recorded-anthropic``
    where the repo root is the nearest folder holding ``pyproject.toml`` above this file or the working directory.
    None when there is no such folder (e.g. an installed package), so tests can skip."""
    override = os.environ.get(ENV_VAR)
    if override:
        return Path(override) if Path(override).is_dir() else None
    for start in (Path(__file__).resolve().parent, Path.cwd().resolve()):
        root = next((folder for folder in (start, *start.parents) if (folder / "pyproject.toml").is_file()), None)
        if root is not None and (root / _RELATIVE_TO_REPO).is_dir():
            return (root / _RELATIVE_TO_REPO).resolve()
    return None
