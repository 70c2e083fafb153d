"""Runs inside a loopback-only network namespace (``unshare -n``): start Phoenix, send llmtrace
spans to it over OTLP http/protobuf and gRPC, read them back from its REST API.

Usage: python phoenix_session.py PHOENIX_BIN OUTPUT_JSON
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

from otlp_receivers import TRACED_APP  # this script's folder is first on sys.path


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def main() -> None:
    phoenix, output = sys.argv[1], sys.argv[2]
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    env = {
        **os.environ,
        "PHOENIX_TELEMETRY_ENABLED": "false",
        "PHOENIX_ALLOW_EXTERNAL_RESOURCES": "false",
        "PHOENIX_WORKING_DIR": tempfile.mkdtemp(prefix="phoenix-"),
    }
    server = subprocess.Popen(
        [phoenix, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen("http://127.0.0.1:6006/healthz", timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("phoenix did not start") from None
                time.sleep(0.5)
        app_env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LLMTRACE_"))}
        for transport, endpoint in (
            ("http/protobuf", "http://127.0.0.1:6006"),
            ("grpc", "http://127.0.0.1:4317"),
        ):
            kwargs = json.dumps({"otlp_endpoint": endpoint, "otlp_protocol": transport})
            subprocess.run(
                [sys.executable, "-c", TRACED_APP, "", kwargs, transport],
                check=True,
                env=app_env,
                timeout=120,
            )
        spans: list[dict] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            spans = get("http://127.0.0.1:6006/v1/projects/default/spans?limit=100")["data"]
            if len(spans) >= 8:
                break
            time.sleep(0.5)
        with open(output, "w") as handle:
            json.dump(spans, handle)
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
