"""`make lab`: JupyterLab with jupytext serves a chapter's .md as a notebook."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_chapter_markdown_opens_as_a_notebook(tmp_path):
    port, token = _free_port(), "maqamgen-test"
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
           f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={ROOT}"]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path)}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    url = (f"http://127.0.0.1:{port}/api/contents/book/part1/01_stft_filtering.md"
           f"?type=notebook&token={token}")
    try:
        deadline, model = time.time() + 60, None
        while time.time() < deadline and model is None:
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    model = json.load(r)
            except OSError:
                time.sleep(0.5)
        assert model is not None, "JupyterLab did not answer within 60 s"
        assert model["type"] == "notebook"
        cells = model["content"]["cells"]
        assert any("parameters" in c["metadata"].get("tags", []) for c in cells)
        assert model["content"]["metadata"]["jupytext"]["formats"] == "ipynb,md:myst"
    finally:
        proc.terminate()
        proc.wait(timeout=20)
