"""The tracing core: one span's life, from the decorator or context manager that opens it
(``kinds``, ``spec``), through the handle user code talks to (``live``) and the streams it
wraps (``streams``), the context stamped on it (``context``) and the content it may capture
(``capture``), to the processors that hand it to exporters (``processors``) and the work left
for the exporter's thread (``late``). ``runtime`` holds what ``configure()`` decided."""
