"""Reward functions for TRL's ``GRPOTrainer``, computed by Datarus Lab's own scorer.

Each function has TRL's reward-function signature: it is called with keyword
arguments ``prompts``, ``completions`` and every other column of the dataset
(TRL also passes ``completion_ids`` and, in recent versions, ``trainer_state``),
and returns one float per completion, or ``None`` where the reward is absent
(TRL leaves those out rather than counting them as zero).

- ``structural_reward``: how well a completion follows the Datarus tag protocol,
  in [0, 1] (the structural reward of ``datarus score``).
- ``answer_reward``: the share of the row's labelled ``@name[value]`` answers that
  the completion's final answer gets right (the ``label_answers`` column of
  ``datarus rollouts --labels``); ``None`` for a row without labels.
- ``curriculum_reward(w0, w1)``: ``(1 - w)·structural + w·answer``, with ``w``
  moving from ``w0`` to ``w1`` along a half cosine of training progress
  (``trainer_state.global_step / trainer_state.max_steps``, or ``total_steps``).

Nothing is scored here: every completion goes to ``datarus score --batch`` (one
Node.js process, kept for the life of the Python process), so these rewards are
exactly the ones ``datarus rollouts`` and ``datarus export`` write.
"""
from __future__ import annotations

import atexit
import json
import subprocess
import threading
from typing import Any, Callable, Sequence

from .cli import plain_command

__all__ = ["structural_reward", "answer_reward", "curriculum_reward", "ScorerError"]


class ScorerError(RuntimeError):
    """The scorer refused a line or is not available; the message says why."""


class _Scorer:
    """`datarus score --batch` in a child process: one JSON line in, one answer line out."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()

    def _start(self) -> subprocess.Popen[str]:
        if self._proc is None or self._proc.poll() is not None:
            argv, env = plain_command(["score", "--batch"])
            self._proc = subprocess.Popen(
                argv, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8", bufsize=1
            )
        return self._proc

    def score(self, questions: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        if not questions:
            return []
        with self._lock:
            proc = self._start()
            assert proc.stdin is not None and proc.stdout is not None
            # Written from a thread while the answers are read: neither pipe can fill up and block the other side.
            def feed() -> None:
                try:
                    for q in questions:
                        proc.stdin.write(json.dumps(q) + "\n")
                    proc.stdin.flush()
                except (BrokenPipeError, OSError):
                    pass

            writer = threading.Thread(target=feed, daemon=True)
            writer.start()
            answers = []
            for _ in questions:
                line = proc.stdout.readline()
                if not line:
                    writer.join()
                    err = proc.stderr.read() if proc.stderr else ""
                    self._proc = None
                    raise ScorerError(f"datarus score --batch stopped answering: {err.strip() or 'no message'}")
                answers.append(json.loads(line))
            writer.join()
        for answer in answers:
            if "error" in answer:
                raise ScorerError(f"datarus score --batch: {answer['error']}")
        return answers

    def close(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
        self._proc = None


_scorer = _Scorer()
atexit.register(_scorer.close)


def _content(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # [{"type": "text", "text": …}, …]
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def completion_text(completion: Any) -> str:
    """A completion as text: a string as it is; a conversational completion, its assistant turns joined."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list):
        return "\n".join(_content(m.get("content")) for m in completion if isinstance(m, dict) and m.get("role", "assistant") == "assistant")
    raise TypeError(f"a completion must be a string or a list of messages, not {type(completion).__name__}")


def _labels(value: Any) -> dict[str, Any] | list[Any] | None:
    # A dataset column of structs gives each row every name any row has, the missing ones as None;
    # the scorer leaves those out.
    if value is None or isinstance(value, (dict, list)):
        return value
    raise TypeError(f"label_answers must be a dict of name: value or a list of [name, value] pairs, not {type(value).__name__}")


def _questions(completions: Sequence[Any], label_answers: Sequence[Any] | None = None, **extra: Any) -> list[dict[str, Any]]:
    if label_answers is not None and len(label_answers) != len(completions):
        raise ValueError(f"{len(completions)} completions but {len(label_answers)} label_answers")
    questions = []
    for i, completion in enumerate(completions):
        q: dict[str, Any] = {"text": completion_text(completion), **extra}
        if label_answers is not None:
            q["label_answers"] = _labels(label_answers[i])
        questions.append(q)
    return questions


def structural_reward(completions: Sequence[Any], **kwargs: Any) -> list[float]:
    """The structural reward of each completion, in [0, 1]."""
    return [a["structural"] for a in _scorer.score(_questions(completions))]


def answer_reward(completions: Sequence[Any], label_answers: Sequence[Any] | None = None, **kwargs: Any) -> list[float | None]:
    """The share of each row's labelled answers the completion gets right; None for a row without labels."""
    if label_answers is None:
        return [None] * len(completions)
    return [a["answer"] for a in _scorer.score(_questions(completions, label_answers))]


def _progress(trainer_state: Any, total_steps: int | None) -> float:
    step = getattr(trainer_state, "global_step", None)
    total = total_steps or getattr(trainer_state, "max_steps", None)
    if step is None or not total:
        raise ValueError(
            "curriculum_reward needs the training progress: TRL passes trainer_state (global_step, max_steps) in recent "
            "versions; with an older TRL give curriculum_reward(total_steps=…) and call its .set_step(step) from a callback"
        )
    return min(1.0, max(0.0, step / total))


def curriculum_reward(w0: float = 0.2, w1: float = 0.8, total_steps: int | None = None) -> Callable[..., list[float | None]]:
    """A reward function mixing the structural reward and the answer match by the cosine curriculum.

    The semantic weight is ``w0`` at the start of training and ``w1`` at its end. The mix is
    computed by the scorer (``curriculumReward`` in src/protocol/curriculum.ts); a row without
    labels has no semantic part, and so no reward (``None``).
    """
    state: dict[str, int | None] = {"step": None}

    def reward(completions: Sequence[Any], label_answers: Sequence[Any] | None = None, trainer_state: Any = None, **kwargs: Any) -> list[float | None]:
        if state["step"] is not None:
            progress = min(1.0, max(0.0, state["step"] / (total_steps or 1)))
        else:
            progress = _progress(trainer_state, total_steps)
        labels = label_answers if label_answers is not None else [None] * len(completions)
        answers = _scorer.score(_questions(completions, labels, progress=progress, w0=w0, w1=w1))
        return [a["reward"] for a in answers]

    def set_step(step: int) -> None:
        """For trainers that pass no trainer_state: the step the next rewards are for."""
        if total_steps is None:
            raise ValueError("set_step needs curriculum_reward(total_steps=…)")
        state["step"] = step

    reward.__name__ = "curriculum_reward"  # TRL logs each reward under its function's name
    reward.set_step = set_step  # type: ignore[attr-defined]
    return reward

