"""Fixtures for the server extension's tests: pytest-jupyter's server, with Datarus Lab enabled on a stand-in host."""
from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytest_jupyter.jupyter_server"]

FAKE_HOST = Path(__file__).resolve().parent / "fakehost"


@pytest.fixture
def datarus_config() -> dict:
    """DatarusLabApp traits for the test; a test changes them by overriding this fixture or parametrizing it."""
    return {"host_dir": str(FAKE_HOST), "gpu": "cpu", "startup_timeout": 20.0}


@pytest.fixture
def jp_server_config(datarus_config):
    return {"ServerApp": {"jpserver_extensions": {"datarus_jupyterlab": True}}, "DatarusLabApp": datarus_config}
