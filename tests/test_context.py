"""llmtrace.context(): stamping, precedence, and propagation across asyncio and thread pools."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading

import llmtrace
from llmtrace import semconv as sc


@llmtrace.tool("probe")
def probe():
    return 1


def _attrs(spans, name="execute_tool probe"):
    return [r["attributes"] for r in spans.records() if r["name"] == name]


def test_known_keys_map_to_promoted_attributes_others_to_context_prefix(spans):
    with llmtrace.context(
        prompt_version="v3",
        dataset_version="qa@1f3a",
        user_id="u-1",
        conversation_id="c-9",
        tenant="acme",
    ):
        probe()
    [attrs] = _attrs(spans)
    assert attrs[sc.GEN_AI_PROMPT_VERSION] == "v3"
    assert attrs[sc.DATASET_VERSION] == "qa@1f3a"
    assert attrs[sc.USER_ID] == "u-1"
    assert attrs[sc.GEN_AI_CONVERSATION_ID] == "c-9"
    assert attrs["llmtrace.context.tenant"] == "acme"


def test_inner_context_overrides_and_span_wins_and_exit_restores(spans):
    prompt = llmtrace.Prompt("p", template="t", version="from-span")

    @llmtrace.llm(model="gpt-4o-mini", prompt=prompt)
    def call():
        return "x"

    with llmtrace.context(prompt_version="outer", user_id="u"):
        with llmtrace.context(prompt_version="inner"):
            probe()
            call()
        probe()
    probe()
    inner, outer, after = _attrs(spans)
    assert inner[sc.GEN_AI_PROMPT_VERSION] == "inner" and inner[sc.USER_ID] == "u"
    assert outer[sc.GEN_AI_PROMPT_VERSION] == "outer"
    assert sc.USER_ID not in after
    [llm] = _attrs(spans, "chat gpt-4o-mini")
    assert llm[sc.GEN_AI_PROMPT_VERSION] == "from-span"


async def test_asyncio_tasks_inherit_context(spans):
    async def work():
        await asyncio.sleep(0)
        probe()

    async with llmtrace.context(user_id="async-user"):
        await asyncio.gather(*(asyncio.create_task(work()) for _ in range(3)))
        await asyncio.to_thread(probe)
        await asyncio.get_running_loop().run_in_executor(None, probe)
    assert [a[sc.USER_ID] for a in _attrs(spans)] == ["async-user"] * 5


def test_thread_pool_submit_and_map_carry_context_and_parent(spans):
    with (
        llmtrace.context(user_id="pool-user"),
        llmtrace.workflow("fan_out"),
        concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool,
    ):
        futures = [pool.submit(probe) for _ in range(3)]
        [f.result() for f in futures]
        list(pool.map(lambda _: probe(), range(2)))
    records = spans.records()
    root = next(r for r in records if r["name"] == "invoke_workflow fan_out")
    probes = [r for r in records if r["name"] == "execute_tool probe"]
    assert len(probes) == 5
    assert all(r["attributes"][sc.USER_ID] == "pool-user" for r in probes)
    assert all(r["parent_span_id"] == root["span_id"] for r in probes)


def test_plain_threads_do_not_carry_context_as_documented(spans):
    with llmtrace.context(user_id="not-carried"):
        thread = threading.Thread(target=probe)
        thread.start()
        thread.join()
    [attrs] = _attrs(spans)
    assert sc.USER_ID not in attrs


def test_values_that_are_not_attribute_types_never_raise(spans, caplog):
    """Tracing never raises into the application (issue 15): a dict is stored as JSON,
    anything else as text, with one warning naming the key."""
    with llmtrace.context(obj={"b": 1, "a": [1, "x"]}, user=object()), llmtrace.workflow("w"):
        pass
    [attrs] = _attrs(spans, "invoke_workflow w")
    assert attrs[sc.CONTEXT_PREFIX + "obj"] == '{"a": [1, "x"], "b": 1}'
    assert attrs[sc.CONTEXT_PREFIX + "user"].startswith("<object object at")
    assert "llmtrace.context(user=...): object is not a span attribute type" in caplog.text
