"""A trace backend for the fleet test: an OTLP/gRPC TraceService on loopback that keeps what it received.

Each gateway of the fleet exports to a sink of its own, so the test can say which gateway every span went through.
"""

from __future__ import annotations

import threading
from concurrent import futures

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc


class TraceSink(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.spans: list[tuple[str, str, str]] = []
        """(trace ID, span ID, span name) of every span received, hex IDs."""
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(self, self._server)
        self.port = self._server.add_insecure_port("127.0.0.1:0")
        self.endpoint = f"127.0.0.1:{self.port}"

    def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: grpc.ServicerContext
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        received = [
            (span.trace_id.hex(), span.span_id.hex(), span.name)
            for resource_spans in request.resource_spans
            for scope_spans in resource_spans.scope_spans
            for span in scope_spans.spans
        ]
        with self._lock:
            self.spans.extend(received)
        return trace_service_pb2.ExportTraceServiceResponse()

    def traces(self) -> dict[str, set[str]]:
        """Trace ID -> the IDs of its spans received here."""
        with self._lock:
            found: dict[str, set[str]] = {}
            for trace_id, span_id, _ in self.spans:
                found.setdefault(trace_id, set()).add(span_id)
            return found

    def __enter__(self) -> TraceSink:
        self._server.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.stop(grace=1).wait()
