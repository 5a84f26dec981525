"""JupyterLab for the Galata tests: no token (Galata's way), a throw-away root folder."""
import tempfile

from jupyterlab.galata import configure_jupyter_server

configure_jupyter_server(c)  # noqa: F821
c.ServerApp.allow_root = True  # noqa: F821
c.ServerApp.root_dir = tempfile.mkdtemp(prefix="datarus-ui-")  # noqa: F821
# A throw-away episode log for the logging tests.
c.DatarusLabApp.episodes_file = tempfile.mkdtemp(prefix="datarus-ui-log-") + "/episodes.jsonl"  # noqa: F821
