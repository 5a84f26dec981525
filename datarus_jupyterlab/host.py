"""The Node model host as a child of the Jupyter server.

The host is started lazily on the first request, listens on a unix socket in a
private folder (no TCP port), checks a random bearer token on every request,
is restarted when it has died, and stops with the server: on `stop()`, and by
itself when its stdin closes because the server process is gone.
"""
from __future__ import annotations

import asyncio
import hmac
import os
import secrets
import shutil
import socket
import tempfile
from collections import deque
from pathlib import Path
from typing import Any

import aiohttp

from . import runtime
from .crashguard import CrashLoopGuard

LOG_TAIL_LINES = 40
# After a failed runtime install, requests wait this long before it is tried again.
INSTALL_RETRY_SECONDS = 60.0


class HostUnavailable(Exception):
    """The host cannot be reached; the message says why and what to do. `expected`: a state that passes by
    itself (the runtime installing), not a fault to log."""

    def __init__(self, message: str, *, expected: bool = False) -> None:
        super().__init__(message)
        self.expected = expected


class HostProcess:
    def __init__(
        self,
        *,
        node: str,
        host_dir: Path | None,
        model: str | None,
        models_dir: str | None,
        manifests_dir: str | None,
        threads: int | None,
        gpu: str = "auto",
        episodes_file: str | None,
        log_images: str,
        startup_timeout: float,
        log: Any,
    ) -> None:
        self._node = node
        self._host_dir = host_dir
        self._model = model
        self._models_dir = models_dir
        self._manifests_dir = manifests_dir
        self._threads = threads
        self._guard = CrashLoopGuard(gpu)
        self._episodes_file = episodes_file
        self._log_images = log_images
        self._startup_timeout = startup_timeout
        self._log = log
        self._proc: asyncio.subprocess.Process | None = None
        self._dir: str | None = None
        self._token = secrets.token_urlsafe(32)
        self._lock = asyncio.Lock()
        self._session: aiohttp.ClientSession | None = None
        self._stderr_tail: deque[str] = deque(maxlen=LOG_TAIL_LINES)
        self.starts = 0
        self.last_exit: int | None = None
        self.last_error: str | None = None
        # The bundled host's runtime: installed on first use, in the background.
        self._install: asyncio.Future[Path] | None = None
        self._install_failed_at: float | None = None
        self.install_progress: float | None = None
        self.installed_runtime = False
        # Where this server's kernels ask for the host to be started (magic.py, before any browser did).
        self._start_socket: socket.socket | None = None
        self._start_server: asyncio.AbstractServer | None = None

    @property
    def socket_path(self) -> str | None:
        return os.path.join(self._dir, "host.sock") if self._dir else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    async def died(self, within: float = 2.0) -> bool:
        """Whether the host process is gone, waiting up to `within` seconds for its exit to be seen."""
        proc = self._proc
        if proc is None:
            return True
        try:
            await asyncio.wait_for(proc.wait(), within)
        except asyncio.TimeoutError:
            return False
        return True

    def state(self) -> dict[str, Any]:
        """What the server side knows, whether or not the host is up."""
        return {
            "running": self.running,
            "starts": self.starts,
            "restarts": max(0, self.starts - 1),
            "lastExitCode": self.last_exit,
            "lastError": self.last_error,
            # While the model runtime is being installed (first use of a pip install): 0..1.
            "runtimeInstall": None if self.install_progress is None else {"progress": self.install_progress},
            "runtimeInstalledNow": self.installed_runtime,
            "gpu": self._guard.gpu_arg(),
            "crashNote": self._guard.note,
        }

    def export_to_kernels(self, environ: "os._Environ[str] | dict[str, str]" = os.environ) -> None:
        """Names this host to the kernels the server starts (they inherit its environment), for `%%datarus`:
        the socket's address and a 0600 file holding the token, in the host's private folder. The token
        itself is never put in an environment or an argv."""
        if self._dir is None:
            self._dir = tempfile.mkdtemp(prefix="datarus-")  # mode 0700, kept across restarts of the host
        token_file = os.path.join(self._dir, "token")
        fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(self._token)
        environ["DATARUS_HOST_URL"] = f"unix:{self.socket_path}"
        environ["DATARUS_HOST_TOKEN_FILE"] = token_file
        # Bound now, served once the server's loop runs (serve_start_requests): a kernel that asks
        # early waits in the backlog instead of starting a host (and a copy of the model) of its own.
        start_path = os.path.join(self._dir, "start.sock")
        if self._start_socket is None:
            self._start_socket = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self._start_socket.bind(start_path)
            self._start_socket.listen(16)
            self._start_socket.setblocking(False)
        environ["DATARUS_HOST_START"] = start_path

    async def serve_start_requests(self) -> None:
        """Answers kernels that ask for the host (one line: the token) with ``ready``, ``wait <why>`` or ``error <why>``."""
        if self._start_socket is not None and self._start_server is None:
            self._start_server = await asyncio.start_unix_server(self._on_start_request, sock=self._start_socket)

    async def _on_start_request(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            token = (await asyncio.wait_for(reader.readline(), 10)).decode("utf-8", "replace").strip()
            if not hmac.compare_digest(token, self._token):
                reply = "error the token does not match this server's host"
            else:
                try:
                    await self.ensure_started()
                    reply = "ready"
                except HostUnavailable as err:
                    # The runtime still installing passes by itself: the kernel asks again.
                    reply = f"{'wait' if err.expected else 'error'} {' '.join(str(err).split())}"
            writer.write(f"{reply}\n".encode("utf-8"))
            await writer.drain()
        except (asyncio.TimeoutError, OSError):
            pass
        finally:
            writer.close()

    async def ensure_started(self) -> None:
        async with self._lock:
            if self.running:
                return
            if self._proc is not None:
                self.last_exit = self._proc.returncode
                self._guard.exited(self.last_exit)
                self._proc = None
                self._log.warning("Datarus host exited with code %s; restarting it", self.last_exit)
                await self._close_session()
            if self._guard.blocked:
                # A crash loop: fail at once instead of starting a host that will die again.
                self.last_error = self._guard.note
                raise HostUnavailable(self._guard.note or "The model host is not restarted.")
            try:
                await self._start()
                self.last_error = None
            except HostUnavailable as err:
                self.last_error = str(err)
                raise

    async def _start(self) -> None:
        command, cwd, env = await self._command()
        if self._dir is None:
            self._dir = tempfile.mkdtemp(prefix="datarus-")  # mode 0700: only this user reaches the socket
        # Under Jupyter a model that cannot load leaves the host up: the status bar says why
        # and the Models dialog can load another one.
        args = [*command, "serve", "--socket", self.socket_path, "--exit-with-stdin", "--stay-up-on-load-error"]
        if self._model:
            args += ["--model", self._model]
        if self._models_dir:
            args += ["--models-dir", self._models_dir]
        if self._manifests_dir:
            args += ["--manifests-dir", self._manifests_dir]
        if self._threads:
            args += ["--threads", str(self._threads)]
        args += ["--gpu", self._guard.gpu_arg() or "cpu"]
        if self._episodes_file:
            args += ["--episodes-file", self._episodes_file, "--log-images", self._log_images]
        env = {**env, "DATARUS_HOST_TOKEN": self._token}
        self._stderr_tail.clear()
        self._proc = await asyncio.create_subprocess_exec(
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            cwd=cwd,
        )
        self.starts += 1
        self._guard.started()
        asyncio.ensure_future(self._pump_stderr(self._proc))
        self._log.info("Datarus host started (pid %s) on %s", self._proc.pid, self.socket_path)
        await self._wait_ready()

    async def _command(self) -> tuple[list[str], str, dict[str, str]]:
        """Node and the host's entry: a source checkout's build, else the bundled host and its runtime."""
        if self._host_dir is not None:
            entry = self._checkout_entry(self._host_dir)
            node = shutil.which(self._node)
            if node is None:
                raise HostUnavailable(
                    f"Node.js was not found (looked for '{self._node}' on PATH). Install Node.js 20 or newer, "
                    "or set c.DatarusLabApp.node to its path."
                )
            return [node, str(entry)], str(self._host_dir), dict(os.environ)
        try:
            tools = await asyncio.to_thread(runtime.find_node, self._node)
        except runtime.RuntimeUnavailable as err:
            raise HostUnavailable(str(err)) from err
        folder = await self._runtime(tools)
        try:
            entry = await asyncio.to_thread(runtime.host_entry, folder)
        except (runtime.RuntimeUnavailable, OSError) as err:
            raise HostUnavailable(str(err)) from err
        return [tools.node, str(entry)], str(folder), runtime.host_env()

    async def _runtime(self, tools: runtime.NodeTools) -> Path:
        """The installed runtime folder. When it is missing the install starts in the
        background and requests are answered "installing … N%" until it is done."""
        if self._install is None and runtime.is_installed():
            return runtime.runtime_dir()
        loop = asyncio.get_running_loop()
        if self._install is None:
            if self._install_failed_at is not None and loop.time() - self._install_failed_at < INSTALL_RETRY_SECONDS:
                raise HostUnavailable(self.last_error or "Installing the model runtime failed.")
            self._log.info("Datarus: installing the model runtime into %s (once; needs the npm registry)", runtime.runtime_dir())
            self.install_progress = 0.0
            self._install = asyncio.ensure_future(asyncio.to_thread(runtime.install_runtime, tools, self._set_install_progress))
        if not self._install.done():
            raise HostUnavailable(f"installing the model runtime {round((self.install_progress or 0) * 100)}%", expected=True)
        install, self._install = self._install, None
        self.install_progress = None
        try:
            folder = install.result()
        except (runtime.RuntimeUnavailable, OSError) as err:
            self._install_failed_at = loop.time()
            raise HostUnavailable(str(err)) from err
        self.installed_runtime = True
        self._log.info("Datarus: the model runtime is installed in %s", folder)
        return folder

    def _set_install_progress(self, progress: float) -> None:
        self.install_progress = progress  # called from the installer's thread; a float is set atomically

    @staticmethod
    def _checkout_entry(host_dir: Path) -> Path:
        entry = host_dir / "lib-node" / "cli" / "index.js"
        if not entry.exists():
            raise HostUnavailable(f"The Datarus model host is not built: {entry} is missing. Run `npm run build:node` in {host_dir}.")
        return entry

    async def _pump_stderr(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stderr is not None
        async for raw in proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip()
            self._stderr_tail.append(line)
            self._guard.saw_line(line)
            self._log.info("[datarus host] %s", line)

    async def _wait_ready(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._startup_timeout
        while loop.time() < deadline:
            if self._proc is None or self._proc.returncode is not None:
                await asyncio.sleep(0.05)  # let the last stderr lines arrive
                code = self._proc.returncode if self._proc else None
                self.last_exit = code
                tail = "\n".join(self._stderr_tail) or "(no output)"
                raise HostUnavailable(f"The Datarus model host exited at start (code {code}): {tail}")
            if os.path.exists(self.socket_path):
                try:
                    await self.request("GET", "/api/status")
                    return
                except (aiohttp.ClientError, OSError):
                    pass
            await asyncio.sleep(0.1)
        await self.stop()
        raise HostUnavailable(f"The Datarus model host did not answer within {self._startup_timeout:.0f} s.")

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.UnixConnector(path=self.socket_path),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
            )
        return self._session

    async def open(self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> aiohttp.ClientResponse:
        """Sends a request to the host and returns the response unread, for streaming."""
        request_headers = {**(headers or {}), "Authorization": f"Bearer {self._token}"}
        return await self._client().request(method, f"http://datarus-host{path}", data=body, headers=request_headers)

    async def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        response = await self.open(method, path, body, {"Content-Type": "application/json"} if body else None)
        async with response:
            return response.status, await response.read()

    async def stop(self) -> None:
        proc = self._proc
        if self._start_server is not None:
            self._start_server.close()
            self._start_server = None
        if self._start_socket is not None:
            self._start_socket.close()
            self._start_socket = None
        await self._close_session()
        if proc is not None and proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except asyncio.TimeoutError:
                proc.kill()
                await proc.wait()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    async def _close_session(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
