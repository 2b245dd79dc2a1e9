"""A recording gRPC proxy in front of the Pub/Sub emulator: every RPC a client makes, by its
method name (/google.pubsub.v1.Publisher/Publish), forwarded as raw bytes.

Pub/Sub's client speaks gRPC, so the BigQuery recorder's HTTP proxy cannot see it; this does the
same for gRPC, with a generic handler that never decodes a message: what the functions call is
recorded whatever the client library's version, and answered by the real emulator.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import grpc
from backfill.local.stack import free_port

HOLD_SECONDS = 10.0
# Methods whose requests and answers are streams (the subscriber's pull); the rest are unary.
_STREAMING = frozenset({"/google.pubsub.v1.Subscriber/StreamingPull"})


@dataclass(frozen=True)
class Call:
    """One RPC: its full method name, and its request as sent (None for a stream's)."""

    method: str
    request: bytes | None


@dataclass
class GrpcRecorder:
    """The proxy's address and every call that went through it, in arrival order."""

    upstream: str
    host: str = ""
    calls: list[Call] = field(default_factory=list)
    # The first call of a method named here waits for its event before it is passed on (at most
    # HOLD_SECONDS): what a slow answer does to the client, made on purpose.
    held: dict[str, threading.Event] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, call: Call) -> None:
        with self._lock:
            self.calls.append(call)

    def hold(self, method: str) -> None:
        """Wait, if the first call of `method` is held, until it is released (once)."""
        with self._lock:
            event = self.held.pop(method, None)
        if event is not None:
            event.wait(HOLD_SECONDS)

    def mark(self) -> int:
        with self._lock:
            return len(self.calls)

    def since(self, mark: int) -> list[Call]:
        """The calls made after `mark` (a `mark()` taken before them)."""
        with self._lock:
            return self.calls[mark:]


@contextmanager
def recording(upstream: str) -> Iterator[GrpcRecorder]:
    """A proxy to the gRPC server at `upstream` (host:port) for the duration of the block."""
    recorder = GrpcRecorder(upstream)
    channel = grpc.insecure_channel(upstream)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8),
                         handlers=[_Forward(recorder, channel)])
    port = server.add_insecure_port(f"127.0.0.1:{free_port()}")
    recorder.host = f"127.0.0.1:{port}"
    server.start()
    try:
        yield recorder
    finally:
        server.stop(grace=None)
        channel.close()


class _Forward(grpc.GenericRpcHandler):
    def __init__(self, recorder: GrpcRecorder, channel: grpc.Channel) -> None:
        self._recorder = recorder
        self._channel = channel

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        method: str = handler_call_details.method  # type: ignore[attr-defined]
        metadata = tuple(handler_call_details.invocation_metadata or ())  # type: ignore[attr-defined]
        if method in _STREAMING:
            upstream_stream = self._channel.stream_stream(method)

            def streams(requests: Iterator[bytes], context: grpc.ServicerContext) -> Any:
                self._recorder.record(Call(method, None))
                return _relayed(lambda: upstream_stream(requests, metadata=metadata,
                                                        timeout=context.time_remaining()),
                                context)

            return grpc.stream_stream_rpc_method_handler(streams)
        upstream_unary = self._channel.unary_unary(method)

        def unary(request: bytes, context: grpc.ServicerContext) -> Any:
            self._recorder.record(Call(method, request))
            self._recorder.hold(method)
            return _relayed(lambda: upstream_unary(request, metadata=metadata,
                                                   timeout=context.time_remaining()),
                            context)

        return grpc.unary_unary_rpc_method_handler(unary)


def _relayed(call: Callable[[], Any], context: grpc.ServicerContext) -> Any:
    """The emulator's answer, or its error passed on as the same status."""
    try:
        return call()
    except grpc.RpcError as error:
        context.abort(error.code(), error.details() or "")  # type: ignore[attr-defined]
