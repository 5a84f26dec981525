"""JupyterLab for the Galata tests: no token (Galata's way), throw-away folders,
and a local HTTP server that serves a GGUF for the Download test (there is no
model hub here)."""
import http.server
import json
import os
import shutil
import tempfile
import threading
from pathlib import Path

from jupyterlab.galata import configure_jupyter_server

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "models" / "cache" / "datarus-test-tiny.gguf"

configure_jupyter_server(c)  # noqa: F821
c.ServerApp.allow_root = True  # noqa: F821
c.ServerApp.port = int(os.environ.get("DATARUS_UI_PORT", "8888"))  # noqa: F821
c.ServerApp.root_dir = tempfile.mkdtemp(prefix="datarus-ui-")  # noqa: F821
c.DatarusLabApp.episodes_file = tempfile.mkdtemp(prefix="datarus-ui-log-") + "/episodes.jsonl"  # noqa: F821

# A models folder of its own, holding the fixture, and manifests with one more model to download.
models = Path(tempfile.mkdtemp(prefix="datarus-ui-models-"))
shutil.copy(FIXTURE, models / FIXTURE.name)
manifests = Path(tempfile.mkdtemp(prefix="datarus-ui-manifests-"))
shutil.copytree(ROOT / "models" / "schema", manifests / "schema")
for manifest in (ROOT / "models").glob("*.json"):
    shutil.copy(manifest, manifests / manifest.name)

served = Path(tempfile.mkdtemp(prefix="datarus-ui-served-"))
shutil.copy(FIXTURE, served / "download-me.gguf")


class Quiet(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, directory=str(served), **kwargs)

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
threading.Thread(target=server.serve_forever, daemon=True).start()
(manifests / "ui-download-tiny.json").write_text(
    json.dumps(
        {
            "name": "ui-download-tiny",
            "displayName": "Download test model",
            "role": "test-fixture",
            "file": "ui-download-tiny.gguf",
            "sizeBytes": FIXTURE.stat().st_size,
            "source": {"kind": "url", "ggufUrl": f"http://127.0.0.1:{server.server_address[1]}/download-me.gguf", "verified": True},
            "contextSize": 2048,
            "sampling": {},
            "stopStrings": ["</step>"],
        }
    )
)
c.DatarusLabApp.models_dir = str(models)  # noqa: F821
c.DatarusLabApp.manifests_dir = str(manifests)  # noqa: F821
os.environ.setdefault("DATARUS_MODEL", "datarus-test-tiny")
