"""The runtime installer (datarus_jupyterlab/runtime.py): two servers installing at once run npm once."""
from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

from datarus_jupyterlab import runtime

# A stand-in for `npm ci`: slow enough for the second installer to arrive while it runs; counts its runs.
FAKE_NPM = """
import json, pathlib, sys, time
count = pathlib.Path(sys.argv[1])
count.write_text(str(int(count.read_text() or 0) + 1) if count.exists() else "1")
time.sleep(1.0)
package = pathlib.Path("node_modules/node-llama-cpp")
package.mkdir(parents=True)
(package / "package.json").write_text(json.dumps({"name": "node-llama-cpp"}))
"""


def test_concurrent_installs_run_npm_once_and_share_the_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "data"))
    script = tmp_path / "fake_npm.py"
    script.write_text(FAKE_NPM)
    count = tmp_path / "npm-runs"
    tools = runtime.NodeTools(node=sys.executable, npm=(sys.executable, str(script), str(count)), source="configured")
    results: list[Path] = []
    errors: list[BaseException] = []

    def install() -> None:
        try:
            results.append(runtime.install_runtime(tools))
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=install) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert count.read_text() == "1"
    assert len(results) == 2 and results[0] == results[1] == runtime.runtime_dir()
    assert runtime.is_installed(results[0])
    marker = json.loads((results[0] / runtime.COMPLETE_MARKER).read_text())
    assert marker["version"] == runtime.runtime_version()
    # No half-made work folder is left beside it.
    assert sorted(p.name for p in results[0].parent.iterdir()) == [results[0].name, f"{results[0].name}.lock"]


def test_a_failed_install_leaves_no_runtime_and_says_why(tmp_path, monkeypatch):
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "data"))
    script = tmp_path / "failing_npm.py"
    script.write_text("import sys\nprint('npm ERR! 404 node-llama-cpp')\nsys.exit(1)\n")
    tools = runtime.NodeTools(node=sys.executable, npm=(sys.executable, str(script)), source="configured")
    try:
        runtime.install_runtime(tools)
    except runtime.RuntimeUnavailable as err:
        assert "exit 1" in str(err) and "npm ERR! 404" in str(err)
    else:
        raise AssertionError("the install did not fail")
    assert not runtime.is_installed()
    assert not runtime.runtime_dir().exists()
