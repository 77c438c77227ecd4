"""A real JupyterLab server and a real Chromium for the widget tests, and a Y4M clip writer.

:class:`JupyterLab` starts ``jupyter lab`` on 127.0.0.1, a free port, with a token, in a temp
notebook folder and temp Jupyter config, data and runtime folders (nothing of the user's is
read or written). :func:`launch_chromium` starts Debian's Chromium through Playwright with a
fake camera that plays a ``.y4m`` file. :func:`missing` says what of that is not installed.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

CHROMIUM = ("/usr/bin/chromium", "chromium", "chromium-browser")
#: A host name that Chromium resolves to 127.0.0.1 but that is no secure context (not localhost).
INSECURE_HOST = "notebook.test"


def find_chromium() -> str | None:
    """The Chromium executable, or None where none is installed."""
    for name in CHROMIUM:
        path = shutil.which(name)
        if path:
            return path
    return None


def missing() -> str | None:
    """Why the browser tests cannot run here (what to install), or None when they can."""
    if find_chromium() is None:
        return "Chromium is not installed (apt-get install -y chromium)"
    for module, package in (
        ("jupyterlab", "jupyterlab"),
        ("playwright", "playwright"),
        ("anywidget", "anywidget"),
        ("jupyter_client", "jupyter_client"),
    ):
        if importlib.util.find_spec(module) is None:
            return f"{package} is not installed (pip install {package})"
    return None


def write_y4m(
    path: Path, levels: Sequence[int], width: int = 160, height: int = 120, fps: int = 10
) -> Path:
    """Write flat grey frames, luma ``levels[i]`` in frame ``i``, as a 4:2:0 Y4M file."""
    y_size, c_size = width * height, (width // 2) * (height // 2)
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for level in levels:
            f.write(b"FRAME\n" + bytes([level]) * y_size + bytes([128]) * (2 * c_size))
    return path


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class JupyterLab:
    """A JupyterLab server of this Python, in ``root`` (a temp folder); stop it with ``stop``.

    Attributes:
        port: Its port on 127.0.0.1.
        token: Its token.
        notebooks: The notebook folder.
        runtime: The runtime folder (kernel connection files).
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.notebooks = root / "notebooks"
        self.runtime = root / "runtime"
        for folder in (self.notebooks, self.runtime, root / "config", root / "data"):
            folder.mkdir(parents=True, exist_ok=True)
        self.log = root / "jupyter.log"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 90.0) -> JupyterLab:
        """Start the server and wait until its API answers."""
        env = {
            **os.environ,
            "JUPYTER_CONFIG_DIR": str(self.root / "config"),
            "JUPYTER_DATA_DIR": str(self.root / "data"),
            "JUPYTER_RUNTIME_DIR": str(self.runtime),
            "IPYTHONDIR": str(self.root / "ipython"),
            "JUPYTER_PLATFORM_DIRS": "1",
        }
        command = [
            sys.executable, "-m", "jupyterlab", "--no-browser",
            "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0", f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.notebooks}",
            f"--ServerApp.local_hostnames=['localhost', '{INSECURE_HOST}']",
            "--LabApp.expose_app_in_browser=True", "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ]  # fmt: skip
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            command.append("--allow-root")
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(command, env=env, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"jupyter lab exited:\n{self.log.read_text()[-3000:]}")
            with contextlib.suppress(OSError):
                self.api("GET", "/api/status")
                return self
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"jupyter lab did not answer in {timeout} s:\n{self.log.read_text()}")

    def stop(self) -> None:
        """Stop the server (and its kernels)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        """The URL of ``path`` on this server, with the token."""
        return f"http://{host}:{self.port}{path}?token={self.token}"

    def api(self, method: str, path: str, body: Any = None) -> Any:
        """Call the REST API; the decoded JSON answer (None for an empty one)."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            data = answer.read()
        return json.loads(data) if data else None

    def create_notebook(self, name: str, cells: Sequence[str]) -> str:
        """Write a notebook of code ``cells`` through the contents API; returns its path."""
        notebook = {
            "cells": [
                {
                    "cell_type": "code",
                    "source": src,
                    "metadata": {},
                    "outputs": [],
                    "execution_count": None,
                }
                for src in cells
            ],
            "metadata": {
                "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
            },
            "nbformat": 4,
            "nbformat_minor": 5,
        }
        self.api("PUT", f"/api/contents/{name}", {"type": "notebook", "content": notebook})
        return name

    def kernel_client(self, notebook: str, timeout: float = 60.0) -> Any:
        """A started blocking client of the kernel the page opened for ``notebook``."""
        from jupyter_client import BlockingKernelClient

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for session in self.api("GET", "/api/sessions"):
                if session.get("path") == notebook and session.get("kernel"):
                    connection = self.runtime / f"kernel-{session['kernel']['id']}.json"
                    if connection.is_file():
                        client = BlockingKernelClient(connection_file=str(connection))
                        client.load_connection_file()
                        client.start_channels()
                        # not wait_for_ready: it drains IOPub until quiet, and widget traffic
                        # (an ack per frame) never is
                        client.kernel_info()
                        client.get_shell_msg(timeout=30)
                        return client
            time.sleep(0.3)
        raise TimeoutError(f"no kernel for {notebook} after {timeout} s")


def run_in_kernel(client: Any, code: str, timeout: float = 30.0) -> str:
    """Run ``code`` in the kernel; its stdout (raises RuntimeError with the traceback)."""
    out: list[str] = []
    errors: list[str] = []

    def hook(msg: dict) -> None:
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream" and content.get("name") == "stdout":
            out.append(content["text"])
        elif kind == "error":
            errors.append("\n".join(content.get("traceback", [])) or content.get("evalue", ""))

    reply = client.execute_interactive(code, output_hook=hook, timeout=timeout)
    if errors or reply["content"]["status"] != "ok":
        raise RuntimeError(f"kernel error running {code!r}:\n" + "\n".join(errors))
    return "".join(out)


@contextlib.contextmanager
def launch_chromium(fake_video: Path) -> Iterator[Any]:
    """A headless Chromium (Playwright) whose camera plays ``fake_video`` (a .y4m file).

    :data:`INSECURE_HOST` resolves to 127.0.0.1 in it: an http page there is a real insecure
    context, as a server reached by its network name is.
    """
    from playwright.sync_api import sync_playwright

    args = [
        "--no-sandbox",
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-video-capture={fake_video}",
        f"--host-resolver-rules=MAP {INSECURE_HOST} 127.0.0.1",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--disable-sync",
    ]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=find_chromium(), args=args)
        try:
            yield browser
        finally:
            browser.close()


def open_and_run_all(
    page: Any, server: JupyterLab, notebook: str, host: str = "127.0.0.1", timeout_ms: int = 90_000
) -> None:
    """Open ``notebook`` alone (its own workspace), wait for its kernel, and "Run All" of it."""
    workspace = Path(notebook).stem  # not the default one: it would reopen earlier notebooks
    page.goto(server.url(f"/lab/workspaces/{workspace}/tree/{notebook}", host=host))
    page.wait_for_function(
        """(path) => {
            const app = window.jupyterapp;
            const nb = app && app.shell.currentWidget;
            const ctx = nb && nb.sessionContext;
            return nb && nb.context && nb.context.path === path && ctx && ctx.session &&
                ctx.session.kernel && ctx.kernelDisplayStatus === "idle";
        }""",
        arg=notebook,
        timeout=timeout_ms,
    )
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
