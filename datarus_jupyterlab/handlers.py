"""HTTP handlers: `/datarus/api/*` forwarded to the host, behind Jupyter's authentication."""
from __future__ import annotations

import json

import aiohttp
import tornado.iostream
import tornado.web
from jupyter_server.base.handlers import APIHandler

from .host import HostProcess, HostUnavailable

# Hop-by-hop and length headers are the proxy's own business.
_SKIPPED_HEADERS = {"connection", "transfer-encoding", "content-length", "keep-alive", "server", "date"}


class HostProxyHandler(APIHandler):
    """Forwards a request to the model host and streams its answer back as it comes."""

    def initialize(self, host: HostProcess, prefix: str) -> None:
        self.host = host
        self.prefix = prefix
        self._upstream: aiohttp.ClientResponse | None = None

    @tornado.web.authenticated
    async def get(self, path: str) -> None:
        await self._forward("GET", path)

    @tornado.web.authenticated
    async def post(self, path: str) -> None:
        await self._forward("POST", path)

    @tornado.web.authenticated
    async def delete(self, path: str) -> None:
        await self._forward("DELETE", path)

    def on_connection_close(self) -> None:
        # The browser went away: closing the upstream response makes the host abort generation.
        if self._upstream is not None:
            self._upstream.close()

    async def _forward(self, method: str, path: str) -> None:
        headers = {"Content-Type": self.request.headers.get("Content-Type", "application/json")}
        for attempt in range(2):
            try:
                await self.host.ensure_started()
                self._upstream = await self.host.open(method, f"{self.prefix}/{path}", self.request.body or None, headers)
                break
            except HostUnavailable as err:
                return self._fail(503, "host_unavailable", str(err))
            except (aiohttp.ClientError, OSError) as err:
                # A host that just died refuses the connection before its exit is seen: start a new one, once.
                if attempt == 0 and await self.host.died():
                    continue
                return self._fail(502, "host_unreachable", f"The Datarus model host did not answer: {err}. It will be restarted on the next request.")
        async with self._upstream as upstream:
            self.set_status(upstream.status)
            for name, value in upstream.headers.items():
                if name.lower() not in _SKIPPED_HEADERS:
                    self.set_header(name, value)
            event_stream = upstream.headers.get("Content-Type", "").startswith("text/event-stream")
            # Events are forwarded whole: a host dying mid-event must not leave half of one behind.
            pending = b""
            try:
                async for chunk in upstream.content.iter_any():
                    if event_stream:
                        pending += chunk
                        end = pending.rfind(b"\n\n") + 2
                        chunk, pending = pending[:end], pending[end:]
                    if chunk:
                        self.write(chunk)
                        await self.flush()
            except tornado.iostream.StreamClosedError:
                return  # the client went away: nobody is left to tell
            except aiohttp.ClientError as err:
                return await self._upstream_broke(event_stream, err)
        self.finish()

    async def _upstream_broke(self, event_stream: bool, err: Exception) -> None:
        """The host died mid-answer: make sure the client sees an error, never a short answer that looks complete."""
        message = f"The Datarus model host stopped in the middle of the answer ({err or type(err).__name__}); the text so far is incomplete."
        if not event_stream:
            # A cut JSON body cannot carry an error: drop the connection so the client sees one.
            self.request.connection.close()
            return
        if self.prefix == "/v1":
            # OpenAI clients raise on a data event that carries "error".
            error = {"error": {"message": message, "type": "server_error", "code": "host_died"}}
            self.write(f"data: {json.dumps(error)}\n\n")
        else:
            self.write(f"event: error\ndata: {json.dumps({'code': 'host_died', 'message': message})}\n\n")
        try:
            await self.flush()
        except tornado.iostream.StreamClosedError:
            return
        self.finish()

    def _fail(self, status: int, code: str, message: str) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"error": {"code": code, "message": message}, "host": self.host.state()}))


class HostStateHandler(APIHandler):
    """What the server knows of the host without starting it: running, restarts, last error."""

    def initialize(self, host: HostProcess) -> None:
        self.host = host

    @tornado.web.authenticated
    def get(self) -> None:
        self.finish(json.dumps(self.host.state()))
