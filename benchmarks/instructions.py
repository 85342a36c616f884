"""Instructions per call, counted by callgrind: deterministic where the clock of a shared VM is not.

Runs one workload of `overhead.py` in one configuration under `valgrind --tool=callgrind --instr-atstart=no`,
switches counting on after a warm-up (with `callgrind_control`), makes the calls, and switches it off. Run twice
with different counts, the difference removes the fixed cost of switching:

    count() { valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=/tmp/cg.%p \\
        .venv/bin/python benchmarks/instructions.py "$1" "$2" "$3" 2>&1 | awk '/Collected/ {print $4}'; }
    echo $(( ($(count create otel 300) - $(count create otel 100)) / 200 ))

Configurations: `bare`, `otel`, `noop` (the plugin on the API's no-op providers), `native`, `native+otel`.
Instructions are not time: the plugin's Python runs fewer instructions per second than the SDK's C-heavy parsing.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys

from opentelemetry._logs import NoOpLoggerProvider
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.trace import NoOpTracerProvider
from overhead import WORKLOADS, install_pipeline, make_clients

import anthropic_otel


def callgrind(switch: str) -> None:
    subprocess.run(["callgrind_control", "-i", switch, str(os.getpid())], capture_output=True, check=False)


def main(workload: str, config: str, calls: int) -> None:
    install_pipeline()
    clients = make_clients(native="native" in config)
    if config == "noop":
        anthropic_otel.instrument(
            tracer_provider=NoOpTracerProvider(),
            meter_provider=NoOpMeterProvider(),
            logger_provider=NoOpLoggerProvider(),
        )
    elif "otel" in config:
        anthropic_otel.instrument()
    WORKLOADS[workload](clients, 200, [])
    gc.collect()
    callgrind("on")
    WORKLOADS[workload](clients, calls, [])
    callgrind("off")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
