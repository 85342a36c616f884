"""The real binaries of the operations tests, run as child processes on free loopback ports.

`.tools/bin/otelcol` and `.tools/bin/jaeger` come from `make collector jaeger` (tools/tools.mk); Prometheus from
Debian (tools/install-debian.sh). A missing binary skips the test on a developer's machine and fails it under CI
(CI=true), where `make ops-tools` must have built it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOLS_BIN = ROOT / ".tools" / "bin"
COLLECTOR_CONFIG = ROOT / "collector-config"
JAEGER_CONFIG = ROOT / "tools" / "jaeger" / "jaeger.yaml"


def under_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def require(path: Path | str | None, how: str) -> Path:
    """The binary at `path`; skips (or fails under CI) with `how` to get it when it is missing."""
    if path is not None and Path(path).is_file() and os.access(path, os.X_OK):
        return Path(path)
    message = f"{path or 'binary'} is missing: {how}"
    if under_ci():
        pytest.fail(message + " (CI=true: a missing binary is a failure, not a skip)")
    pytest.skip(message)


def otelcol() -> Path:
    return require(TOOLS_BIN / "otelcol", "run `make collector`")


def jaeger() -> Path:
    return require(TOOLS_BIN / "jaeger", "run `make jaeger`")


def prometheus() -> Path:
    return require(shutil.which("prometheus"), "run `sh tools/install-debian.sh` (Debian's prometheus 2.42)")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_ports(count: int) -> list[int]:
    """`count` distinct free ports (held open together while chosen, so none is picked twice)."""
    socks = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            socks.append(sock)
        return [int(sock.getsockname()[1]) for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def http_get(url: str, timeout: float = 5.0, headers: Mapping[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def eventually(check: Callable[[], Any], timeout: float, interval: float = 0.2, what: str = "condition") -> Any:
    """Calls `check` until it returns a truthy value (returned) or raises no AssertionError; fails after `timeout`."""
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while True:
        try:
            result = check()
            if result:
                return result
        except (AssertionError, OSError) as error:
            last = error
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout}s: {last!r}") from last
        time.sleep(interval)


class Process:
    """A child process whose output goes to a log file; `stop()` ends it (SIGTERM, then SIGKILL) and reaps it."""

    def __init__(self, name: str, argv: list[str], log_dir: Path, env: Mapping[str, str] | None = None) -> None:
        self.name = name
        self.argv = argv
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            cwd=log_dir,
        )

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def wait_http(self, url: str, timeout: float = 30.0) -> None:
        """Waits until `url` answers 200, failing early (with the log) if the process exits."""
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.proc.returncode}:\n{self.log()[-4000:]}")
            with contextlib.suppress(OSError):
                status, _ = http_get(url, timeout=1.0)
                if status == 200:
                    return
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name} did not answer {url} within {timeout}s:\n{self.log()[-4000:]}")
            time.sleep(0.1)

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
        self._log.close()


@contextlib.contextmanager
def processes(log_dir: Path) -> Iterator[Callable[..., Process]]:
    """Yields `start(name, argv, env=...)`; every process started through it is stopped on exit, last first."""
    started: list[Process] = []

    def start(name: str, argv: list[str], env: Mapping[str, str] | None = None) -> Process:
        process = Process(name, argv, log_dir, env)
        started.append(process)
        return process

    try:
        yield start
    finally:
        for process in reversed(started):
            process.stop()


def collector_env(**endpoints: str | int) -> dict[str, str]:
    """The OTELCOL_* variables of collector-config/*.yaml, every listener on loopback, from keyword arguments."""
    env = {f"OTELCOL_{key.upper()}": str(value) for key, value in endpoints.items()}
    env.setdefault("OTELCOL_TELEMETRY_HOST", "127.0.0.1")
    env.setdefault("OTELCOL_TELEMETRY_PORT", str(free_port()))
    env.setdefault("OTELCOL_HEALTH_ENDPOINT", f"127.0.0.1:{free_port()}")
    return env


def start_collector(start: Callable[..., Process], name: str, config: str, env: Mapping[str, str]) -> Process:
    """Runs `otelcol --config collector-config/<config>` and waits for its health_check to say it is ready."""
    process = start(name, [str(otelcol()), "--config", str(COLLECTOR_CONFIG / config)], env=env)
    process.wait_http(f"http://{env['OTELCOL_HEALTH_ENDPOINT']}/")
    return process


def start_jaeger(start: Callable[..., Process], name: str = "jaeger") -> tuple[Process, dict[str, str]]:
    """Runs Jaeger v2 with tools/jaeger/jaeger.yaml on free ports; returns it and its endpoints."""
    grpc, http, query, query_grpc, health, telemetry = free_ports(6)
    env = {
        "JAEGER_OTLP_GRPC_ENDPOINT": f"127.0.0.1:{grpc}",
        "JAEGER_OTLP_HTTP_ENDPOINT": f"127.0.0.1:{http}",
        "JAEGER_QUERY_HTTP_ENDPOINT": f"127.0.0.1:{query}",
        "JAEGER_QUERY_GRPC_ENDPOINT": f"127.0.0.1:{query_grpc}",
        "JAEGER_HEALTH_ENDPOINT": f"127.0.0.1:{health}",
        "JAEGER_TELEMETRY_PORT": str(telemetry),
    }
    process = start(name, [str(jaeger()), "--config", str(JAEGER_CONFIG)], env=env)
    process.wait_http(f"http://127.0.0.1:{health}/status")
    return process, env


def start_prometheus(start: Callable[..., Process], work_dir: Path) -> tuple[Process, str]:
    """Debian's Prometheus accepting remote write (and exemplars), no scrape jobs; returns it and its base URL."""
    port = free_port()
    config = work_dir / "prometheus.yml"
    config.write_text("global:\n  evaluation_interval: 1s\n")
    process = start(
        "prometheus",
        [
            str(prometheus()),
            f"--config.file={config}",
            f"--storage.tsdb.path={work_dir / 'prometheus-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--web.enable-remote-write-receiver",
            "--enable-feature=exemplar-storage",
        ],
    )
    url = f"http://127.0.0.1:{port}"
    process.wait_http(f"{url}/-/ready")
    return process, url


# --- Added for the end-to-end test (tests/ops/test_end_to_end.py) --------------------------------------------------


def alertmanager() -> Path:
    """Debian's Alertmanager (`prometheus-alertmanager`), or an upstream `alertmanager` on PATH."""
    found = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    return require(found, "run `sh tools/install-debian.sh` (Debian's prometheus-alertmanager 0.25)")


def http_json(url: str, timeout: float = 10.0) -> Any:
    """GET `url` and decode its JSON body, whatever the status (Prometheus explains errors in the body)."""
    import json

    _, body = http_get(url, timeout=timeout)
    return json.loads(body)


class WebhookReceiver:
    """An HTTP server on loopback, in a thread, keeping every JSON body POSTed to it (Alertmanager's webhook)."""

    def __init__(self) -> None:
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.posted: list[Any] = []
        lock = self.lock = threading.Lock()
        posted = self.posted

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
                with lock:
                    posted.append(body)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}/alerts"
        threading.Thread(target=self.http.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()

    def bodies(self) -> list[Any]:
        with self.lock:
            return list(self.posted)

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()
