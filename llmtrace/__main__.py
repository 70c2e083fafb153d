"""``python -m llmtrace``: the same CLI as the ``llmtrace`` command."""

from .cli import main

if __name__ == "__main__":
    main()
