"""Commands loaded when they run, so ``llmtrace --help`` and ``llmtrace sql`` do not import the
eval, gate and release code (and pyarrow) that other commands need.

The root group knows each command by name, module and the summary its listing shows.
``llmtrace CMD ...`` imports ``llmtrace.cli.<module>`` and builds CMD from it as Typer would;
the root ``--help`` lists every command from its summary alone. ``tests/test_cli_lazy.py``
checks each summary against the first paragraph of the command's own help, so the two cannot
drift apart.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import typer

from ._coerce import install
from ._help import Command, Group

__all__ = ["LazyCommand", "LazyGroup"]


@dataclass
class LazyCommand:
    """A command of the root group: ``attribute`` of ``llmtrace.cli.<module>``, a function (a
    command) or a ``typer.Typer`` (a group of commands), and its summary for the listing."""

    module: str
    attribute: str
    summary: str
    _loaded: Any = field(default=None, repr=False)

    def load(self, name: str) -> Any:
        """The click command, built once per process."""
        if self._loaded is None:
            target = getattr(importlib.import_module(f"llmtrace.cli.{self.module}"), self.attribute)
            if isinstance(target, typer.Typer):  # a group, without completion options of its own
                self._loaded = typer.main.get_group(target)
            else:
                single = typer.Typer(add_completion=False)
                single.command(name=name, cls=Command)(target)
                self._loaded = typer.main.get_command(single)
            self._loaded.short_help = self.summary  # listed the same, loaded or not
            install(self._loaded)  # plain values converted without importing pydantic
        return self._loaded

    @property
    def loaded(self) -> bool:
        return self._loaded is not None

    def stub(self, name: str) -> Any:
        """What the root ``--help`` lists: the name and summary, nothing imported."""
        return Command(name=name, help=self.summary, callback=None)


class _Commands(MutableMapping[str, Any]):
    """The root group's commands by name, each loaded on first access."""

    def __init__(self, eager: MutableMapping[str, Any], lazy: dict[str, LazyCommand]) -> None:
        self.eager = dict(eager)
        self.lazy = dict(lazy)

    def __getitem__(self, name: str) -> Any:
        if name in self.eager:
            return self.eager[name]
        return self.lazy[name].load(name)

    def __setitem__(self, name: str, command: Any) -> None:
        self.lazy.pop(name, None)
        self.eager[name] = command

    def __delitem__(self, name: str) -> None:
        if self.eager.pop(name, None) is None:
            del self.lazy[name]

    def __iter__(self) -> Iterator[str]:
        yield from self.lazy
        yield from (name for name in self.eager if name not in self.lazy)

    def __len__(self) -> int:
        return len(self.lazy) + sum(1 for name in self.eager if name not in self.lazy)


class LazyGroup(Group):
    """The root group: its commands come from :attr:`COMMANDS`, each imported when it runs."""

    COMMANDS: ClassVar[dict[str, LazyCommand]] = {}

    def __init__(self, **attributes: Any) -> None:
        super().__init__(**attributes)
        self.commands = _Commands(self.commands, self.COMMANDS)
        self._listing = False

    def list_commands(self, ctx: Any) -> list[str]:
        return list(self.commands)  # the names only: TyperGroup's own would load every command

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        entry = self.COMMANDS.get(cmd_name)
        if self._listing and entry is not None and not entry.loaded:
            return entry.stub(cmd_name)
        return self.commands.get(cmd_name)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True  # the listing needs each command's summary, not the command
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False
