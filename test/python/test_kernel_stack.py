"""The checkout's kernel (the one `scripts/setup.sh` installs into .venv, and the one the private Jupyter
of `datarus run` starts) has the data stack the agent's prompts promise the model."""

import json

from jupyter_client.manager import start_new_kernel

STACK = ["pandas", "numpy", "scipy", "sklearn", "statsmodels", "matplotlib", "seaborn"]


def test_the_python3_kernel_imports_the_data_stack():
    manager, client = start_new_kernel(kernel_name="python3")
    outputs = []
    try:
        code = (
            "import importlib, json\n"
            "missing = []\n"
            f"for name in {STACK!r}:\n"
            "    try:\n"
            "        importlib.import_module(name)\n"
            "    except ImportError as e:\n"
            "        missing.append(f'{name}: {e}')\n"
            "import matplotlib.pyplot\n"
            "print(json.dumps(missing))\n"
        )
        reply = client.execute_interactive(code, timeout=240, output_hook=outputs.append)
        assert reply["content"]["status"] == "ok", reply["content"]
        printed = "".join(m["content"].get("text", "") for m in outputs if m["msg_type"] == "stream")
        assert json.loads(printed.strip().splitlines()[-1]) == []
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)

