"""The crash-loop guard: which `--gpu` the next host start gets.

A GPU backend can kill the whole host process at model load or at the first
decode (a CUDA binary built for a newer driver aborts in native code). Restarting
it on the same backend only repeats the crash, so a host that dies before it has
said it is ready is restarted at most once per backend; after that the next start
skips the backend (CUDA → CUDA 12 → Vulkan → CPU). When no backend is left the host is not
started again and requests fail at once with the reason.
"""
from __future__ import annotations

import re
import sys

# What the host prints on stderr (src/cli/index.ts): the backend it committed to, and that start-up is over.
_BACKEND_LINE = re.compile(r"^datarus host backend: (\w+)$")
_SETTLED_LINE = re.compile(r"^datarus host (ready: |: )")

STARTS_PER_BACKEND = 2  # the first start and one restart
_LABELS = {"cpu": "CPU", "cuda": "CUDA", "cuda12": "CUDA 12", "vulkan": "Vulkan", "metal": "Metal"}


def platform_chain(platform: str = sys.platform) -> list[str]:
    """The host's `--gpu auto` chain (src/host/backend/backends.ts): node-llama-cpp's CUDA 12 build is Linux only."""
    if platform == "darwin":
        return ["metal", "cpu"]
    return ["cuda", "cuda12", "vulkan", "cpu"] if platform.startswith("linux") else ["cuda", "vulkan", "cpu"]


class CrashLoopGuard:
    def __init__(self, gpu: str, platform: str = sys.platform) -> None:
        choice = (gpu or "auto").strip().lower()
        self.explicit = choice != "auto"
        self._choice = choice
        self._chain = [b.strip() for b in choice.split(",")] if self.explicit else platform_chain(platform)
        self._given_up: list[str] = []
        self._crashes: dict[str, int] = {}
        self._backend: str | None = None
        self._settled = False
        self.note: str | None = None

    @property
    def remaining(self) -> list[str]:
        # The host reached a backend only after every earlier one in the chain failed: skip those too.
        last = max((self._chain.index(b) for b in self._given_up if b in self._chain), default=-1)
        return [b for b in self._chain[last + 1 :] if b not in self._given_up]

    def gpu_arg(self) -> str | None:
        """The `--gpu` value for the next start; None when no backend is left to try."""
        if not self._given_up:
            return self._choice
        remaining = self.remaining
        return ",".join(remaining) if remaining else None

    def started(self) -> None:
        self._backend = None
        self._settled = False

    def saw_line(self, line: str) -> None:
        match = _BACKEND_LINE.match(line)
        if match:
            self._backend = match.group(1)
        elif _SETTLED_LINE.match(line):
            self._settled = True

    def exited(self, code: int | None) -> None:
        """The host is gone. A death before start-up was over counts against its backend."""
        if self._settled:
            return
        remaining = self.remaining
        # Died before it named a backend: in-process backend start-up is the first remaining one.
        backend = self._backend or (remaining[0] if remaining else None)
        if backend is None:
            return
        self._crashes[backend] = self._crashes.get(backend, 0) + 1
        if self._crashes[backend] < STARTS_PER_BACKEND or backend in self._given_up:
            return
        self._given_up.append(backend)
        label = _LABELS.get(backend, backend)
        died = f"The model host died {self._crashes[backend]} times while starting on {label} (last exit code {code})"
        next_arg = self.gpu_arg()
        if next_arg is not None:
            self.note = f"{died}; it now starts with --gpu {next_arg}."
        elif self.explicit:
            self.note = (
                f"{died}; it is not started again. {label} was chosen explicitly (gpu = {self._choice}), so it does "
                "not fall back by itself: set c.DatarusLabApp.gpu (or DATARUS_GPU) to another backend or 'auto' and restart Jupyter."
            )
        else:
            self.note = f"{died}; no backend is left to try, so it is not started again. Restart Jupyter after fixing the cause."

    @property
    def blocked(self) -> bool:
        return self.gpu_arg() is None
