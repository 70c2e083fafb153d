"""Versioned datasets: the version is a hash of the canonical rows, independent of row order
and JSON key order, so "which data did this run use" always has an exact answer."""

from __future__ import annotations

import csv
import dataclasses
import functools
import hashlib
import io
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UserError

__all__ = ["Dataset", "DatasetError", "Example"]

_FIELDS = ("id", "input", "expected", "metadata")


class DatasetError(UserError):
    """A dataset row is unusable; the message names the file and line (or row index)."""


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class Example:
    """One dataset row: ``input`` (required), ``expected``, ``id`` and ``metadata``."""

    id: str
    input: Any
    expected: Any = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def canonical(self) -> str:
        return _canonical(
            {
                "id": self.id,
                "input": self.input,
                "expected": self.expected,
                "metadata": self.metadata,
            }
        )


def _derived_id(row: Mapping[str, Any]) -> str:
    content = _canonical({k: row.get(k) for k in ("input", "expected", "metadata")})
    return hashlib.sha256(content.encode()).hexdigest()[:12]


def _example(row: Any, where: str) -> Example:
    if not isinstance(row, Mapping):
        raise DatasetError(f"{where}: expected a JSON object, got {type(row).__name__}")
    if "input" not in row:
        raise DatasetError(f"{where}: missing required field 'input'")
    unknown = set(row) - set(_FIELDS)
    if unknown:
        raise DatasetError(
            f"{where}: unknown field(s) {sorted(unknown)}; use {list(_FIELDS)} "
            "(put anything else under 'metadata')"
        )
    metadata = row.get("metadata") or {}
    if not isinstance(metadata, Mapping):
        raise DatasetError(f"{where}: 'metadata' must be an object, got {metadata!r}")
    raw_id = row.get("id")
    if raw_id is not None and not isinstance(raw_id, (str, int)):
        raise DatasetError(f"{where}: 'id' must be a string or integer, got {raw_id!r}")
    example_id = str(raw_id) if raw_id is not None else _derived_id(row)
    return Example(example_id, row["input"], row.get("expected"), dict(metadata))


@dataclass(frozen=True)
class Dataset:
    """Examples with a name and a content-derived version.

    Example:
        >>> ds = Dataset.from_jsonl("qa.jsonl", name="qa")
        >>> ds.version, len(ds.examples)
    """

    name: str
    examples: tuple[Example, ...]
    source_path: str | None = None
    schema: Mapping[str, Any] | None = None  # JSON schema each row must satisfy (data checks)
    license: str | None = None  # checked by a data.license rule's allow-list

    def __post_init__(self) -> None:
        if not self.examples:
            raise DatasetError(f"dataset {self.name!r} has no examples")

    @functools.cached_property
    def content_hash(self) -> str:
        """sha256 over the sorted canonical rows: row order and key order do not matter."""
        rows = sorted(example.canonical() for example in self.examples)
        return hashlib.sha256("\n".join(rows).encode()).hexdigest()

    @property
    def version(self) -> str:
        return self.content_hash[:12]

    def __len__(self) -> int:
        return len(self.examples)

    def declare(
        self, *, schema: Mapping[str, Any] | None = None, license: str | None = None
    ) -> Dataset:
        """The same rows with a JSON schema every row (``{"id", "input", "expected",
        "metadata"}``) must satisfy and a license; neither changes the version."""
        return dataclasses.replace(self, schema=schema, license=license)

    @classmethod
    def _build(cls, name: str, items: Iterable[tuple[str, Any]], source: str | None) -> Dataset:
        examples: list[Example] = []
        seen: dict[str, str] = {}
        for where, row in items:
            example = _example(row, where)
            if example.id in seen:
                raise DatasetError(
                    f"{where}: duplicate id {example.id!r} (first at {seen[example.id]})"
                )
            seen[example.id] = where
            examples.append(example)
        return cls(name, tuple(examples), source)

    @classmethod
    def from_records(cls, records: Iterable[Mapping[str, Any]], name: str) -> Dataset:
        """From dicts shaped like JSONL rows; errors name the row index."""
        return cls._build(name, ((f"{name}[{i}]", r) for i, r in enumerate(records)), None)

    @classmethod
    def from_jsonl(cls, path: str | os.PathLike[str], name: str | None = None) -> Dataset:
        """One JSON object a line; blank lines are skipped; errors name file and line."""
        source = Path(path)
        text = _read_text(source)

        def rows() -> Iterable[tuple[str, Any]]:
            # Split on newlines only: str.splitlines() also splits on U+2028 and other
            # separators that JSON allows inside a string.
            for number, line in enumerate(text.split("\n"), start=1):
                if not line.strip():
                    continue
                where = f"{source}:{number}"
                try:
                    yield where, json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DatasetError(
                        f"{where}: invalid JSON: {exc.msg} (column {exc.colno})"
                    ) from None

        return cls._build(name or source.stem, rows(), str(source))

    @classmethod
    def from_csv(cls, path: str | os.PathLike[str], name: str | None = None) -> Dataset:
        """Columns ``input``, ``expected``, ``id``; every other column goes into metadata."""
        source = Path(path)
        text = _read_text(source, newline="")
        reader = csv.DictReader(io.StringIO(text, newline=""))
        if reader.fieldnames is None or "input" not in reader.fieldnames:
            raise DatasetError(f"{source}:1: the header needs an 'input' column")
        items = []
        for row in reader:
            where = f"{source}:{reader.line_num}"
            record: dict[str, Any] = {"input": row.pop("input")}
            for key in ("expected", "id"):
                if row.get(key) not in (None, ""):
                    record[key] = row.pop(key)
                else:
                    row.pop(key, None)
            if row:
                record["metadata"] = dict(row)
            items.append((where, record))
        return cls._build(name or source.stem, items, str(source))


def _read_text(source: Path, newline: str | None = None) -> str:
    """The file as text; a UTF-8 byte order mark (Excel and Notepad write one) is dropped."""
    try:
        with source.open(encoding="utf-8-sig", newline=newline) as handle:
            return handle.read()
    except OSError as exc:
        raise DatasetError(f"{source}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        line = source.read_bytes()[: exc.start].count(b"\n") + 1
        raise DatasetError(
            f"{source}:{line}: not UTF-8 text (byte {exc.object[exc.start]:#04x}); "
            "save the file as UTF-8"
        ) from None
