"""The server extension's HTTP side (datarus_jupyterlab/handlers.py, host.py): Jupyter's auth and XSRF in front
of the host, the proxy's forwarding and streaming, what a client sees when the host dies, and the crash guard.

The host is a stand-in (fakehost/lib-node/cli/index.js, started by the real HostProcess as a checkout's host):
it listens on the private unix socket and checks the bearer token exactly as the real one does.
"""
from __future__ import annotations

import json
import os
import re

import pytest
from tornado.httpclient import HTTPClientError


def datarus_app(jp_serverapp):
    apps = jp_serverapp.extension_manager.extension_apps["datarus_jupyterlab"]
    return next(iter(apps))


async def test_a_request_without_jupyters_token_is_refused(jp_fetch):
    with pytest.raises(HTTPClientError) as refused:
        await jp_fetch("datarus", "api", "status", headers={"Authorization": "token not-the-token"})
    assert refused.value.code == 403
    with pytest.raises(HTTPClientError) as anonymous:
        await jp_fetch("datarus", "host-state", headers={"Authorization": ""})
    assert anonymous.value.code == 403


async def test_a_cookie_login_must_send_the_xsrf_token_to_post(jp_fetch, jp_serverapp):
    # The browser's way in: a login cookie, then POSTs that must carry the _xsrf value.
    token = jp_serverapp.identity_provider.token
    login = await jp_fetch("", params={"token": token}, headers={"Authorization": ""}, follow_redirects=False, raise_error=False)
    cookies = "; ".join(c.split(";", 1)[0] for c in login.headers.get_list("Set-Cookie"))
    assert "username-" in cookies
    with pytest.raises(HTTPClientError) as refused:
        await jp_fetch("datarus", "api", "echo", method="POST", body="{}", headers={"Authorization": "", "Cookie": cookies})
    assert refused.value.code == 403
    xsrf = re.search(r"_xsrf=([^;]+)", cookies)
    assert xsrf, cookies
    ok = await jp_fetch(
        "datarus", "api", "echo", method="POST", body="{}", headers={"Authorization": "", "Cookie": cookies, "X-XSRFToken": xsrf.group(1)}
    )
    assert ok.code == 201


async def test_the_host_is_started_on_first_use_and_gets_its_token_from_the_environment(jp_fetch, jp_serverapp):
    state = json.loads((await jp_fetch("datarus", "host-state")).body)
    assert state["running"] is False and state["starts"] == 0  # the state handler never starts it
    status = json.loads((await jp_fetch("datarus", "api", "status")).body)
    assert status["state"] == "ready"  # the stand-in answered, so the bearer token reached it
    host = datarus_app(jp_serverapp).host
    with open(f"/proc/{status['pid']}/cmdline", "rb") as f:
        argv = f.read().decode()
    assert host._token not in argv
    assert "--socket" in argv and "--exit-with-stdin" in argv
    state = json.loads((await jp_fetch("datarus", "host-state")).body)
    assert state["running"] is True and state["starts"] == 1


async def test_the_proxy_forwards_method_body_status_and_headers(jp_fetch):
    response = await jp_fetch("datarus", "api", "echo", method="POST", body='{"x": 1}', headers={"Content-Type": "application/json"})
    assert response.code == 201
    assert response.headers["X-Fake-Host"] == "yes"
    assert json.loads(response.body) == {"method": "POST", "body": '{"x": 1}', "contentType": "application/json"}
    missing = await jp_fetch("datarus", "api", "no-such-route", raise_error=False)
    assert missing.code == 404
    assert json.loads(missing.body)["error"]["code"] == "not_found"


async def test_an_event_stream_is_forwarded_event_by_event(jp_fetch):
    chunks: list[bytes] = []
    response = await jp_fetch("datarus", "api", "generate", method="POST", body="{}", streaming_callback=chunks.append)
    assert response.code == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    body = b"".join(chunks).decode()
    events = [block for block in body.split("\n\n") if block]
    assert [e.split("\n")[0] for e in events] == ["event: chunk"] * 3 + ["event: done"]
    assert json.loads(events[-1].split("data: ", 1)[1]) == {"text": "one two three", "stopReason": "eos"}


async def test_a_host_that_dies_mid_stream_ends_it_with_an_error_and_is_restarted(jp_fetch):
    chunks: list[bytes] = []
    response = await jp_fetch("datarus", "api", "die-mid-stream", method="POST", body="{}", streaming_callback=chunks.append)
    body = b"".join(chunks).decode()
    events = [block for block in body.split("\n\n") if block]
    assert events[0] == 'event: chunk\ndata: {"text":"partial "}'
    assert body.count("event: chunk") == 1  # half an event is never forwarded
    assert events[-1].startswith("event: error")
    assert json.loads(events[-1].split("data: ", 1)[1])["code"] == "host_died"
    assert response.code == 200
    # The next request starts a new host.
    status = json.loads((await jp_fetch("datarus", "api", "status")).body)
    assert status["state"] == "ready"
    state = json.loads((await jp_fetch("datarus", "host-state")).body)
    assert state["restarts"] == 1 and state["lastExitCode"] == 1


async def test_an_openai_stream_gets_an_error_openai_clients_raise_on(jp_fetch):
    chunks: list[bytes] = []
    await jp_fetch("datarus", "v1", "die-mid-stream", method="POST", body="{}", streaming_callback=chunks.append)
    last = [block for block in b"".join(chunks).decode().split("\n\n") if block][-1]
    assert json.loads(last.removeprefix("data: "))["error"]["code"] == "host_died"


async def test_a_json_body_cut_by_a_dying_host_is_never_delivered_as_complete(jp_fetch):
    with pytest.raises(Exception) as broken:
        await jp_fetch("datarus", "api", "die-mid-json")
    # The client sees a broken connection (599 or a closed stream), not a 200 with half a body.
    assert not (isinstance(broken.value, HTTPClientError) and broken.value.code == 200)


@pytest.mark.parametrize("datarus_config", [{"host_dir": "/nonexistent-checkout", "startup_timeout": 5.0}])
async def test_a_host_that_is_not_built_is_a_503_that_says_what_to_run(jp_fetch):
    response = await jp_fetch("datarus", "api", "status", raise_error=False)
    assert response.code == 503
    body = json.loads(response.body)
    assert body["error"]["code"] == "host_unavailable"
    assert "npm run build:node" in body["error"]["message"]
    assert body["host"]["running"] is False


@pytest.fixture
def crashing_host(monkeypatch):
    monkeypatch.setenv("FAKE_HOST_MODE", "crash-at-start")


@pytest.mark.parametrize("datarus_config", [{"host_dir": str(__import__("conftest").FAKE_HOST), "gpu": "auto", "startup_timeout": 10.0}])
async def test_a_host_that_crashes_at_start_moves_down_the_backend_chain(crashing_host, jp_fetch):
    first = await jp_fetch("datarus", "api", "status", raise_error=False)
    assert first.code == 503
    assert "exited at start (code 134)" in json.loads(first.body)["error"]["message"]
    # A death is counted when the next request finds the host gone: the third start is the first without CUDA.
    for _ in range(2):
        again = await jp_fetch("datarus", "api", "status", raise_error=False)
        assert again.code == 503
    state = json.loads((await jp_fetch("datarus", "host-state")).body)
    assert state["gpu"] == "cuda12,vulkan,cpu"
    assert "died 2 times while starting on CUDA" in state["crashNote"]
    assert state["starts"] == 3


async def test_the_runtime_installs_503_is_no_error_in_the_log_but_a_real_failure_is(jp_fetch, jp_serverapp, monkeypatch, caplog):
    host = datarus_app(jp_serverapp).host
    from datarus_jupyterlab.host import HostUnavailable

    failure = HostUnavailable("installing the model runtime 40%", expected=True)

    async def unavailable():
        raise failure

    monkeypatch.setattr(host, "ensure_started", unavailable)
    caplog.set_level("DEBUG")
    installing = await jp_fetch("datarus", "api", "status", raise_error=False)
    assert installing.code == 503
    assert json.loads(installing.body)["error"]["message"] == "installing the model runtime 40%"
    logged = [r for r in caplog.records if "/datarus/api/status" in r.getMessage()]
    assert logged and all(r.levelname == "DEBUG" for r in logged)
    assert not [r for r in caplog.records if r.levelname == "ERROR"]

    caplog.clear()
    failure = HostUnavailable("Installing the model runtime failed.")
    broken = await jp_fetch("datarus", "api", "status", raise_error=False)
    assert broken.code == 503
    assert [r.levelname for r in caplog.records if "/datarus/api/status" in r.getMessage()] == ["ERROR"]


async def test_a_kernel_that_asks_before_any_browser_gets_the_servers_host_started_once(jp_fetch, jp_serverapp):
    """What %%datarus does in a kernel of this server whose host is not up: ask the server, never start its own."""
    import asyncio

    from datarus_jupyterlab.hostclient import host_from_environment

    state = json.loads((await jp_fetch("datarus", "host-state")).body)
    assert state["running"] is False and state["starts"] == 0
    notes: list[str] = []
    # The kernel's side is synchronous (the standard library); the server's loop must keep running meanwhile.
    client = await asyncio.to_thread(host_from_environment, notes.append, 60)
    assert client is not None and client.url == os.environ["DATARUS_HOST_URL"]
    assert notes == ["the Jupyter server is starting its model host"]
    status = await asyncio.to_thread(client.get, "status")
    assert status["state"] == "ready"  # the stand-in, reached with the server's token
    again = await asyncio.to_thread(host_from_environment, notes.append, 60)
    assert again is not None and len(notes) == 1  # up already: nobody is asked
    state = json.loads((await jp_fetch("datarus", "host-state")).body)
    assert state["running"] is True and state["starts"] == 1


async def test_the_start_socket_refuses_a_wrong_token(jp_serverapp):
    import asyncio

    from datarus_jupyterlab.hostclient import HostError, ask_server_for_host

    with pytest.raises(HostError, match="token does not match"):
        await asyncio.to_thread(ask_server_for_host, os.environ["DATARUS_HOST_START"], "not-the-token", lambda _: None, 30)
    assert datarus_app(jp_serverapp).host.running is False
