"""Usage and response metadata from real-shaped OpenAI and Anthropic payloads, whole or streamed."""

from __future__ import annotations

from types import SimpleNamespace as NS

from llmtrace.usage import StreamAccumulator, read_response


def test_openai_chat_completion_object_with_cached_and_reasoning_tokens():
    response = NS(
        id="chatcmpl-abc",
        object="chat.completion",
        model="o3-mini-2025-01-31",
        choices=[
            NS(
                index=0,
                finish_reason="stop",
                message=NS(role="assistant", content="42", tool_calls=None),
            )
        ],
        usage=NS(
            prompt_tokens=2006,
            completion_tokens=300,
            total_tokens=2306,
            prompt_tokens_details=NS(cached_tokens=1920, audio_tokens=0),
            completion_tokens_details=NS(reasoning_tokens=256, audio_tokens=0),
        ),
    )
    info = read_response(response)
    assert (info.usage.input_tokens, info.usage.output_tokens) == (2006, 300)
    assert info.usage.cache_read_input_tokens == 1920
    assert info.usage.reasoning_output_tokens == 256
    assert info.response_model == "o3-mini-2025-01-31" and info.response_id == "chatcmpl-abc"
    assert info.finish_reasons == ["stop"] and info.output_text == "42"


def test_openai_responses_api_dict():
    response = {
        "id": "resp_67cc",
        "object": "response",
        "status": "completed",
        "model": "gpt-4.1",
        "output": [
            {
                "type": "message",
                "role": "assistant",
                "content": [{"type": "output_text", "text": "Hello!", "annotations": []}],
            }
        ],
        "usage": {
            "input_tokens": 36,
            "input_tokens_details": {"cached_tokens": 10},
            "output_tokens": 87,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": 123,
        },
    }
    info = read_response(response)
    assert (info.usage.input_tokens, info.usage.output_tokens) == (36, 87)
    assert info.usage.cache_read_input_tokens == 10
    assert info.output_text == "Hello!" and info.finish_reasons == ["completed"]


def test_anthropic_message_adds_cache_tokens_to_input():
    response = {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [{"type": "text", "text": "Hi"}],
        "stop_reason": "end_turn",
        "usage": {
            "input_tokens": 25,
            "cache_creation_input_tokens": 1000,
            "cache_read_input_tokens": 2000,
            "output_tokens": 12,
        },
    }
    info = read_response(response)
    assert info.usage.input_tokens == 3025
    assert info.usage.cache_creation_input_tokens == 1000
    assert info.usage.cache_read_input_tokens == 2000
    assert info.usage.output_tokens == 12 and info.finish_reasons == ["end_turn"]


def test_openai_chat_stream_with_final_usage_chunk():
    acc = StreamAccumulator()
    for chunk in [
        {
            "id": "c",
            "object": "chat.completion.chunk",
            "model": "gpt-4o-mini",
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}],
        },
        {"id": "c", "model": "gpt-4o-mini", "choices": [{"index": 0, "delta": {"content": "Hi"}}]},
        {
            "id": "c",
            "model": "gpt-4o-mini",
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        },
        {
            "id": "c",
            "model": "gpt-4o-mini",
            "choices": [],
            "usage": {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10},
        },
    ]:
        acc.add(chunk)
    info = acc.result()
    assert (info.usage.input_tokens, info.usage.output_tokens) == (9, 1)
    assert info.output_text == "Hi" and info.finish_reasons == ["stop"]


def test_anthropic_stream_events():
    acc = StreamAccumulator()
    for event in [
        NS(
            type="message_start",
            message=NS(
                id="msg_1",
                model="claude-haiku-4-5",
                stop_reason=None,
                usage=NS(
                    input_tokens=472,
                    output_tokens=2,
                    cache_read_input_tokens=0,
                    cache_creation_input_tokens=0,
                ),
            ),
        ),
        NS(type="content_block_start", index=0, content_block=NS(type="text", text="")),
        NS(type="content_block_delta", index=0, delta=NS(type="text_delta", text="Hello")),
        NS(type="content_block_delta", index=0, delta=NS(type="text_delta", text="!")),
        NS(type="content_block_stop", index=0),
        NS(type="message_delta", delta=NS(stop_reason="end_turn"), usage=NS(output_tokens=15)),
        NS(type="message_stop"),
    ]:
        acc.add(event)
    info = acc.result()
    assert (info.usage.input_tokens, info.usage.output_tokens) == (472, 15)
    assert info.output_text == "Hello!" and info.finish_reasons == ["end_turn"]
    assert info.response_model == "claude-haiku-4-5"


def test_openai_responses_stream_events():
    acc = StreamAccumulator()
    acc.add({"type": "response.output_text.delta", "delta": "Hi"})
    acc.add(
        {
            "type": "response.completed",
            "response": {
                "id": "resp_1",
                "model": "gpt-4.1",
                "status": "completed",
                "usage": {"input_tokens": 5, "output_tokens": 1, "input_tokens_details": {}},
            },
        }
    )
    info = acc.result()
    assert (info.usage.input_tokens, info.usage.output_tokens) == (5, 1)
    assert info.output_text == "Hi"


def test_text_and_unknown_objects_give_no_usage():
    assert read_response("plain").usage.is_empty()
    assert read_response(object()).usage.is_empty()
    assert read_response({"usage": {"prompt_tokens": "n/a"}}).usage.input_tokens is None
