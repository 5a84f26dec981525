"""``%%datarus``: an agent episode from any Jupyter frontend, in this kernel's namespace.

The agent is the host's (TypeScript, src/agent/loop.ts, through an agent
session: src/host/sessions/agentSessions.ts); this module only runs what the session
asks in the user's namespace (capture.py), answers silent inspections and
approvals, and shows the episode in the cell's output as it goes.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

from IPython.core.magic import Magics, line_cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from .capture import evaluate_silently, run_step
from .hostclient import EmbeddedHost, HostClient, HostError, host_from_environment
from .progress import Progress

DEFAULT_MODEL = "qwen2.5-coder-1.5b"
POLL_WAIT_MS = 20_000


def stdin_allowed(shell: Any) -> bool:
    """Whether ``input()`` can reach the user: the running request's ``allow_stdin`` in a kernel, a terminal in IPython."""
    kernel = getattr(shell, "kernel", None)
    if kernel is None:
        return sys.stdin is not None and sys.stdin.isatty()
    # ipykernel keeps the execute request's allow_stdin here; its input() refuses when it is false.
    return bool(getattr(kernel, "_allow_stdin", False))


def session_request(args: argparse.Namespace, question: str, can_ask: bool = False) -> dict[str, Any]:
    """The body of ``POST agent/sessions`` for the parsed options; a UsageError-worthy ValueError when they are wrong.

    ``can_ask``: whether the user can be asked through stdin (a step the code policy flags waits for them;
    without stdin it is refused under ``--approval auto``).
    """
    if not question.strip():
        raise ValueError("the question is empty: write it in the cell, under %%datarus")
    if args.max_steps is not None and args.max_steps < 1:
        raise ValueError("--max-steps must be at least 1")
    if args.temperature is not None and not 0 <= args.temperature <= 2:
        raise ValueError("--temperature must be between 0 and 2")
    for path in args.data:
        if not os.path.isfile(path):
            raise ValueError(f"--data: {path} is not a file (paths are read from the kernel's working folder, {os.getcwd()})")
    body: dict[str, Any] = {"question": question.strip(), "approval": args.approval, "log": not args.no_log, "canAsk": can_ask}
    optional = {
        "maxSteps": args.max_steps,
        "temperature": args.temperature,
        "model": args.model,
        "baseUrl": args.base_url,
        "apiKey": args.api_key or (os.environ.get("DATARUS_API_KEY") or os.environ.get("OPENAI_API_KEY") if args.base_url else None),
        "cellTimeoutSeconds": args.cell_timeout,
        "dataFiles": list(args.data) or None,
        "grammars": _grammars(args.grammar) if args.grammar else None,
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    return body


def _grammars(path: str) -> list[str]:
    """``--grammar``: a GBNF file (every turn) or a JSON list of GBNF texts, one per turn (as `datarus run --grammar`)."""
    import json

    with open(path, encoding="utf-8") as f:
        text = f.read()
    if not path.endswith(".json"):
        return [text]
    turns = json.loads(text)
    if not isinstance(turns, list) or not all(isinstance(t, str) for t in turns):
        raise ValueError(f"--grammar: {path} must hold a list of GBNF texts")
    return turns


@magics_class
class DatarusMagics(Magics):
    def __init__(self, shell: Any) -> None:
        super().__init__(shell)
        self._embedded: EmbeddedHost | None = None
        self._running = False

    @magic_arguments()
    @argument("--max-steps", type=int, default=None, help="most steps before the answer is asked for (default 30)")
    @argument("--approval", choices=["ask", "auto"], default="auto", help="ask: Run / Skip / Allow the rest before each step, through input(); auto (default): run each step as written, except one the code policy flags (network, shell, installs, writes outside the folder, credentials, unreadable code): it is asked about through input(), or refused where the frontend allows no input()")
    @argument("--data", action="append", default=[], metavar="FILE", help="a data file to tell the model about (repeatable), as the kernel's working folder reads it")
    @argument("--model", default=None, help="the host's model (manifest name or .gguf path; default $DATARUS_MODEL, else the starter), or the --base-url server's")
    @argument("--base-url", default=None, help="an OpenAI-compatible server (vLLM, llama.cpp, datarus serve) to write the turns")
    @argument("--api-key", default=None, help="its API key (default $DATARUS_API_KEY, else $OPENAI_API_KEY)")
    @argument("--no-log", action="store_true", help="keep this episode out of the episode log")
    @argument("--temperature", type=float, default=None, help="sampling temperature, 0..2")
    @argument("--cell-timeout", type=float, default=None, metavar="SECONDS", help="time limit of each step's code (default 120)")
    @argument("--grammar", default=None, metavar="FILE", help="GBNF for every turn, or a JSON list of GBNF texts, one per turn (tests)")
    @argument("question", nargs="*", help="as a line magic: the question (as a cell magic, the cell is the question)")
    @line_cell_magic
    def datarus(self, line: str, cell: str | None = None) -> None:
        """Answer the question in the cell with the Datarus agent, in this kernel.

        Usage::

            %%datarus [--data sales.csv] [--max-steps N] [--approval ask|auto] ...
            Which region sold the most units?

        Each step's code runs in this kernel's namespace: the variables it makes
        are yours afterwards. Interrupt the kernel to stop the episode at once.
        """
        try:
            args = parse_argstring(self.datarus, line)
        except SystemExit:
            return  # argparse said what was wrong
        question = cell if cell is not None else " ".join(args.question)
        if self._running:
            print("%%datarus cannot run inside a step of another %%datarus episode.")
            return
        try:
            body = session_request(args, question or "", can_ask=stdin_allowed(self.shell))
        except (ValueError, OSError) as err:
            print(f"%%datarus: {err}")
            return
        self._running = True
        try:
            self._episode(args, body)
        finally:
            self._running = False

    @magic_arguments()
    @argument("-n", "--cells", type=int, default=1, help="how many of the cells before this one to reflect on (default 1)")
    @argument("--model", default=None, help="the host's model (default $DATARUS_MODEL, else the starter)")
    @argument("--temperature", type=float, default=None, help="sampling temperature, 0..2")
    @argument("--grammar", default=None, metavar="FILE", help="GBNF for the reflection (tests)")
    @line_magic
    def datarus_reflect(self, line: str) -> None:
        """Reflect on the last cells: what they did, what they show, what to check next.

        The model reads each cell's code and its result (``Out``; what a cell printed
        is not kept by IPython), as Reflect in JupyterLab sends them.
        """
        try:
            args = parse_argstring(self.datarus_reflect, line)
        except SystemExit:
            return
        cells = recent_cells(self.shell, args.cells)
        if not cells:
            print("%datarus_reflect: no cell before this one to reflect on")
            return
        args.base_url = None
        progress = Progress.for_shell(self.shell, max_steps=1)
        body: dict[str, Any] = {"cells": cells}
        if args.temperature is not None:
            body["temperature"] = args.temperature
        if args.grammar:
            body["grammar"] = _grammars(args.grammar)[0]
        try:
            client = self._client(args, progress)
            client.wait_ready(progress.note)
            answer = client.post("agent/reflect", body, timeout=600)
        except KeyboardInterrupt:
            progress.stopped()
            return
        except HostError as err:
            progress.failed(str(err))
            return
        progress.reflection(answer["model"], answer["thinking"], answer["answer"])

    def _client(self, args: argparse.Namespace, progress: Progress) -> HostClient:
        found = host_from_environment(progress.note)
        if found is not None:
            return found
        if self._embedded is None or not self._embedded.alive:
            model = None if args.base_url else (args.model or os.environ.get("DATARUS_MODEL") or DEFAULT_MODEL)
            self._embedded = EmbeddedHost(model, progress.note)
        return self._embedded.client

    def _episode(self, args: argparse.Namespace, body: dict[str, Any]) -> None:
        progress = Progress.for_shell(self.shell, max_steps=body.get("maxSteps") or 30)
        session_id: str | None = None
        client: HostClient | None = None
        try:
            client = self._client(args, progress)
            if not args.base_url:
                client.wait_ready(progress.note)
            created = client.post("agent/sessions", body, timeout=600)
            session_id = created["sessionId"]
            progress.started(created.get("model", "?"))
            self._follow(client, session_id, progress)
        except KeyboardInterrupt:
            if client is not None and session_id is not None:
                self._stop(client, session_id, progress)
            progress.stopped()
        except HostError as err:
            progress.failed(str(err))
        finally:
            progress.close()

    def _follow(self, client: HostClient, session_id: str, progress: Progress) -> None:
        after = 0
        while True:
            answer = client.get(f"agent/sessions/{session_id}/events", {"after": after, "waitMs": POLL_WAIT_MS}, timeout=POLL_WAIT_MS / 1000 + 30)
            for event in answer["events"]:
                after = event["seq"]
                if event["type"] == "ask":
                    reply = self._answer(event, progress)
                    client.post(f"agent/sessions/{session_id}/answers", {"ask": event["ask"], "answer": reply})
                    if reply.get("status") == "aborted":
                        raise KeyboardInterrupt
                else:
                    progress.event(event)
            if answer["done"]:
                return

    def _answer(self, event: dict[str, Any], progress: Progress) -> dict[str, Any]:
        kind = event["kind"]
        if kind == "inspect":
            # Silent evaluations: the context, column hints and the code policy's check, in this kernel.
            return {"kind": "inspect", "value": evaluate_silently(self.shell, event["expression"])}
        if kind == "approve":
            # The host keeps "allow the rest" (it never covers a step the code policy flagged).
            return {"kind": "approve", "action": progress.ask_approval(event)}
        progress.running(event)
        return run_step(self.shell, event["code"], event["timeoutMs"] / 1000)

    def _stop(self, client: HostClient, session_id: str, progress: Progress) -> None:
        """Stops the session at once, then shows how it ended if the host says so within a few seconds."""
        try:
            client.post(f"agent/sessions/{session_id}/abort", timeout=10)
            deadline = time.monotonic() + 5
            after = 0
            while time.monotonic() < deadline:
                answer = client.get(f"agent/sessions/{session_id}/events", {"after": after, "waitMs": 1000}, timeout=10)
                for event in answer["events"]:
                    after = event["seq"]
                    if event["type"] == "end":
                        progress.event(event)
                if answer["done"]:
                    return
        except (HostError, KeyboardInterrupt):
            pass

    def stop_host(self) -> None:
        if self._embedded is not None:
            self._embedded.stop()
            self._embedded = None


def recent_cells(shell: Any, count: int) -> list[dict[str, Any]]:
    """The ``count`` cells before the running one, from the history: code and its ``Out`` result."""
    history = shell.user_ns.get("In", [])
    results = shell.user_ns.get("Out", {})
    current = shell.execution_count
    cells: list[dict[str, Any]] = []
    for index in range(max(1, current - count), current):
        if index >= len(history) or not history[index].strip():
            continue
        cell: dict[str, Any] = {"cellType": "code", "source": history[index]}
        if index in results:
            data, metadata = shell.display_formatter.format(results[index])
            cell["outputs"] = [{"output_type": "execute_result", "data": {k: v for k, v in data.items() if isinstance(v, str)}, "metadata": {}, "execution_count": index}]
        cells.append(cell)
    return cells


def parse_options(line: str) -> argparse.Namespace:
    """The options of a ``%%datarus`` line, as the magic reads them (for tests and tools)."""
    return parse_argstring(DatarusMagics.datarus, line)


__all__ = ["DatarusMagics", "parse_options", "recent_cells", "session_request", "stdin_allowed"]
