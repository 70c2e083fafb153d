"""Where llmtrace keeps its rebuildable files: the rates cache and the store template follow
the same setting."""

from __future__ import annotations

from pathlib import Path

from llmtrace import pricing
from llmtrace._cache_dir import cache_folder
from llmtrace.store import template


def test_the_setting_names_the_folder_for_rates_and_template(tmp_path, monkeypatch):
    monkeypatch.setenv("LLMTRACE_CACHE_DIR", str(tmp_path / "c"))
    assert cache_folder() == tmp_path / "c"
    rates = pricing._cache_file()
    assert rates is not None and rates.parent == tmp_path / "c"
    assert rates.name.startswith("rates-genai-prices-")
    store_template = template.template_path()
    assert store_template is not None and store_template.parent == tmp_path / "c"


def test_off_keeps_nothing_on_disk(monkeypatch):
    monkeypatch.setenv("LLMTRACE_CACHE_DIR", " off ")
    assert cache_folder() is None
    assert pricing._cache_file() is None
    assert template.template_path() is None


def test_default_is_the_users_cache_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("LLMTRACE_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_folder() == tmp_path / "xdg" / "llmtrace"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_folder() == Path(tmp_path / "home" / ".cache" / "llmtrace")
