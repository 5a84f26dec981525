"""How a kernel reaches a model host, with the standard library only.

1. ``$DATARUS_HOST_URL`` (``unix:/path/host.sock`` or ``http://127.0.0.1:PORT``)
   with the bearer token in the 0600 file ``$DATARUS_HOST_TOKEN_FILE`` (or in
   ``$DATARUS_HOST_TOKEN``): a Jupyter server running this extension exports
   both to its kernels, so the magic uses the server's own host.
2. Otherwise the kernel starts the embedded host once, on a unix socket in a
   private folder (0700), the token in the child's environment (never in
   argv), reused by every cell, stopped with the kernel (and by itself when
   its stdin closes).
"""
from __future__ import annotations

import atexit
import http.client
import json
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections import deque
from threading import Thread
from typing import Any, Callable
from urllib.parse import urlencode, urlsplit

from . import runtime


class HostError(Exception):
    """The host could not be reached or refused a request; the message says why."""

    def __init__(self, message: str, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("datarus-host", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


class HostClient:
    """JSON requests to a host's ``/api``; one connection per request (a poll may wait long)."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self._token = token

    def _connection(self, timeout: float) -> http.client.HTTPConnection:
        if self.url.startswith("unix:"):
            return _UnixConnection(self.url[len("unix:"):], timeout)
        parts = urlsplit(self.url)
        return http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=timeout)

    def request(self, method: str, path: str, body: Any = None, timeout: float = 60.0) -> Any:
        conn = self._connection(timeout)
        headers = {"Authorization": f"Bearer {self._token}"}
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        try:
            conn.request(method, f"/api/{path}", body=data, headers=headers)
            response = conn.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException) as err:
            raise HostError(f"the model host at {self.url} could not be reached: {err}") from err
        finally:
            conn.close()
        try:
            answer = json.loads(raw) if raw else None
        except ValueError:
            answer = None
        if response.status >= 400:
            error = (answer or {}).get("error", {}) if isinstance(answer, dict) else {}
            raise HostError(error.get("message") or f"the model host answered {response.status}", error.get("code"), response.status)
        return answer

    def get(self, path: str, params: dict[str, Any] | None = None, timeout: float = 60.0) -> Any:
        return self.request("GET", f"{path}?{urlencode(params)}" if params else path, timeout=timeout)

    def post(self, path: str, body: Any = None, timeout: float = 60.0) -> Any:
        return self.request("POST", path, body if body is not None else {}, timeout=timeout)

    def wait_ready(self, on_waiting: Callable[[str], None] = lambda _: None, timeout: float = 600.0) -> dict[str, Any]:
        """The host's status once its model is loaded; a HostError saying why when it cannot be."""
        deadline = time.monotonic() + timeout
        shown = ""
        while True:
            status = self.get("status", timeout=30)
            state = status.get("state")
            if state == "ready":
                return status
            if state == "error" or (state == "idle" and status.get("error")):
                raise HostError(f"the model host could not load its model: {status.get('error')}", "no_model")
            if state == "idle":
                return status  # no model: the session says how to get one
            line = f"loading the model {round((status.get('loadProgress') or 0) * 100)}%" if state == "loading" else f"the model host is {state}"
            if line != shown:
                on_waiting(line)
                shown = line
            if time.monotonic() > deadline:
                raise HostError(f"the model host was still {state} after {timeout:.0f} s")
            time.sleep(0.25)


def _read_token_file(path: str) -> str:
    mode = os.stat(path).st_mode & 0o077
    if mode:
        raise HostError(f"{path} can be read by other users (mode {oct(os.stat(path).st_mode & 0o777)}); it must be 0600")
    with open(path, encoding="utf-8") as f:
        return f.read().strip()


def host_from_environment(on_waiting: Callable[[str], None] = lambda _: None, timeout: float = 900.0) -> HostClient | None:
    """The host a Jupyter server (or the user) named in the environment, if any.

    A server's host that is not up yet (no browser asked for it) is asked for through the server's
    start socket (``$DATARUS_HOST_START``), and waited for: one host, one copy of the model, per server.
    """
    url = os.environ.get("DATARUS_HOST_URL")
    if not url:
        return None
    token_file = os.environ.get("DATARUS_HOST_TOKEN_FILE")
    token = _read_token_file(token_file) if token_file else os.environ.get("DATARUS_HOST_TOKEN", "")
    if url.startswith("unix:") and not _answers(url[len("unix:"):]):
        start = os.environ.get("DATARUS_HOST_START")
        if not start or not os.path.exists(start):
            return None  # a server that cannot be asked: the kernel starts a host of its own
        ask_server_for_host(start, token, on_waiting, timeout)
    return HostClient(url, token)


def _answers(path: str) -> bool:
    """Whether something listens on the unix socket ``path`` (a host that died leaves its file behind)."""
    if not os.path.exists(path):
        return False
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(5)
        probe.connect(path)
        return True
    except OSError:
        return False
    finally:
        probe.close()


def ask_server_for_host(start: str, token: str, on_waiting: Callable[[str], None], timeout: float) -> None:
    """Asks the Jupyter server to start its host (host.py, ``serve_start_requests``) and waits until it listens."""
    deadline = time.monotonic() + timeout
    on_waiting("the Jupyter server is starting its model host")
    shown = ""
    while True:
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            conn.settimeout(max(1.0, deadline - time.monotonic()))
            conn.connect(start)
            conn.sendall(f"{token}\n".encode("utf-8"))
            reply = conn.makefile("r", encoding="utf-8").readline().strip()
        except OSError as err:
            raise HostError(f"the Jupyter server's model host could not be asked for ({start}): {err}") from err
        finally:
            conn.close()
        verdict, _, why = reply.partition(" ")
        if verdict == "ready":
            return
        if verdict != "wait":
            raise HostError(f"the Jupyter server could not start its model host: {why or reply or 'no answer'}")
        if why != shown:
            on_waiting(why)
            shown = why
        if time.monotonic() > deadline:
            raise HostError(f"the Jupyter server's model host was still not up after {timeout:.0f} s: {why}")
        time.sleep(2)


class EmbeddedHost:
    """`datarus serve` as a child of this kernel, on a private unix socket."""

    def __init__(self, model: str | None, log: Callable[[str], None]) -> None:
        self._dir = tempfile.mkdtemp(prefix="datarus-kernel-host-")  # mode 0700
        self._socket = os.path.join(self._dir, "host.sock")
        token = secrets.token_urlsafe(32)
        command, env = _serve_command()
        # The same episode log as JupyterLab's and the CLI's ($DATARUS_EPISODES_FILE, else the Jupyter data dir).
        args = [*command, "serve", "--socket", self._socket, "--exit-with-stdin", "--episodes-file", runtime.default_episodes_file()]
        if model:
            args += ["--model", model]
        self._stderr: deque[str] = deque(maxlen=40)
        self._proc = subprocess.Popen(
            args,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env={**env, "DATARUS_HOST_TOKEN": token},
            text=True,
        )
        Thread(target=self._pump, daemon=True).start()
        atexit.register(self.stop)
        self.client = HostClient(f"unix:{self._socket}", token)
        self._wait_listening(log)

    def _pump(self) -> None:
        assert self._proc.stderr is not None
        for line in self._proc.stderr:
            self._stderr.append(line.rstrip())

    def _wait_listening(self, log: Callable[[str], None], timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        log("starting the model host")
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                time.sleep(0.1)
                tail = "\n".join(self._stderr) or "(no output)"
                self.stop()
                raise HostError(f"the model host exited at start (code {self._proc.returncode}): {tail}")
            if os.path.exists(self._socket):
                try:
                    self.client.get("status", timeout=10)
                    return
                except HostError:
                    pass
            time.sleep(0.1)
        self.stop()
        raise HostError(f"the model host did not answer within {timeout:.0f} s")

    @property
    def alive(self) -> bool:
        return self._proc.poll() is None

    def stop(self) -> None:
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(20)
            except subprocess.TimeoutExpired:
                self._proc.kill()
        shutil.rmtree(self._dir, ignore_errors=True)


def _serve_command() -> tuple[list[str], dict[str, str]]:
    """Node and the CLI that serves: a built checkout's, else the wheel's bundle with its runtime."""
    from .cli import _checkout_cli

    try:
        tools = runtime.find_node()
        checkout = _checkout_cli()
        if checkout is not None:
            return [tools.node, str(checkout)], dict(os.environ)
        if not runtime.is_installed():
            runtime.install_runtime(tools, lambda _: None)
        return [tools.node, str(runtime.host_entry(runtime.runtime_dir()))], runtime.host_env()
    except runtime.RuntimeUnavailable as err:
        raise HostError(str(err)) from err
