"""A small OTLP/HTTP receiver on 127.0.0.1, for tests that export the way a deployment does.

It accepts protobuf POSTs on /v1/traces, /v1/metrics and /v1/logs (what the SDK's OTLP/HTTP exporters send) and
keeps the decoded requests, so a test can read back exactly what left the process.
"""

from __future__ import annotations

import gzip
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

KINDS = {
    "/v1/traces": ExportTraceServiceRequest,
    "/v1/metrics": ExportMetricsServiceRequest,
    "/v1/logs": ExportLogsServiceRequest,
}


class Receiver:
    def __init__(self) -> None:
        self.received: dict[str, list[Any]] = {path: [] for path in KINDS}
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                if self.headers.get("content-encoding") == "gzip":
                    body = gzip.decompress(body)
                kind = KINDS.get(self.path)
                if kind is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                message = kind()
                message.ParseFromString(body)
                with receiver.lock:
                    receiver.received[self.path].append(message)
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def spans(self) -> list[Any]:
        with self.lock:
            requests = list(self.received["/v1/traces"])
        return [
            span
            for request in requests
            for resource in request.resource_spans
            for scope in resource.scope_spans
            for span in scope.spans
        ]

    def metric_names(self) -> set[str]:
        with self.lock:
            requests = list(self.received["/v1/metrics"])
        return {
            metric.name
            for request in requests
            for resource in request.resource_metrics
            for scope in resource.scope_metrics
            for metric in scope.metrics
        }

    def log_events(self) -> list[str]:
        with self.lock:
            requests = list(self.received["/v1/logs"])
        return [
            record.event_name
            for request in requests
            for resource in request.resource_logs
            for scope in resource.scope_logs
            for record in scope.log_records
        ]

    def resource_attributes(self) -> dict[str, str]:
        with self.lock:
            requests = list(self.received["/v1/traces"])
        return {
            attribute.key: attribute.value.string_value
            for request in requests
            for resource in request.resource_spans
            for attribute in resource.resource.attributes
        }
