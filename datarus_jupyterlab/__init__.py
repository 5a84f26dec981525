"""Datarus Lab: the Datarus-R1 model, hosted locally, working inside JupyterLab."""
try:
    from importlib.metadata import version as _version

    __version__ = _version("datarus_jupyterlab")
except Exception:  # pragma: no cover - running from a source tree that is not installed
    __version__ = "0.0.0"


def _jupyter_labextension_paths():
    return [{"src": "labextension", "dest": "datarus-jupyterlab"}]


def _jupyter_server_extension_points():
    from .app import DatarusLabApp

    return [{"module": "datarus_jupyterlab", "app": DatarusLabApp}]


def load_ipython_extension(ipython):
    """`%load_ext datarus_jupyterlab`: registers `%%datarus` (magic.py)."""
    from .magic import DatarusMagics

    ipython.register_magics(DatarusMagics)


def unload_ipython_extension(ipython):
    magics = ipython.magics_manager.registry.get("DatarusMagics")
    if magics is not None:
        magics.stop_host()
