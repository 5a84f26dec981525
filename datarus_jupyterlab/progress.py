"""What ``%%datarus`` shows while an episode runs.

In a frontend that renders rich output (JupyterLab, Notebook 7, VS Code,
``jupyter execute``) one display, updated in place: step N of M, the thought,
the code (as a Python code block, highlighted where Markdown is rendered), its
output as the model read it, then the answer with its caution. In a terminal
(IPython) plain lines, printed as each step ends.
"""
from __future__ import annotations

import re
import time
from typing import Any

from IPython.display import display

# Rich output is redrawn at most this often while text streams.
REDRAW_SECONDS = 0.25
OBSERVATION_SHOWN_CHARS = 4000

_TAG = re.compile(r"</?[a-z_]+>")


def _fence(text: str, lang: str = "") -> str:
    """A Markdown code block that no run of backticks inside ``text`` can close."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{lang}\n{text.rstrip()}\n{ticks}"


def _flagged(step: dict[str, Any]) -> str:
    """What the code policy found in a step, and whether it ran anyway (approved) or not."""
    reasons = "; ".join(r["reason"] + (f", line {r['line']}" if r.get("line") else "") for r in step["risks"])
    outcome = "refused" if step.get("refused") else "skipped" if step["status"] == "skipped" else "approved"
    return f"flagged by the code policy ({outcome}): it {reasons}"


def _short(text: str, limit: int = OBSERVATION_SHOWN_CHARS) -> str:
    return text if len(text) <= limit else f"{text[:limit]}\n… ({len(text) - limit} more characters)"


class Progress:
    """The episode's steps as the session reports them, and how they are shown."""

    def __init__(self, rich: bool, max_steps: int) -> None:
        self._rich = rich
        self._max_steps = max_steps
        self._model = ""
        self._notes: list[str] = []
        self._steps: list[dict[str, Any]] = []
        self._streaming: dict[int, str] = {}
        self._thoughts: dict[int, str] = {}
        self._running: int | None = None
        self._end: list[str] = []
        self._handle: Any = None
        self._drawn = 0.0

    @classmethod
    def for_shell(cls, shell: Any, max_steps: int) -> "Progress":
        # A kernel has a frontend that renders displays; terminal IPython prints text.
        return cls(rich=getattr(shell, "kernel", None) is not None, max_steps=max_steps)

    # What happens
    def note(self, line: str) -> None:
        self._notes = [line]
        if self._rich:
            self._draw(force=True)
        else:
            print(f"datarus: {line}", flush=True)

    def started(self, model: str) -> None:
        self._model = model
        self._notes = []
        if self._rich:
            self._draw(force=True)
        else:
            print(f"datarus: {model}", flush=True)

    def running(self, ask: dict[str, Any]) -> None:
        self._running = ask["step"]
        self._streaming.pop(ask["step"], None)
        if self._rich:
            self._draw(force=True)
        else:
            print(f"  running step {ask['step'] + 1}…", flush=True)

    def event(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        if kind == "text":
            self._streaming[event["step"]] = self._streaming.get(event["step"], "") + event["text"]
            if self._rich:
                self._draw()
        elif kind == "thought":
            self._thoughts[event["step"]] = event["text"]
            if self._rich:
                self._draw()
            else:
                print(f"step {event['step'] + 1} of {self._max_steps} · {event['text'].strip()}", flush=True)
        elif kind == "step":
            step = event["step"]
            self._running = None
            self._streaming.pop(step["index"], None)
            self._steps.append(step)
            if self._rich:
                self._draw(force=True)
            else:
                self._print_step(step)
        elif kind == "rejected":
            rejected = event["rejected"]
            self._streaming.clear()
            line = f"answer sent back: {rejected.get('feedback', '').strip()}"
            self._notes = [line]
            if self._rich:
                self._draw(force=True)
            else:
                print(f"  {line}", flush=True)
        elif kind == "end":
            self._finish(event)

    def _finish(self, event: dict[str, Any]) -> None:
        episode = event["episode"]
        self._streaming.clear()
        self._running = None
        if event.get("answer"):
            self._end = [f"**Answer.** {event['answer']}" if self._rich else f"answer: {event['answer']}"]
            if event.get("caution"):
                self._end.append(f"> **{event['caution']}**" if self._rich else event["caution"])
        else:
            reason = f" ({episode['reason']})" if episode.get("reason") else ""
            self._end = [f"episode ended: {episode['status']}{reason}"]
        if event.get("logged"):
            self._end.append(f"_episode {episode['id']} logged_" if self._rich else f"episode {episode['id']} logged")
        if self._rich:
            self._draw(force=True)
        else:
            for line in self._end:
                print(line, flush=True)

    def stopped(self) -> None:
        if not self._end:
            self._end = ["stopped: the episode was interrupted"]
        if self._rich:
            self._draw(force=True)
        else:
            print(self._end[-1], flush=True)

    def failed(self, message: str) -> None:
        self._end = [f"%%datarus: {message}"]
        if self._rich:
            self._draw(force=True)
        else:
            print(self._end[0], flush=True)

    def ask_approval(self, ask: dict[str, Any]) -> str:
        """Run / Skip / Allow the rest / stop, through the kernel's stdin: the answer's ``action``."""
        if self._rich:
            self._draw(force=True)
        risk = ask.get("risk")
        if risk:
            self.note(f"Step {ask['step'] + 1} needs your approval: the code policy found that it {risk}.")
        prompt = f"Step {ask['step'] + 1}: run this code? [r]un / [s]kip / [a]llow the rest / s[t]op: "
        if not self._rich:
            print(f"  code:\n{ask['code']}", flush=True)
        while True:
            try:
                reply = input(prompt).strip().lower()
            except Exception:  # StdinNotImplementedError: this frontend has no stdin
                self.note("--approval ask needs a frontend that allows input(); the episode stops (use --approval auto)")
                return "stop"
            choice = {"": "run", "r": "run", "run": "run", "s": "skip", "skip": "skip", "a": "allow-rest", "all": "allow-rest", "t": "stop", "stop": "stop"}.get(reply)
            if choice:
                return choice

    def reflection(self, model: str, thinking: str, answer: str) -> None:
        self._model = model
        self._notes = []
        if self._rich:
            details = f"\n\n<details><summary>Reasoning</summary>\n\n{thinking.strip()}\n\n</details>" if thinking.strip() else ""
            self._end = [f"**Reflection.** {answer.strip()}{details}"]
            self._draw(force=True)
        else:
            print(f"reflection ({model}): {answer.strip()}", flush=True)

    def close(self) -> None:
        if self._rich and self._handle is not None:
            self._draw(force=True)

    # How it is shown
    def _print_step(self, step: dict[str, Any]) -> None:
        if step["status"] == "invalid":
            print(f"  ✗ not run: {step['observation']}", flush=True)
            return
        print("  code:\n" + "\n".join(f"    {line}" for line in step["code"].splitlines()), flush=True)
        if step.get("risks"):
            print(f"  ⚠ {_flagged(step)}", flush=True)
        mark = "→" if step["status"] == "ok" else f"✗ {step['status']}:"
        print(f"  {mark} {_short(step['observation'], 1500)}", flush=True)

    def markdown(self) -> str:
        parts = []
        shown = len(self._steps) + (1 if self._streaming or self._running is not None else 0)
        header = f"**Datarus** · {self._model or 'starting'}"
        if shown:
            header += f" · step {min(shown, self._max_steps)} of {self._max_steps}"
        parts.append(header)
        parts.extend(f"_{n}_" for n in self._notes)
        for step in self._steps:
            parts.append(f"**Step {step['index'] + 1}** · {step['thought'].strip()}")
            if step["status"] == "invalid":
                parts.append(f"✗ not run: {step['observation']}")
                continue
            parts.append(_fence(step["code"], "python"))
            if step.get("risks"):
                parts.append(f"⚠ {_flagged(step)}")
            label = "" if step["status"] == "ok" else f"✗ {step['status']}\n"
            parts.append(_fence(label + _short(step["observation"])))
        for index, text in sorted(self._streaming.items()):
            thought = self._thoughts.get(index)
            parts.append(f"**Step {index + 1}** · _writing…_ {thought.strip() if thought else ''}".rstrip())
            parts.append(_fence(_TAG.sub("", text).strip() or "…"))
        if self._running is not None:
            parts.append(f"_running step {self._running + 1}…_")
        parts.extend(self._end)
        return "\n\n".join(parts)

    def _draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._drawn < REDRAW_SECONDS:
            return
        self._drawn = now
        text = self.markdown()
        bundle = {"text/markdown": text, "text/plain": text}
        if self._handle is None:
            self._handle = display(bundle, raw=True, display_id=True)
        else:
            self._handle.update(bundle, raw=True)
