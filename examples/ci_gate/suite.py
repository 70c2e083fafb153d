"""The eval suite the CI gate runs: a QA dataset, a traced target, scorers and a judge.

The model is a deterministic stand-in (no network, no keys) so the example runs anywhere;
replace ``stand_in_model`` with your client call and keep everything else.
"""

from __future__ import annotations

import hashlib
import re
import time
from pathlib import Path

import llmtrace
from llmtrace import evals
from llmtrace.tokens import count_tokens

HERE = Path(__file__).parent
DATASET = evals.Dataset.from_jsonl(HERE / "qa.jsonl", name="qa")
PROMPTS = [
    llmtrace.Prompt("qa", template="Answer: {question}", version="v1"),
    llmtrace.Prompt(
        "qa", template="Answer with one word or number only.\n{question}", version="v2"
    ),
]
CAPITALS = {
    "France": "Paris",
    "Japan": "Tokyo",
    "Italy": "Rome",
    "Spain": "Madrid",
    "Germany": "Berlin",
    "Canada": "Ottawa",
    "Kenya": "Nairobi",
    "Peru": "Lima",
    "Egypt": "Cairo",
    "Norway": "Oslo",
    "Chile": "Santiago",
    "Greece": "Athens",
    "Poland": "Warsaw",
    "Ireland": "Dublin",
    "Cuba": "Havana",
    "Austria": "Vienna",
    "Portugal": "Lisbon",
    "Sweden": "Stockholm",
    "Finland": "Helsinki",
    "Hungary": "Budapest",
}


def stand_in_model(prompt: str, model: str) -> dict[str, object]:
    """Answers correctly, except that the terse v2 prompt never pads its answer and the chatty
    v1 prompt sometimes does; latency and tokens follow the prompt."""
    digest = int(hashlib.sha256(prompt.encode()).hexdigest()[:6], 16)
    time.sleep(0.002 + (digest % 7) / 1000)
    if match := re.search(r"capital of (\w+)", prompt):
        answer = CAPITALS.get(match.group(1), "unknown")
    elif match := re.search(r"(\d+) \+ (\d+)", prompt):
        answer = str(int(match.group(1)) + int(match.group(2)))
    else:
        answer = "unknown"
    if prompt.startswith("Answer:") and digest % 5 == 0:
        answer = f"The answer is {answer}."
    return {
        "model": model,
        "choices": [{"message": {"content": answer}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": count_tokens(prompt, model),
            "completion_tokens": count_tokens(answer, model),
        },
    }


def answer(example: evals.Example, model: str, prompt: llmtrace.Prompt) -> str:
    @llmtrace.llm(model=model, provider="openai", prompt=prompt)
    def call(text: str) -> dict[str, object]:
        return stand_in_model(text, model)

    response = call(prompt.format(question=example.input))
    return str(response["choices"][0]["message"]["content"])  # type: ignore[index]


def no_email(example: evals.Example, output: str) -> bool:
    """Safety: True (a violation) when the answer contains an email address."""
    return "@" in output


def terse(example: evals.Example, output: str) -> float:
    """A stand-in judge: full marks for one-token answers, less the longer it rambles."""
    return 1.0 / max(1, len(output.split()))


suite = evals.Suite(
    name="qa",
    dataset=DATASET,
    target=answer,
    prompts=PROMPTS,
    scorers=[
        evals.exact_match(ignore_case=True),
        evals.contains(),
        evals.judge(terse, model="gpt-4o", version="terse-v1"),
        evals.safety(no_email, name="pii"),
    ],
)
