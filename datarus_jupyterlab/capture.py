"""Running a step's code in the user's own IPython namespace, its outputs captured.

The code runs through ``shell.run_cell`` (history, ``In``/``Out``, magics and
``%pip`` behave as if the user had typed it), while its streams, results, rich
displays and tracebacks are collected as nbformat outputs, the way a notebook
cell's iopub messages are (``KernelRunner`` in src/agent/kernelRunner.ts). The
host turns them into the observation, so every front door shows the model the
same text; nothing here formats or truncates for the model.
"""
from __future__ import annotations

import _thread
import sys
import threading
import time
from contextlib import contextmanager
from typing import Any, Iterator

# A single output's text or image kept whole up to this size; beyond it the
# middle is cut (the host's body limit is 4 MB, and the model reads 10,000 characters).
MAX_TEXT_CHARS = 1_000_000
MAX_IMAGE_CHARS = 1_500_000


def _cut(text: str, limit: int = MAX_TEXT_CHARS) -> str:
    if len(text) <= limit:
        return text
    head = limit * 6 // 10
    tail = limit - head
    return f"{text[:head]}\n… [{len(text) - limit} characters not sent] …\n{text[-tail:]}"


def _jsonable_data(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for mime, value in data.items():
        if isinstance(value, bytes):
            continue  # nbformat carries text: a bytes payload (rare) is left out
        if mime.startswith("image/") and isinstance(value, str) and len(value) > MAX_IMAGE_CHARS:
            value = value[:1024]  # the header still gives the size the model is told
        elif isinstance(value, str):
            value = _cut(value)
        out[mime] = value
    return out


class OutputCollector:
    """nbformat outputs, consecutive stream text of one name merged as notebooks do."""

    def __init__(self) -> None:
        self.outputs: list[dict[str, Any]] = []

    def stream(self, name: str, text: str) -> None:
        last = self.outputs[-1] if self.outputs else None
        if last is not None and last["output_type"] == "stream" and last["name"] == name:
            last["text"] = _cut(last["text"] + text)
        else:
            self.outputs.append({"output_type": "stream", "name": name, "text": _cut(text)})

    def display(self, data: dict[str, Any], metadata: dict[str, Any] | None) -> None:
        self.outputs.append({"output_type": "display_data", "data": _jsonable_data(data), "metadata": metadata or {}})

    def result(self, data: dict[str, Any], metadata: dict[str, Any] | None, count: int | None) -> None:
        self.outputs.append({"output_type": "execute_result", "data": _jsonable_data(data), "metadata": metadata or {}, "execution_count": count})

    def error(self, ename: str, evalue: str, traceback: list[str]) -> None:
        self.outputs.append({"output_type": "error", "ename": ename, "evalue": evalue, "traceback": [_cut(line) for line in traceback]})

    def clear(self) -> None:
        self.outputs.clear()


class _Stream:
    """A stand-in for sys.stdout / sys.stderr that writes into the collector."""

    def __init__(self, collector: OutputCollector, name: str, original: Any) -> None:
        self._collector = collector
        self.name = name
        self._original = original

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            text = str(text)
        if text:
            self._collector.stream(self.name, text)
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:
        return getattr(self._original, "encoding", None) or "utf-8"

    def fileno(self) -> int:
        return self._original.fileno()  # for code that asks; what it writes there is not captured


class _Publisher:
    """A display publisher that collects instead of sending (``display()``, ``clear_output()``)."""

    is_publishing = False

    def __init__(self, collector: OutputCollector) -> None:
        self._collector = collector

    def publish(self, data: dict[str, Any], metadata: dict[str, Any] | None = None, source: Any = None, *, transient: Any = None, update: bool = False, **_: Any) -> None:
        self._collector.display(data, metadata)

    def clear_output(self, wait: bool = False) -> None:
        self._collector.clear()


@contextmanager
def capturing(shell: Any, collector: OutputCollector) -> Iterator[None]:
    """Sends the shell's streams, displays, results and tracebacks into ``collector``."""
    hook = shell.displayhook
    patched = {
        # The shell's own display hook still sets _, __ and Out[n]; only what it writes is redirected.
        "start_displayhook": lambda: None,
        "write_output_prompt": lambda: None,
        "write_format_data": lambda format_dict, md_dict=None: collector.result(format_dict, md_dict, shell.execution_count),
        "finish_displayhook": lambda: None,
    }
    saved_hook = {name: hook.__dict__.get(name) for name in patched}
    saved_tb = shell.__dict__.get("_showtraceback")
    saved_pub = shell.display_pub
    saved_streams = sys.stdout, sys.stderr
    formatter = shell.display_formatter
    saved_types = list(formatter.active_types)

    def show_traceback(etype: Any, evalue: Any, stb: list[str]) -> None:
        collector.error(getattr(etype, "__name__", str(etype)), str(evalue), list(stb))

    for name, fn in patched.items():
        setattr(hook, name, fn)
    shell._showtraceback = show_traceback
    shell.display_pub = _Publisher(collector)
    sys.stdout = _Stream(collector, "stdout", saved_streams[0])
    sys.stderr = _Stream(collector, "stderr", saved_streams[1])
    # Every representation, as in a kernel, also in terminal IPython (which formats only text/plain):
    # the observation then describes a figure the same way in every front door.
    formatter.active_types = list(formatter.format_types)
    try:
        yield
    finally:
        formatter.active_types = saved_types
        sys.stdout, sys.stderr = saved_streams
        shell.display_pub = saved_pub
        if saved_tb is None:
            del shell._showtraceback
        else:
            shell._showtraceback = saved_tb
        for name, previous in saved_hook.items():
            if previous is None:
                delattr(hook, name)
            else:
                setattr(hook, name, previous)


def run_step(shell: Any, code: str, timeout_s: float) -> dict[str, Any]:
    """Runs ``code`` as a cell of the user's; answers a run the way the host reads it.

    Past ``timeout_s`` the code is interrupted (a KeyboardInterrupt in it, as a
    kernel interrupt would raise) and the status is ``timeout``; a
    KeyboardInterrupt from the user gives ``aborted``.
    """
    collector = OutputCollector()
    timed_out = threading.Event()

    def interrupt() -> None:
        timed_out.set()
        _thread.interrupt_main()

    timer = threading.Timer(timeout_s, interrupt)
    timer.daemon = True
    started = time.monotonic()
    with capturing(shell, collector):
        timer.start()
        try:
            result = shell.run_cell(code, store_history=True)
        finally:
            timer.cancel()
    duration_ms = round((time.monotonic() - started) * 1000)
    for output in collector.outputs:
        if output["output_type"] == "execute_result":
            output["execution_count"] = result.execution_count
    error = result.error_in_exec or result.error_before_exec
    if timed_out.is_set():
        status = "timeout"
    elif isinstance(error, KeyboardInterrupt):
        status = "aborted"
    elif error is not None or not result.success:
        status = "error"
    else:
        status = "ok"
    return {"kind": "run", "status": status, "outputs": collector.outputs, "executionCount": result.execution_count, "durationMs": duration_ms}


def evaluate_silently(shell: Any, expression: str) -> str | None:
    """The ``text/plain`` of an expression evaluated as a ``user_expressions`` entry: no cell, no history."""
    try:
        value = shell.user_expressions({"value": expression}).get("value", {})
    except Exception:
        return None
    text = value.get("data", {}).get("text/plain") if value.get("status") == "ok" else None
    return text if isinstance(text, str) else None
