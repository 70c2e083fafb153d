"""llmtrace's version, the one place it is written (``pyproject.toml`` reads it from here), so
a traced process can name itself without importlib.metadata (~3 MiB of modules)."""

__version__ = "0.1.0"
