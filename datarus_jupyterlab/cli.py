"""`datarus`, the console script: runs the bundled CLI with Node.js.

`datarus serve` needs the model runtime (node-llama-cpp) and installs it on
first use, with progress on stderr; the other commands run without it. In an
editable install of a source checkout the checkout's own build runs instead.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from . import runtime

COMMANDS_NEEDING_RUNTIME = {"serve"}
# These start `datarus serve` themselves, unless they are given remote model servers.
HEADLESS_COMMANDS = {"run", "eval", "rollouts"}


def _needs_runtime(args: list[str]) -> bool:
    if not args:
        return False
    if args[0] in HEADLESS_COMMANDS:
        return not any(a == "--base-url" or a.startswith("--base-url=") for a in args[1:])
    return args[0] in COMMANDS_NEEDING_RUNTIME


def _with_jupyter(env: dict[str, str]) -> dict[str, str]:
    """The headless commands start a Jupyter server for their kernels: the one installed beside this Python."""
    jupyter = Path(sys.executable).parent / ("jupyter.exe" if os.name == "nt" else "jupyter")
    if "DATARUS_JUPYTER" not in env and jupyter.exists():
        env = {**env, "DATARUS_JUPYTER": str(jupyter)}
    return env


def _checkout_cli() -> Path | None:
    """bin/datarus.js of a built checkout: $DATARUS_HOST_DIR, or the one this package is installed editable from."""
    env = os.environ.get("DATARUS_HOST_DIR")
    root = Path(env) if env else Path(__file__).resolve().parent.parent
    cli = root / "bin" / "datarus.js"
    return cli if cli.exists() and (root / "lib-node" / "cli" / "index.js").exists() else None


class _Progress:
    """Prints "installing the model runtime N%" on stderr, a line per 10% when not a terminal."""

    def __init__(self) -> None:
        self._shown = -1
        self._tty = sys.stderr.isatty()

    def __call__(self, progress: float) -> None:
        percent = round(progress * 100)
        if self._tty:
            if percent != self._shown:
                sys.stderr.write(f"\rinstalling the model runtime {percent}%")
                sys.stderr.flush()
        elif percent // 10 != self._shown // 10:
            sys.stderr.write(f"installing the model runtime {percent}%\n")
            sys.stderr.flush()
        self._shown = percent


def _run(argv: list[str], env: dict[str, str]) -> int:
    """Becomes Node (signals and the exit code are its own); on Windows, which has no exec, waits for it."""
    if os.name == "nt":
        return subprocess.call(argv, env=env)
    os.execve(argv[0], argv, env)
    return 0  # not reached


def plain_command(args: list[str]) -> tuple[list[str], dict[str, str]]:
    """The command line and environment of `datarus ARGS` for a command that needs no model
    runtime (`score`, `parse`, `export`): for callers that talk to the CLI, such as the rewards module.
    Raises runtime.RuntimeUnavailable without Node.js."""
    tools = runtime.find_node()
    checkout = _checkout_cli()
    if checkout is not None:
        return [tools.node, str(checkout), *args], dict(os.environ)
    return [tools.node, str(runtime.BUNDLE), *args], runtime.host_env()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        tools = runtime.find_node()
    except runtime.RuntimeUnavailable as err:
        sys.stderr.write(f"datarus: {err}\n")
        return 1
    checkout = _checkout_cli()
    if checkout is not None:
        return _run([tools.node, str(checkout), *args], _with_jupyter(dict(os.environ)))
    env = _with_jupyter(runtime.host_env())
    entry = runtime.BUNDLE
    if _needs_runtime(args):
        try:
            if not runtime.is_installed():
                sys.stderr.write(f"datarus: installing the model runtime (once) into {runtime.runtime_dir()}\n")
                runtime.install_runtime(tools, _Progress())
                sys.stderr.write("\n" if sys.stderr.isatty() else "")
            entry = runtime.host_entry(runtime.runtime_dir())
        except runtime.RuntimeUnavailable as err:
            sys.stderr.write(f"datarus: {err}\n")
            return 1
    # The working folder stays the user's: relative paths on the command line mean what they typed.
    return _run([tools.node, str(entry), *args], env)


if __name__ == "__main__":
    sys.exit(main())
