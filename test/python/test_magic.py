"""%%datarus without a host: its options, and how a step's code runs and is captured.

The capture runs in a real IPython shell (IPython's test shell, the one
IPython's own tests use): the code goes through run_cell in the user's
namespace and the outputs come back as nbformat outputs, which the host turns
into the observation (src/agent/observation.ts).
"""
from __future__ import annotations

import base64
import struct
import zlib

import pytest
from IPython.testing.globalipapp import start_ipython

from datarus_jupyterlab.capture import MAX_TEXT_CHARS, evaluate_silently, run_step
from datarus_jupyterlab.magic import parse_options, session_request
from datarus_jupyterlab.progress import Progress, _fence


@pytest.fixture(scope="module")
def shell():
    ip = start_ipython()
    ip.run_line_magic("load_ext", "datarus_jupyterlab")
    return ip


def test_options_as_the_cli_spells_them(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.csv").write_text("x\n1\n")
    (tmp_path / "b.csv").write_text("y\n2\n")
    args = parse_options("--max-steps 3 --data a.csv --data b.csv --approval ask --no-log --temperature 0.2 --model tiny --cell-timeout 5")
    body = session_request(args, "  How many rows?\n")
    assert body == {
        "question": "How many rows?",
        "approval": "ask",
        "log": False,
        "canAsk": False,
        "maxSteps": 3,
        "temperature": 0.2,
        "model": "tiny",
        "cellTimeoutSeconds": 5.0,
        "dataFiles": ["a.csv", "b.csv"],
    }


def test_defaults_log_and_run_steps_as_written():
    body = session_request(parse_options(""), "Which region sold most?")
    assert body == {"question": "Which region sold most?", "approval": "auto", "log": True, "canAsk": False}


def test_base_url_takes_the_api_key_from_the_environment(monkeypatch):
    monkeypatch.setenv("DATARUS_API_KEY", "sk-test")
    body = session_request(parse_options("--base-url http://127.0.0.1:9/v1"), "q")
    assert body["baseUrl"] == "http://127.0.0.1:9/v1" and body["apiKey"] == "sk-test"
    assert "apiKey" not in session_request(parse_options(""), "q")


@pytest.mark.parametrize(
    "line, question, message",
    [
        ("", "   ", "the question is empty"),
        ("--max-steps 0", "q", "--max-steps must be at least 1"),
        ("--temperature 3", "q", "--temperature must be between 0 and 2"),
        ("--data missing.csv", "q", "--data: missing.csv is not a file"),
    ],
)
def test_bad_options_say_what_is_wrong(line, question, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=message):
        session_request(parse_options(line), question)


def test_an_unknown_approval_is_refused():
    with pytest.raises(Exception):
        parse_options("--approval sometimes")


def test_grammar_file_lists_one_grammar_per_turn(tmp_path):
    turns = tmp_path / "turns.json"
    turns.write_text('["root ::= \\"a\\"", "root ::= \\"b\\""]')
    assert session_request(parse_options(f"--grammar {turns}"), "q")["grammars"] == ['root ::= "a"', 'root ::= "b"']


def test_help_is_the_magic_docstring_and_its_options(shell, capsys):
    shell.run_cell("%datarus?")
    shown = capsys.readouterr().out
    assert "Answer the question in the cell with the Datarus agent" in shown
    for option in ("--max-steps", "--approval", "--data", "--model", "--base-url", "--api-key", "--no-log", "--temperature"):
        assert option in shown


def test_a_step_runs_in_the_user_namespace_with_streams_and_result(shell):
    answer = run_step(shell, 'made_by_step = 41 + 1\nprint("hi")\nimport sys; print("warn", file=sys.stderr)\nmade_by_step', 30)
    assert shell.user_ns["made_by_step"] == 42
    assert answer["status"] == "ok"
    assert answer["outputs"] == [
        {"output_type": "stream", "name": "stdout", "text": "hi\n"},
        {"output_type": "stream", "name": "stderr", "text": "warn\n"},
        {"output_type": "execute_result", "data": {"text/plain": "42"}, "metadata": {}, "execution_count": answer["executionCount"]},
    ]
    # As if the user had typed it: in the history, and its result in Out.
    assert shell.user_ns["Out"][answer["executionCount"]] == 42
    assert "made_by_step = 41 + 1" in shell.user_ns["In"][answer["executionCount"]]


def test_consecutive_prints_merge_into_one_stream_output(shell):
    answer = run_step(shell, "for i in range(3):\n    print(i)", 30)
    assert answer["outputs"] == [{"output_type": "stream", "name": "stdout", "text": "0\n1\n2\n"}]


def test_an_error_comes_back_with_what_was_printed_before_it_and_its_traceback(shell):
    answer = run_step(shell, 'print("before")\n{}["missing"]', 30)
    assert answer["status"] == "error"
    assert answer["outputs"][0] == {"output_type": "stream", "name": "stdout", "text": "before\n"}
    error = answer["outputs"][1]
    assert error["output_type"] == "error" and error["ename"] == "KeyError" and error["evalue"] == "'missing'"
    assert any("missing" in line for line in error["traceback"])


def test_a_syntax_error_is_an_error(shell):
    answer = run_step(shell, "def broken(:\n    pass", 30)
    assert answer["status"] == "error"
    assert answer["outputs"][-1]["ename"] == "SyntaxError"


def test_a_step_past_its_time_limit_is_interrupted_and_the_shell_stays_usable(shell):
    answer = run_step(shell, "import time\nwhile True:\n    time.sleep(0.05)", 0.3)
    assert answer["status"] == "timeout"
    assert answer["outputs"][-1]["ename"] == "KeyboardInterrupt"
    assert run_step(shell, "1 + 1", 30)["status"] == "ok"


def _png(width: int, height: int) -> str:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + b"\x00\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return base64.b64encode(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")).decode()


def test_rich_displays_keep_every_representation_even_in_a_terminal_shell(shell):
    shell.user_ns["png_data"] = base64.b64decode(_png(3, 2))
    answer = run_step(shell, "from IPython.display import display, Image, HTML\ndisplay(HTML('<b>x</b>'))\ndisplay(Image(data=png_data))", 30)
    html, image = answer["outputs"]
    assert html["output_type"] == "display_data" and html["data"]["text/html"] == "<b>x</b>"
    assert image["data"]["image/png"].replace("\n", "") == _png(3, 2)


def test_clear_output_empties_what_was_captured(shell):
    answer = run_step(shell, "print('gone')\nfrom IPython.display import clear_output\nclear_output()\nprint('kept')", 30)
    assert answer["outputs"] == [{"output_type": "stream", "name": "stdout", "text": "kept\n"}]


def test_a_huge_output_is_cut_before_it_is_sent(shell):
    answer = run_step(shell, "print('x' * 3_000_000)", 30)
    text = answer["outputs"][0]["text"]
    assert len(text) < MAX_TEXT_CHARS + 100 and "characters not sent" in text


def test_the_shell_is_left_as_it_was(shell, capsys):
    before = (shell.__dict__.get("_showtraceback"), shell.display_pub, list(shell.display_formatter.active_types))
    run_step(shell, "print('captured')", 30)
    shell.run_cell("print('shown')")
    assert capsys.readouterr().out.strip().endswith("shown")
    assert (shell.__dict__.get("_showtraceback"), shell.display_pub, list(shell.display_formatter.active_types)) == before
    assert "write_format_data" not in shell.displayhook.__dict__


def test_silent_evaluation_leaves_no_trace(shell):
    count = shell.execution_count
    shell.user_ns["frame_like"] = [1, 2, 3]
    assert evaluate_silently(shell, "len(frame_like)") == "3"
    assert evaluate_silently(shell, "undefined_name") is None
    assert shell.execution_count == count


def test_progress_in_a_terminal_prints_steps_and_the_answer(capsys):
    progress = Progress(rich=False, max_steps=5)
    progress.event({"type": "thought", "step": 0, "text": "Count rows."})
    progress.event({"type": "step", "step": {"index": 0, "thought": "Count rows.", "code": "print(3)", "status": "ok", "observation": "3"}})
    progress.event({"type": "end", "episode": {"id": "e1", "status": "answered"}, "answer": "There are 3 rows.", "caution": "Caution: check it.", "logged": True})
    out = capsys.readouterr().out
    assert "step 1 of 5 · Count rows." in out
    assert "    print(3)" in out and "→ 3" in out
    assert "answer: There are 3 rows.\nCaution: check it.\nepisode e1 logged" in out


def test_progress_markdown_fences_survive_backticks_in_the_output():
    progress = Progress(rich=True, max_steps=5)
    progress._draw = lambda force=False: None  # no display here: only the text is checked
    progress.event({"type": "step", "step": {"index": 0, "thought": "t", "code": "print('```')", "status": "error", "observation": "```\nboom"}})
    text = progress.markdown()
    assert "step 1 of 5" in text
    assert _fence("```\nboom").startswith("````") and "````\n✗ error\n```\nboom\n````" in text


def test_a_jupyter_servers_host_is_named_to_its_kernels_with_the_token_in_a_private_file(tmp_path, monkeypatch):
    import logging
    import os
    import socket
    import stat

    from datarus_jupyterlab.host import HostProcess
    from datarus_jupyterlab.hostclient import host_from_environment

    host = HostProcess(node="node", host_dir=None, model=None, models_dir=None, manifests_dir=None, threads=None,
                       episodes_file=None, log_images="reference", startup_timeout=1, log=logging.getLogger("test"))
    env: dict[str, str] = {}
    host.export_to_kernels(env)
    try:
        token_file = env["DATARUS_HOST_TOKEN_FILE"]
        assert env["DATARUS_HOST_URL"] == f"unix:{host.socket_path}"
        assert stat.S_IMODE(os.stat(token_file).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(os.path.dirname(token_file)).st_mode) == 0o700
        assert host._token not in env.values()
        assert stat.S_ISSOCK(os.stat(env["DATARUS_HOST_START"]).st_mode)  # where kernels ask for the host
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("DATARUS_HOST_START")
        assert host_from_environment() is None  # not started, and no way to ask: the kernel starts its own
        open(host.socket_path, "w").close()
        assert host_from_environment() is None  # a file left behind is not a host
        os.remove(host.socket_path)
        listening = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listening.bind(host.socket_path)
        listening.listen(1)
        try:
            client = host_from_environment()
        finally:
            listening.close()
        assert client is not None and client.url == env["DATARUS_HOST_URL"] and client._token == host._token
    finally:
        import asyncio

        asyncio.run(host.stop())


def test_reflect_reads_the_cells_before_it_with_their_results(shell):
    from datarus_jupyterlab.magic import recent_cells

    shell.run_cell("reflected = 6 * 7", store_history=True)
    shell.run_cell("reflected", store_history=True)
    cells = recent_cells(shell, 2)
    assert [c["source"].strip() for c in cells] == ["reflected = 6 * 7", "reflected"]
    assert "outputs" not in cells[0]
    assert cells[1]["outputs"][0]["data"]["text/plain"] == "42"
