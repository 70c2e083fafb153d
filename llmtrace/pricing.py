"""Cost in USD from token counts, using the genai-prices table (offline) plus user overrides.

genai-prices' own ``calc_price`` takes ~150 us a call, too slow for the hot path of a traced
call, so each (provider, model) is resolved once to per-token rates and the arithmetic is done
here. The tests check the result equals genai-prices' own calculation. An unknown model costs
None (stored as NULL) and logs one warning; a made-up number would be worse than none.
Embedding models have input prices only: a call without output tokens is priced on its input.

The store prices spans when it writes them (``store.normalize``), off the application's thread,
and records :attr:`Cost.table_version` beside the cost so ``llmtrace reprice`` can tell which
rows an installed table would change.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ._cache_dir import cache_folder
from ._internal import warn_once
from .usage import Usage

__all__ = ["Cost", "PriceTable", "TokenRates"]

_PER_MTOK = 1_000_000


_snapshot_lock = threading.Lock()
# The table loads on an exporter thread. A fork in the middle would leave the child an import
# lock held by a thread it does not have: a fork waits for the load instead (well under 1 s).
os.register_at_fork(
    before=_snapshot_lock.acquire,
    after_in_parent=_snapshot_lock.release,
    after_in_child=_snapshot_lock.release,
)


def genai_prices_snapshot() -> Any:
    """genai-prices' table, loaded once per process (~16 MiB with pydantic, ~0.3 s) when a span
    is first priced."""
    with _snapshot_lock:
        from genai_prices import data_snapshot

        return data_snapshot.get_snapshot()


def _genai_prices_version() -> str:
    from importlib.metadata import version

    return version("genai-prices")


@dataclass(frozen=True)
class _Rate:
    """A USD-per-million-token price, optionally tiered on the call's total input tokens."""

    base: float
    tiers: tuple[tuple[int, float], ...] = ()

    def at(self, total_input_tokens: int) -> float:
        if not self.tiers:
            return self.base
        for start, price in reversed(self.tiers):
            if total_input_tokens > start:
                return price
        return self.base


@dataclass(frozen=True)
class TokenRates:
    """Per-million-token prices of one model, and where they came from."""

    input: _Rate
    output: _Rate | None  # None: an input-only price (embedding models)
    cache_read: _Rate | None = None
    cache_write: _Rate | None = None
    source: str = ""
    table_version: str = ""

    @property
    def flat(self) -> bool:
        """No tiers on the input and output prices: the cost is two multiplications."""
        return not self.input.tiers and (self.output is None or not self.output.tiers)


class Cost:
    """The price of one call in USD, split into input and output parts."""

    __slots__ = ("input_usd", "output_usd", "source", "table_version")

    def __init__(
        self, input_usd: float, output_usd: float, source: str, table_version: str = ""
    ) -> None:
        self.input_usd = input_usd
        self.output_usd = output_usd
        self.source = source
        self.table_version = table_version

    @property
    def total_usd(self) -> float:
        return self.input_usd + self.output_usd

    def __repr__(self) -> str:
        return (
            f"Cost(input_usd={self.input_usd!r}, output_usd={self.output_usd!r}, "
            f"source={self.source!r})"
        )


def _rate(value: Any) -> _Rate | None:
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return _Rate(float(value))
    decimal = sys.modules.get("decimal")  # genai-prices' rates; not imported here (~0.5 MiB)
    if decimal is not None and isinstance(value, decimal.Decimal):
        return _Rate(float(value))
    base = getattr(value, "base", None)
    if base is not None:  # genai_prices TieredPrices
        tiers = tuple((int(t.start), float(t.price)) for t in value.tiers)
        return _Rate(float(base), tiers)
    raise TypeError(f"unsupported price value {value!r}")


def _user_rates(model: str, spec: Any, origin: str) -> TokenRates:
    if not isinstance(spec, dict):
        raise ValueError(f"prices[{model!r}] in {origin}: expected a mapping, got {spec!r}")
    allowed = {"input", "output", "cache_read", "cache_write"}
    unknown = set(spec) - allowed
    if unknown:
        raise ValueError(
            f"prices[{model!r}] in {origin}: unknown field(s) {sorted(unknown)}; "
            f"use {sorted(allowed)} (USD per million tokens)"
        )
    if "input" not in spec:  # output may be left out: an input-only (embedding) price
        raise ValueError(f"prices[{model!r}] in {origin}: missing ['input']")
    rates: dict[str, _Rate | None] = {}
    for key in allowed:
        value = spec.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ValueError(f"prices[{model!r}].{key} in {origin}: not a number: {value!r}")
        if value is not None and value < 0:
            raise ValueError(f"prices[{model!r}].{key} in {origin}: negative price {value!r}")
        rates[key] = _Rate(float(value)) if value is not None else None
    input_rate = rates["input"]
    assert input_rate is not None
    return TokenRates(
        input=input_rate,
        output=rates["output"],
        cache_read=rates["cache_read"],
        cache_write=rates["cache_write"],
        source=f"user:{origin}",
        table_version=f"user:{origin}",
    )


def load_user_prices(prices: str | Path | dict[str, Any] | None) -> dict[str, TokenRates]:
    """Parse ``configure(prices=...)``: a dict or a JSON/YAML file of model -> USD per MTok."""
    if prices is None:
        return {}
    origin = "configure(prices=...)"
    if isinstance(prices, (str, Path)):
        path = Path(prices)
        origin = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ValueError(f"cannot read price file {path}: {exc.strerror}") from None
        if path.suffix in (".yaml", ".yml"):
            import yaml

            loaded = yaml.safe_load(text)
        else:
            try:
                loaded = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from None
        prices = loaded
    if not isinstance(prices, dict):
        raise ValueError(f"prices from {origin} must map model names to prices, got {prices!r}")
    return {str(model): _user_rates(str(model), spec, origin) for model, spec in prices.items()}


def _tiers(data: dict[str, Any]) -> tuple[tuple[int, float], ...]:
    return tuple((int(start), float(price)) for start, price in data.get("tiers") or ())


def _rate_from_json(data: Any) -> _Rate | None:
    return None if data is None else _Rate(float(data["base"]), _tiers(data))


def _rates_from_json(data: dict[str, Any]) -> TokenRates:
    return TokenRates(
        input=_Rate(float(data["input"]["base"]), _tiers(data["input"])),
        output=_rate_from_json(data["output"]),
        cache_read=_rate_from_json(data.get("cache_read")),
        cache_write=_rate_from_json(data.get("cache_write")),
        source=str(data.get("source", "")),
        table_version=str(data.get("table_version", "")),
    )


# Rates genai-prices gave, kept on disk for other processes (a merger, an exiting process):
# loading genai-prices' table costs ~0.3 s and ~26 MiB, looking up a file of a few (provider,
# model) pairs costs nothing. Keyed by genai-prices' version and valid for the day they were
# looked up on (a model's price may change on a date). LLMTRACE_CACHE_DIR names the folder
# ("off": none); by default the user's cache folder.
_disk_lock = threading.Lock()
_disk: dict[str, Any] | None = None


def _cache_file() -> Path | None:
    folder = cache_folder()
    if folder is None:
        return None
    return folder / f"rates-genai-prices-{_genai_prices_version()}.json"


def _today() -> str:
    return datetime.now(tz=timezone.utc).date().isoformat()


def _known_rates(model: str, provider: str | None, lookup: Any) -> TokenRates | None:
    """``lookup(model, provider)``, through the rates cache on disk."""
    global _disk
    key = f"{provider or ''}|{model}"
    try:
        path = _cache_file()
    except Exception:  # genai-prices' version unreadable: no cache
        path = None
    if path is not None:
        with _disk_lock:
            if _disk is None:
                try:
                    _disk = dict(json.loads(path.read_text(encoding="utf-8")))
                except (OSError, ValueError, TypeError):
                    _disk = {}
            entry = _disk.get(key)
        if isinstance(entry, dict) and entry.get("day") == _today():
            with contextlib.suppress(KeyError, TypeError, ValueError):
                rates = entry.get("rates")
                return None if rates is None else _rates_from_json(rates)
    found: TokenRates | None = lookup(model, provider)
    if path is not None:
        _remember(path, key, found)
    return found


def _remember(path: Path, key: str, rates: TokenRates | None) -> None:
    entry = {"day": _today(), "rates": None if rates is None else dataclasses.asdict(rates)}
    with _disk_lock:
        assert _disk is not None
        _disk[key] = entry
        text = json.dumps(_disk)
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:  # a folder that cannot be written: no cache, nothing else changes
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    except OSError:
        with contextlib.suppress(OSError):
            temporary.unlink()


class PriceTable:
    """Resolves (provider, model) to token rates once, then prices calls with float arithmetic."""

    def __init__(self, overrides: dict[str, TokenRates] | None = None) -> None:
        self._overrides = dict(overrides or {})
        self._cache: dict[tuple[str | None, str], TokenRates | None] = {}
        self._lock = threading.Lock()

    def overrides_json(self) -> dict[str, Any]:
        """The user's prices, as JSON-able data (a hand-off file carries them to whoever
        prices its spans: see :meth:`from_overrides_json`)."""
        return {model: dataclasses.asdict(rates) for model, rates in self._overrides.items()}

    @classmethod
    def from_overrides_json(cls, data: dict[str, Any] | None) -> PriceTable:
        """The table with the user's prices that :meth:`overrides_json` gave."""
        return cls({model: _rates_from_json(rates) for model, rates in (data or {}).items()})

    def rates(self, model: str, provider: str | None = None) -> TokenRates | None:
        key = (provider, model)
        try:
            return self._cache[key]
        except KeyError:
            pass
        found = self._overrides.get(model) or _known_rates(model, provider, self._lookup)
        with self._lock:
            self._cache[key] = found
        if found is None:
            warn_once(
                f"price:{provider}:{model}",
                f"llmtrace: no price known for model {model!r} (provider {provider!r}); "
                "its cost is recorded as NULL. Add it with configure(prices={...}).",
            )
        return found

    @staticmethod
    def _lookup(model: str, provider: str | None) -> TokenRates | None:
        snapshot = genai_prices_snapshot()
        provider_ids = [provider, None] if provider else [None]
        for provider_id in provider_ids:
            try:
                found_provider, found_model = snapshot.find_provider_model(
                    model, None, provider_id, None
                )
            except LookupError:
                continue
            price = found_model.get_prices(datetime.now(tz=timezone.utc))
            input_rate = _rate(getattr(price, "input_mtok", None))
            output_rate = _rate(getattr(price, "output_mtok", None))
            if input_rate is None:
                return None
            return TokenRates(
                input=input_rate,
                output=output_rate,
                cache_read=_rate(getattr(price, "cache_read_mtok", None)),
                cache_write=_rate(getattr(price, "cache_write_mtok", None)),
                source=(
                    f"genai-prices {_genai_prices_version()}:{found_provider.id}/{found_model.id}"
                ),
                table_version=f"genai-prices {_genai_prices_version()}",
            )
        return None

    def cost(self, usage: Usage, model: str | None, provider: str | None = None) -> Cost | None:
        """The cost of ``usage`` on ``model``, or None when the model or the counts are unknown.

        Output tokens may be missing only on a model with an input-only price (embeddings), and
        output tokens on such a model have no price: both cost None rather than a guess.
        """
        if not model or usage.input_tokens is None:
            return None
        rates = self.rates(model, provider)
        if rates is None:
            return None
        output_tokens = usage.output_tokens
        if rates.output is None:
            if output_tokens:
                return None
            output_rate, output_tokens = _Rate(0.0), 0
        elif output_tokens is None:
            return None
        else:
            output_rate = rates.output
        total_in = usage.input_tokens
        if (
            rates.flat
            and not usage.cache_read_input_tokens
            and not usage.cache_creation_input_tokens
        ):
            return Cost(
                total_in * rates.input.base / _PER_MTOK,
                output_tokens * output_rate.base / _PER_MTOK,
                rates.source,
                rates.table_version,
            )
        cache_read = usage.cache_read_input_tokens or 0
        cache_write = usage.cache_creation_input_tokens or 0
        uncached = max(total_in - cache_read - cache_write, 0)
        input_usd = uncached * rates.input.at(total_in)
        read_rate = rates.cache_read or rates.input
        write_rate = rates.cache_write or rates.input
        input_usd += cache_read * read_rate.at(total_in) + cache_write * write_rate.at(total_in)
        output_usd = output_tokens * output_rate.at(total_in)
        return Cost(
            input_usd / _PER_MTOK, output_usd / _PER_MTOK, rates.source, rates.table_version
        )
