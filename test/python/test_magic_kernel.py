"""%%datarus on the real path: a real ipykernel (this checkout's .venv), the
embedded host the magic starts (this checkout's build), and the fixture model
forced through per-turn grammars. The variables the steps make are in the
kernel's namespace afterwards, and the episode is in the episode log.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from jupyter_client.manager import start_new_kernel

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "models" / "cache" / "datarus-test-tiny.gguf"
SALES = ROOT / "test" / "fixtures" / "dabench" / "sales.csv"

pytestmark = pytest.mark.skipif(
    not (ROOT / "lib-node" / "host" / "http" / "routes" / "agent.js").exists() or not FIXTURE.exists(),
    reason="needs the built host (npm run build:node) and the fixture model (models/cache)",
)


def exactly(text: str) -> str:
    return f"root ::= {json.dumps(text)}"


def step(thought: str, code: str) -> str:
    return exactly(f"<step>\n<thought>{thought}</thought>\n<action>python_executor</action>\n<action_input>\n{code}\n</action_input>\n</step>")


def answer(thought: str, text: str) -> str:
    return exactly(f"<stop_analysis>\n<thought>{thought}</thought>\n<answer>{text}</answer>\n</stop_analysis>")


TURNS = [
    # An error first (no df yet), which the next step recovers from.
    step("Sum North units.", "print(df[df.region == 'North'].units.sum())"),
    step("Load the file first.", "import pandas as pd\ndf = pd.read_csv('sales.csv')\nnorth_units = int(df[df.region == 'North'].units.sum())\nprint(north_units)"),
    answer("It printed 12.", "North sold 12 units."),
]


@pytest.fixture()
def folder(tmp_path):
    """The kernel's working folder with the data and the forced turns; the environment its kernels get."""
    shutil.copy(SALES, tmp_path / "sales.csv")
    (tmp_path / "turns.json").write_text(json.dumps(TURNS))
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),  # this checkout's package, before an editable install of another
        "DATARUS_HOST_DIR": str(ROOT),
        "DATARUS_MODELS_DIR": str(ROOT / "models" / "cache"),
        "DATARUS_MODEL": "datarus-test-tiny",
        "DATARUS_EPISODES_FILE": str(tmp_path / "episodes.jsonl"),
    }
    env.pop("DATARUS_HOST_URL", None)
    return tmp_path, env


@pytest.fixture()
def kernel(folder):
    path, env = folder
    km, kc = start_new_kernel(kernel_name="python3", env=env, cwd=str(path))
    kc.kernel_manager = km  # the interrupt test interrupts the kernel as a frontend's stop button does
    try:
        yield kc, path
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=False)


def execute(kc, code: str, timeout: float = 600) -> tuple[dict, list[dict]]:
    messages: list[dict] = []
    reply = kc.execute_interactive(code, timeout=timeout, output_hook=messages.append, allow_stdin=False)
    return reply, messages


def value(kc, expression: str) -> str | None:
    reply = kc.execute_interactive("", user_expressions={"v": expression}, timeout=60, output_hook=lambda m: None)
    result = reply["content"]["user_expressions"]["v"]
    return result["data"]["text/plain"] if result["status"] == "ok" else None


def last_display(messages: list[dict]) -> str:
    shown = [m["content"]["data"]["text/plain"] for m in messages if m["msg_type"] in ("display_data", "update_display_data")]
    return shown[-1] if shown else ""


def test_a_forced_two_step_episode_leaves_its_variables_in_the_namespace_and_in_the_log(kernel):
    kc, folder = kernel
    reply, _ = execute(kc, "%load_ext datarus_jupyterlab")
    assert reply["content"]["status"] == "ok"
    reply, messages = execute(kc, "%%datarus --data sales.csv --grammar turns.json --max-steps 5\nHow many units did North sell?")
    assert reply["content"]["status"] == "ok"
    shown = last_display(messages)
    assert "step 2 of 5" in shown
    assert "**Step 1** · Sum North units." in shown and "NameError" in shown
    assert "```python\nimport pandas as pd" in shown
    assert "**Answer.** North sold 12 units." in shown
    # As if the user had typed the steps: their variables are the kernel's now.
    assert value(kc, "north_units") == "12"
    assert value(kc, "df.shape") == "(12, 3)"
    # The model read the file's columns first, gathered in this kernel like Analyze does.
    episodes = [json.loads(line) for line in (folder / "episodes.jsonl").read_text().splitlines() if line.strip()]
    episode = next(e for e in episodes if e.get("type", "episode") == "episode" or "steps" in e)
    record = episode.get("episode", episode)
    assert record["status"] == "answered"
    assert [s["status"] for s in record["steps"]] == ["error", "ok"]
    assert "- 'sales.csv': 12 rows; columns 'region': " in record["context"] and "'units': int64" in record["context"]

    # A second cell reuses the host; --no-log keeps its episode out of the log.
    (folder / "turns.json").write_text(json.dumps([answer("It printed 12 before.", "North sold 12 units.")]))
    lines = len((folder / "episodes.jsonl").read_text().splitlines())
    reply, messages = execute(kc, "%%datarus --grammar turns.json --no-log\nAnd again?")
    assert reply["content"]["status"] == "ok"
    assert "Answer." in last_display(messages)
    assert len((folder / "episodes.jsonl").read_text().splitlines()) == lines


def test_nested_datarus_inside_a_step_is_refused_and_the_kernel_stays_usable(kernel):
    kc, folder = kernel
    nested = "get_ipython().run_cell_magic('datarus', '', 'inner question')"
    (folder / "turns.json").write_text(json.dumps([step("Nest.", nested), answer("Done.", "done")]))
    execute(kc, "%load_ext datarus_jupyterlab")
    reply, messages = execute(kc, "%%datarus --grammar turns.json --no-log --max-steps 2\nNest yourself")
    assert reply["content"]["status"] == "ok"
    assert "cannot run inside a step of another %%datarus episode" in last_display(messages)
    assert value(kc, "1 + 1") == "2"


def test_an_interrupt_mid_generation_stops_the_episode_at_once_and_the_kernel_stays_usable(kernel):
    kc, folder = kernel
    # Every turn a long thought that never closes: the interrupt lands while the model writes.
    (folder / "turns.json").write_text(json.dumps(['root ::= "<step>\\n<thought>" [a-z ]+']))
    execute(kc, "%load_ext datarus_jupyterlab")
    msg_id = kc.execute("%%datarus --grammar turns.json --no-log --max-steps 5\nThink for a long time")
    interrupted = False
    shown = ""
    while True:
        msg = kc.get_iopub_msg(timeout=600)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] in ("display_data", "update_display_data"):
            shown = msg["content"]["data"]["text/plain"]
            if not interrupted and "_writing…_" in shown:
                kc.kernel_manager.interrupt_kernel()
                interrupted = True
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            break
    reply = kc.get_shell_msg(timeout=60)
    assert interrupted
    assert reply["content"]["status"] == "ok"  # the magic handled the interrupt: no traceback, one interrupt was enough
    assert "stopped" in shown
    assert value(kc, "1 + 1") == "2"


def test_jupyter_execute_answers_a_notebook_whose_cell_is_datarus(folder):
    """What VS Code and papermill do: ipykernel driven directly, with no JupyterLab and no Jupyter server."""
    folder, env = folder
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell("%load_ext datarus_jupyterlab"),
        nbformat.v4.new_code_cell("%%datarus --data sales.csv --grammar turns.json\nHow many units did North sell?"),
        nbformat.v4.new_code_cell("print(north_units)"),
    ]
    nbformat.write(notebook, folder / "demo.ipynb")
    jupyter = Path(sys.executable).parent / "jupyter"
    subprocess.run([str(jupyter), "execute", "--inplace", "--timeout=600", "demo.ipynb"], cwd=folder, env=env, check=True, capture_output=True)
    done = nbformat.read(folder / "demo.ipynb", as_version=4)
    shown = "".join(o.get("data", {}).get("text/plain", "") for o in done.cells[1].outputs)
    assert "**Answer.** North sold 12 units." in shown
    assert done.cells[2].outputs[0]["text"] == "12\n"


def test_reflect_on_the_last_cell_through_the_host(kernel):
    kc, folder = kernel
    (folder / "reflect.gbnf").write_text(exactly("<think>It adds two numbers.</think>The total is 42."))
    execute(kc, "%load_ext datarus_jupyterlab")
    execute(kc, "total = 40 + 2\ntotal")
    reply, messages = execute(kc, "%datarus_reflect --grammar reflect.gbnf")
    assert reply["content"]["status"] == "ok"
    shown = last_display(messages)
    assert "**Reflection.** The total is 42." in shown and "It adds two numbers." in shown


def test_approval_ask_is_answered_through_stdin(kernel):
    kc, folder = kernel
    execute(kc, "%load_ext datarus_jupyterlab")
    prompts: list[str] = []

    def answer_prompt(msg: dict) -> None:
        prompts.append(msg["content"]["prompt"])
        kc.input("s" if len(prompts) == 1 else "a")  # skip the first step, allow the rest

    reply = kc.execute_interactive(
        "%%datarus --data sales.csv --grammar turns.json --approval ask --no-log\nHow many units did North sell?",
        timeout=600, output_hook=lambda m: None, allow_stdin=True, stdin_hook=answer_prompt,
    )
    assert reply["content"]["status"] == "ok"
    assert len(prompts) == 2 and prompts[0].startswith("Step 1: run this code?")
    assert value(kc, "north_units") == "12"  # step 2 ran after "allow the rest"
    assert value(kc, "'df' in dir()") == "True"


FETCH = "import urllib.request\nurllib.request.urlopen('http://127.0.0.1:9/', timeout=5)"


def logged_episode(folder: Path) -> dict:
    lines = [json.loads(line) for line in (folder / "episodes.jsonl").read_text().splitlines() if line.strip()]
    record = [line for line in lines if "steps" in line.get("episode", line)][-1]
    return record.get("episode", record)


def test_under_auto_a_flagged_step_is_refused_where_nobody_can_be_asked_and_the_model_is_told_why(kernel):
    """`jupyter execute` allows no stdin: a step the code policy flags is not run, as headless `--approve risky`."""
    kc, folder = kernel
    (folder / "turns.json").write_text(json.dumps([step("Fetch it.", FETCH), step("Use the file.", "fallback = 7\nprint(fallback)"), answer("It printed 7.", "7")]))
    execute(kc, "%load_ext datarus_jupyterlab")
    reply, messages = execute(kc, "%%datarus --grammar turns.json --max-steps 3\nFetch the page")
    assert reply["content"]["status"] == "ok"
    record = logged_episode(folder)
    first, second = record["steps"]
    assert first["status"] == "skipped" and first["refused"] is True
    assert [r["category"] for r in first["risks"]] == ["network"]
    assert "the code policy refused this step" in first["observation"] and "allows no input()" in first["observation"]
    assert second["status"] == "ok" and "risks" not in second
    # Not run: the import never reached the namespace; the unflagged step did.
    assert value(kc, "'urllib' in dir()") == "False"
    assert value(kc, "fallback") == "7"
    assert "flagged by the code policy (refused)" in last_display(messages)


def test_under_auto_a_flagged_step_waits_for_the_user_through_stdin(kernel):
    kc, folder = kernel
    (folder / "turns.json").write_text(json.dumps([step("Fetch it.", FETCH), step("Go on.", "after = 1"), answer("Done.", "done")]))
    execute(kc, "%load_ext datarus_jupyterlab")
    prompts: list[str] = []

    def run_it(msg: dict) -> None:
        prompts.append(msg["content"]["prompt"])
        kc.input("r")

    shown: list[dict] = []
    reply = kc.execute_interactive(
        "%%datarus --grammar turns.json --max-steps 3\nFetch the page",
        timeout=600, output_hook=shown.append, allow_stdin=True, stdin_hook=run_it,
    )
    assert reply["content"]["status"] == "ok"
    assert prompts == ["Step 1: run this code? [r]un / [s]kip / [a]llow the rest / s[t]op: "]  # the unflagged step ran unasked
    assert any("needs your approval: the code policy found that it opens" in (m["content"].get("data", {}).get("text/plain", "")) for m in shown)
    first, second = logged_episode(folder)["steps"]
    # Approved: it ran (and failed to connect), its finding kept in the step.
    assert first["status"] == "error" and "refused" not in first and [r["category"] for r in first["risks"]] == ["network"]
    assert second["status"] == "ok"
    assert value(kc, "'urllib' in dir()") == "True"


def test_allow_the_rest_never_covers_a_flagged_step(kernel):
    kc, folder = kernel
    (folder / "turns.json").write_text(json.dumps([step("Start.", "start = 1"), step("Fetch it.", FETCH), answer("Done.", "done")]))
    execute(kc, "%load_ext datarus_jupyterlab")
    prompts: list[str] = []

    def answer_prompt(msg: dict) -> None:
        prompts.append(msg["content"]["prompt"])
        kc.input("a" if len(prompts) == 1 else "s")  # allow the rest, then skip the flagged step all the same

    reply = kc.execute_interactive(
        "%%datarus --grammar turns.json --approval ask --max-steps 3\nFetch the page",
        timeout=600, output_hook=lambda m: None, allow_stdin=True, stdin_hook=answer_prompt,
    )
    assert reply["content"]["status"] == "ok"
    assert [p.split(":")[0] for p in prompts] == ["Step 1", "Step 2"]
    first, second = logged_episode(folder)["steps"]
    assert first["status"] == "ok"
    assert second["status"] == "skipped" and "refused" not in second and second["risks"][0]["category"] == "network"
    assert value(kc, "'urllib' in dir()") == "False"
