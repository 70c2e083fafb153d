"""configure(): environment variables, joining an application's own provider, no duplicates.

Each test runs in a fresh interpreter: OpenTelemetry's global provider can be set only once.
"""

from __future__ import annotations

import llmtrace
from tests.conftest import run_json, run_python


def test_joins_the_applications_own_provider_without_duplicates(tmp_path):
    db = tmp_path / "joined.duckdb"
    result = run_json(f"""
        import json
        from opentelemetry import trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        from opentelemetry.sdk.trace.sampling import ALWAYS_ON

        app_exporter = InMemorySpanExporter()
        provider = TracerProvider(resource=Resource.create({{"service.name": "the-app"}}),
                                  sampler=ALWAYS_ON)
        provider.add_span_processor(SimpleSpanProcessor(app_exporter))
        trace.set_tracer_provider(provider)

        import llmtrace
        handle = llmtrace.configure(service_name="ignored", db={str(db)!r})
        handle2 = llmtrace.configure(service_name="ignored", db={str(db)!r})  # twice: no dupes

        @llmtrace.tool("t")
        def t():
            with trace.get_tracer("app").start_as_current_span("app-span"):
                return 1

        with llmtrace.context(user_id="u"):
            t()
        handle2.flush()
        rows = llmtrace.query("SELECT name, service_name FROM spans ORDER BY name")
        print(json.dumps({{"joined": handle.joined_existing_provider,
                           "app_spans": sorted(s.name for s in app_exporter.get_finished_spans()),
                           "app_span_user": [s.attributes.get("user.id")
                                             for s in app_exporter.get_finished_spans()],
                           "rows": rows,
                           "global_is_app": trace.get_tracer_provider() is provider}}))
    """)
    assert result["joined"] is True and result["global_is_app"] is True
    assert result["app_spans"] == ["app-span", "execute_tool t"]
    assert result["app_span_user"] == ["u", "u"]
    assert result["rows"] == [
        {"name": "app-span", "service_name": "the-app"},
        {"name": "execute_tool t", "service_name": "the-app"},
    ]


def test_installs_a_provider_when_none_exists_and_reads_env(tmp_path):
    db = tmp_path / "env.duckdb"
    result = run_json(
        """
        import json
        from opentelemetry import trace
        import llmtrace
        handle = llmtrace.configure()
        @llmtrace.workflow("w")
        def w():
            return 1
        w()
        handle.flush()
        print(json.dumps({"db": str(handle.db_path), "joined": handle.joined_existing_provider,
                          "global_is_ours": trace.get_tracer_provider() is handle.provider,
                          "rows": llmtrace.query("SELECT name, service_name FROM spans")}))
    """,
        env={"LLMTRACE_DB": str(db), "OTEL_SERVICE_NAME": "from-env"},
    )
    assert result["db"] == str(db) and result["joined"] is False and result["global_is_ours"]
    assert result["rows"] == [{"name": "invoke_workflow w", "service_name": "from-env"}]


def test_capture_content_from_standard_env_variable(tmp_path):
    db = tmp_path / "cap.duckdb"
    result = run_json(
        f"""
        import json
        import llmtrace
        llmtrace.configure(db={str(db)!r})
        @llmtrace.llm(model="gpt-4o-mini")
        def call(prompt):
            return "reach me at a@b.io"
        call("hi")
        print(json.dumps(llmtrace.query(
            "SELECT attributes['gen_ai.output.messages']::VARCHAR AS out FROM llm_calls")))
    """,
        env={"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "true"},
    )
    assert "[REDACTED:email]" in result[0]["out"] and "a@b.io" not in result[0]["out"]


def test_otel_sdk_disabled_makes_tracing_a_no_op(tmp_path):
    db = tmp_path / "off.duckdb"
    result = run_json(
        f"""
        import json
        import llmtrace
        handle = llmtrace.configure(db={str(db)!r})
        @llmtrace.llm(model="gpt-4o-mini")
        def call(x):
            return x + 1
        print(json.dumps({{"value": call(1), "provider": handle.provider is None}}))
    """,
        env={"OTEL_SDK_DISABLED": "true"},
    )
    assert result == {"value": 2, "provider": True}
    assert not db.exists()


def test_db_none_disables_the_store_and_sample_ratio_zero_drops(tmp_path):
    result = run_json(
        """
        import json, os
        import llmtrace
        llmtrace.configure(db=None)
        @llmtrace.tool("t")
        def t():
            return 1
        t()
        print(json.dumps({"files": os.listdir(".")}))
    """,
        cwd=tmp_path,
    )
    assert result["files"] == []


def test_bad_arguments_are_clear_errors():
    done = run_python("""
        import llmtrace
        try:
            llmtrace.configure(otlp_protocol="smoke-signals", db=None)
        except ValueError as exc:
            print(exc)
        try:
            llmtrace.configure(sample_ratio=2, db=None)
        except ValueError as exc:
            print(exc)
    """)
    assert "otlp_protocol must be 'grpc' or 'http/protobuf', got 'smoke-signals'" in done.stdout
    assert "sample_ratio must be between 0 and 1, got 2" in done.stdout


def test_public_names_are_complete_and_sorted():
    assert llmtrace.__all__ == sorted(llmtrace.__all__)
    for name in (
        "configure",
        "workflow",
        "llm",
        "tool",
        "retrieval",
        "guardrail",
        "judge",
        "context",
        "Prompt",
        "Decision",
        "query",
    ):
        assert name in llmtrace.__all__ and hasattr(llmtrace, name)


def test_applications_sampler_is_respected():
    result = run_json("""
        import json
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

        exporter = InMemorySpanExporter()
        provider = TracerProvider(sampler=ALWAYS_OFF)
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
        import llmtrace
        llmtrace.configure(db=None)

        @llmtrace.llm(model="gpt-4o-mini")
        def call(x):
            return x * 2

        print(json.dumps({"value": call(21), "spans": len(exporter.get_finished_spans())}))
    """)
    assert result == {"value": 42, "spans": 0}
