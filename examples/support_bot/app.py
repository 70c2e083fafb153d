"""A small traced support bot: retrieval, a tool call, a guardrail and a model call."""

from __future__ import annotations

import re

import llmtrace

from .model import complete

PROMPTS = {
    "v1": llmtrace.Prompt(
        "support_answer", template="Answer the customer: {question}", version="v1"
    ),
    "v2": llmtrace.Prompt(
        "support_answer",
        template="You are a concise support agent. Use only the context.\nQuestion: {question}",
        version="v2",
    ),
}

KNOWLEDGE_BASE = [
    {
        "id": "kb-refunds",
        "text": "Refunds are issued within 5 business days.",
        "keywords": {"refund", "money", "return"},
    },
    {
        "id": "kb-shipping",
        "text": "Orders ship within 2 days from Rotterdam.",
        "keywords": {"ship", "shipping", "order", "delivery", "where"},
    },
    {
        "id": "kb-password",
        "text": "Reset your password from the login page.",
        "keywords": {"password", "login", "account"},
    },
    {
        "id": "kb-hours",
        "text": "Support is open 9:00-17:00 CET on weekdays.",
        "keywords": {"hours", "open", "support"},
    },
]
ORDERS = {"1001": "shipped", "1002": "processing", "1003": "delayed"}
EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")


@llmtrace.retrieval(index="support-kb", index_version="2026-11-01")
def search(question: str) -> list[dict[str, object]]:
    words = set(re.findall(r"[a-z]+", question.lower()))
    hits = [doc for doc in KNOWLEDGE_BASE if doc["keywords"] & words]
    return hits or KNOWLEDGE_BASE[:1]


@llmtrace.tool("lookup_order")
def lookup_order(order_id: str) -> dict[str, str]:
    return {"order_id": order_id, "status": ORDERS.get(order_id, "unknown")}


@llmtrace.guardrail(policy="pii", version="3")
def pii_guard(text: str) -> llmtrace.Decision:
    if EMAIL.search(text):
        return llmtrace.Decision(action="redact", score=0.97, reason="email address")
    return llmtrace.Decision(action="allow", score=0.02)


def answer(question: str, model: str = "gpt-4o-mini", prompt_version: str = "v2") -> str:
    """Answer one question (the unit an eval calls)."""
    prompt = PROMPTS[prompt_version]
    docs = search(question)
    facts = [str(doc["text"]) for doc in docs]
    order = re.search(r"\b(10\d\d)\b", question)
    if order:
        status = lookup_order(order.group(1))
        facts.append(f"Order {status['order_id']} is {status['status']}.")

    @llmtrace.llm(model=model, provider="openai", prompt=prompt)
    def call_model(messages: list[dict[str, str]]) -> dict[str, object]:
        return complete(messages, model=model)

    messages = [
        {"role": "system", "content": "Context:\n" + "\n".join(f"- {f}" for f in facts)},
        {"role": "user", "content": prompt.format(question=question)},
    ]
    response = call_model(messages)
    return str(response["choices"][0]["message"]["content"])  # type: ignore[index]


@llmtrace.workflow("handle_ticket")
def handle_ticket(question: str, model: str = "gpt-4o-mini", prompt_version: str = "v2") -> str:
    """One support ticket: guard the input, answer it."""
    decision = pii_guard(question)
    if decision.action == "block":
        return "I can't help with that."
    return answer(question, model=model, prompt_version=prompt_version)


TICKETS = [
    "Where is my order 1001?",
    "How do I get a refund?",
    "I forgot my password, help",
    "When is support open?",
    "Order 1003 has not arrived, where is it?",
    "Please email me at jane.doe@example.com about my refund",
    "Can I return a damaged item for money back?",
    "What are your hours on Friday?",
    "Is order 1002 shipped yet?",
    "My account login fails",
]
