"""A notebook as a student opens it: JupyterLab started headless, the notebook run through the server's own APIs.

The test starts ``jupyter lab`` on a free port and checks that the Lab page is served. It opens the notebook
through the contents API, starts its kernel through the sessions API (as the Lab does when a notebook is
opened), and runs every code cell over the kernel's websocket (quick mode injected after the parameters cell,
as papermill does). Each cell must reply ``ok``; the outputs must include a plot (``image/png``) and a tqdm
progress bar (a Jupyter widget, what the Lab draws as a bar; without ipywidgets it would be a text fallback).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from tornado.httpclient import HTTPRequest
from tornado.ioloop import IOLoop
from tornado.websocket import websocket_connect

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = "notebooks/09_attention_analysis.ipynb"  # plots and a progress bar; the shortest quick run
TOKEN = uuid.uuid4().hex
CELL_TIMEOUT_S = 600


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, method: str = "GET", body: dict | None = None) -> tuple[int, bytes]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={"Authorization": f"token {TOKEN}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, response.read()


@pytest.fixture(scope="module")
def lab(trained_baselines):
    port = _free_port()
    env = {**os.environ, "COURSE_QUICK": "1", "COURSE_OUTPUT_DIR": str(REPO / "build" / "lab-executed")}
    process = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
         f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={REPO}", "--ServerApp.open_browser=False", "--allow-root"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                if _get(f"{base}/api/status")[0] == 200:
                    break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail(f"jupyter lab did not start: {process.stderr.read(2000).decode() if process.poll() else 'no answer'}")
        yield base
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


async def _run_cells(ws_url: str, sources: list[str]) -> tuple[list[str], list[dict]]:
    connection = await websocket_connect(HTTPRequest(ws_url, headers={"Authorization": f"token {TOKEN}"}))
    statuses, outputs = [], []
    for source in sources:
        msg_id = uuid.uuid4().hex
        await connection.write_message(json.dumps({
            "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "test", "session": TOKEN,
                       "version": "5.3"},
            "parent_header": {}, "metadata": {}, "channel": "shell",
            "content": {"code": source, "silent": False, "store_history": True, "allow_stdin": False},
        }))  # fmt: skip
        while True:
            message = json.loads(await connection.read_message())
            if message.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            if message["msg_type"] in {"display_data", "execute_result", "error"}:
                outputs.append(message["content"])
            if message["channel"] == "shell" and message["msg_type"] == "execute_reply":
                statuses.append(message["content"]["status"])
                break
    connection.close()
    return statuses, outputs


def test_a_notebook_runs_in_jupyterlab_with_plots_and_progress_bars(lab):
    status, page = _get(f"{lab}/lab")
    assert status == 200 and b"JupyterLab" in page, "the Lab page is not served"
    notebook = json.loads(_get(f"{lab}/api/contents/{NOTEBOOK}")[1])["content"]
    cells = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    sources = []
    for cell in cells:
        source = "".join(cell["source"])
        sources.append(source)
        if "parameters" in cell["metadata"].get("tags", []):
            sources.append("QUICK = True  # injected by the test, as papermill does")
    session = {"path": NOTEBOOK, "type": "notebook", "name": Path(NOTEBOOK).name, "kernel": {"name": "python3"}}
    kernel = json.loads(_get(f"{lab}/api/sessions", "POST", session)[1])["kernel"]  # as the Lab does on opening it
    ws_url = lab.replace("http", "ws") + f"/api/kernels/{kernel['id']}/channels"
    statuses, outputs = IOLoop.current().run_sync(lambda: _run_cells(ws_url, sources), timeout=CELL_TIMEOUT_S * 2)
    errors = [o for o in outputs if "ename" in o]
    assert statuses == ["ok"] * len(sources), f"cells failed in JupyterLab: {[(e['ename'], e['evalue']) for e in errors]}"
    kinds = {kind for o in outputs for kind in o.get("data", {})}
    assert "image/png" in kinds, "no plot was displayed"
    assert "application/vnd.jupyter.widget-view+json" in kinds, "no progress bar widget was displayed"
