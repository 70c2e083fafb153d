"""End to end against a real third-party OTLP receiver: the arize-phoenix server from the
package registry, in its own virtual environment, inside a loopback-only network namespace
(its gRPC port listens on every interface), for both http/protobuf and gRPC."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT

PHOENIX_VERSION = "20.26.1"
VENV = ROOT / ".venv-phoenix"


@pytest.fixture(scope="session")
def phoenix_bin():
    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("ip") is None:
        pytest.skip("needs root with unshare and ip to isolate Phoenix in a network namespace")
    phoenix = VENV / "bin" / "phoenix"
    if not phoenix.exists():  # `make test` installs it; a bare pytest run may not have it
        pytest.skip(f"Phoenix {PHOENIX_VERSION} is not installed in {VENV}: run `make test`")
    return phoenix


def test_spans_arrive_in_phoenix_over_http_and_grpc(phoenix_bin, tmp_path):
    output = tmp_path / "spans.json"
    done = subprocess.run(
        [
            "unshare",
            "-n",
            sys.executable,
            str(ROOT / "tests" / "phoenix_session.py"),
            str(phoenix_bin),
            str(output),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    spans = json.loads(output.read_text())
    for transport in ("http/protobuf", "grpc"):
        mine = [s for s in spans if s["attributes"].get("llmtrace.context.transport") == transport]
        by_name = {s["name"]: s for s in mine}
        assert set(by_name) == {
            "invoke_workflow flow",
            "execute_tool lookup",
            "chat gpt-4o-mini",
            "execute_tool broken",
        }, transport
        root = by_name["invoke_workflow flow"]
        assert root["parent_id"] is None
        for name in ("execute_tool lookup", "chat gpt-4o-mini", "execute_tool broken"):
            assert by_name[name]["parent_id"] == root["context"]["span_id"]
            assert by_name[name]["context"]["trace_id"] == root["context"]["trace_id"]
        llm = by_name["chat gpt-4o-mini"]["attributes"]
        assert llm["gen_ai.request.model"] == "gpt-4o-mini"
        assert llm["gen_ai.provider.name"] == "openai"
        assert llm["gen_ai.usage.input_tokens"] == 10
        assert llm["llmtrace.cost.usd"] == pytest.approx(10 * 0.15e-6 + 2 * 0.6e-6)
        broken = by_name["execute_tool broken"]
        assert broken["status_code"] == "ERROR"
        assert broken["status_message"] == "ValueError: bad input"
        assert [e["name"] for e in broken["events"]] == ["exception"]
        assert broken["events"][0]["attributes"]["exception.type"] == "ValueError"
        assert broken["span_kind"] == "TOOL"  # Phoenix read our GenAI conventions
