"""``llmtrace serve``: OTLP spans (HTTP/protobuf, gRPC) from any process, into the store."""

from __future__ import annotations

import os
import signal
import threading
from typing import Annotated, Any

import typer

from ..errors import UserError
from ..receiver import TraceReceiver, store_exporter
from ..receiver_workers import default_workers
from ._common import DbOption
from ._store import writable_store

__all__ = ["serve_command"]

TOKEN_VARIABLE = "LLMTRACE_SERVE_TOKEN"


def serve_command(
    host: Annotated[
        str, typer.Option(help="Address to listen on; beyond loopback a token is required.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="OTLP/HTTP port (POST /v1/traces).")] = 4318,
    grpc_port: Annotated[int, typer.Option(help="OTLP/gRPC port; 0 turns gRPC off.")] = 4317,
    token: Annotated[
        str | None,
        typer.Option(
            help=f"Require 'Authorization: Bearer TOKEN' (default: ${TOKEN_VARIABLE}).",
            show_default=False,
        ),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            help="Processes that convert requests for the store (0: the server's own threads); "
            "by default none up to 2 cores, else half the cores, at most 4."
        ),
    ] = default_workers(),
    db: DbOption = None,
) -> None:
    """Receive OTLP spans from any process or a Collector into the store, until stopped."""
    if workers < 0:
        raise UserError(f"serve --workers {workers}: give 0 or more worker processes")
    path = writable_store(db)
    token = token or os.environ.get(TOKEN_VARIABLE) or None
    exporter = store_exporter(path)
    try:
        receiver = TraceReceiver(
            exporter,
            host=host,
            port=port,
            grpc_port=grpc_port or None,
            token=token,
            workers=workers,
        )
    except ValueError as exc:
        exporter.shutdown()
        raise UserError(str(exc)) from None
    except OSError as exc:
        exporter.shutdown()
        raise UserError(f"serve --host {host} --port {port}: {exc.strerror or exc}") from None
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    grpc_note = f", gRPC on {host}:{receiver.grpc_port}" if receiver.grpc_port else ""
    grpc_note += f", {workers} conversion worker(s)" if workers else ""
    typer.echo(f"receiving OTLP on http://{host}:{receiver.port}/v1/traces{grpc_note} into {path}")
    try:
        with receiver:
            stop.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        exporter.shutdown()
    counts = receiver.counts
    typer.echo(
        f"stored {counts.spans} spans from {counts.requests} requests; rejected "
        f"{counts.rejected_spans} spans, {counts.malformed_requests} malformed and "
        f"{counts.unauthorized_requests} unauthorized requests"
    )
