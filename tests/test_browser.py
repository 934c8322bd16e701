"""End to end in a real browser: JupyterLab runs notebooks 01, 04 and 05 as a student would.

JupyterLab starts on 127.0.0.1 with a token, on fresh copies of the notebooks (trusted,
as ``make lab`` does), with the project's kernel and the real dataset; Chromium (Debian's
``chromium`` package, driven by Playwright: no ``playwright install``, no internet) opens
each notebook, runs all cells through JupyterLab's own "Run All" command, and the test
fails on any error output, any stderr output (TensorFlow's start-up messages included),
a figure fewer than the committed notebook shows, or a styled table that lost its styles.
Screenshots and each notebook's wall time go to ``build/e2e/``.

    CIFAR10_PATH=../shared/cifar10/cifar-10-python.tar.gz .venv/bin/pytest tests/test_browser.py

Skips without Chromium or the real archive, except in CI (``CI=true``), which has both.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
E2E_DIR = ROOT / "build" / "e2e"
NOTEBOOKS = ("01_data_exploration", "04_predictions", "05_error_analysis")
RUN_TIMEOUT_S = 600  # per notebook; each takes about a minute on 2 CPU cores
IN_CI = os.environ.get("CI") == "true"

pytestmark = [pytest.mark.browser, pytest.mark.real_data]


def _chromium() -> str:
    found = (
        os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    )
    if not found:
        message = "no Chromium: install Debian's `chromium` package (or set $CHROMIUM)"
        if IN_CI:
            pytest.fail(f"{message}; .ci/run installs it, so CI must have it")
        pytest.skip(message)
    return found


def _archive() -> str:
    path = os.environ.get("CIFAR10_PATH", "")
    if not (path and Path(path).is_file()):
        message = "set CIFAR10_PATH to the real cifar-10-python.tar.gz to run"
        if IN_CI:
            pytest.fail(f"{message}; CI always has ../shared/cifar10")
        pytest.skip(message)
    return str(Path(path).resolve())


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _committed_figures(stem: str) -> int:
    nb = nbformat.read(ROOT / "notebooks" / f"{stem}.ipynb", as_version=4)
    return sum(
        "image/png" in output.get("data", {})
        for cell in nb.cells
        for output in cell.get("outputs", [])
    )


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, Path]]:
    """A JupyterLab server on copies of the notebooks: (base URL, token, its folder)."""
    _chromium()  # skip (or fail in CI) before starting anything
    archive = _archive()
    root = tmp_path_factory.mktemp("lab")
    for stem in NOTEBOOKS:
        shutil.copy(ROOT / "notebooks" / f"{stem}.ipynb", root / f"{stem}.ipynb")
    jupyter = [sys.executable, "-m", "jupyter"]
    subprocess.run(
        [*jupyter, "trust", *[str(root / f"{stem}.ipynb") for stem in NOTEBOOKS]],
        check=True,
        capture_output=True,
    )
    # Every cell rendered (no virtual scrolling), so the page shows every output.
    settings = root / ".settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    (settings / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    token, port = secrets.token_hex(16), _free_port()
    env = {
        **os.environ,
        "CIFAR10_PATH": archive,
        "JUPYTERLAB_SETTINGS_DIR": str(root / ".settings"),
        "JUPYTER_CONFIG_DIR": str(root / ".jupyter"),  # no user configuration
    }
    env.pop("PYTEST_CURRENT_TEST", None)  # kernels behave as in a student's JupyterLab
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # as a student has it: not set
    log = (root / "server.log").open("w")
    server = subprocess.Popen(
        [
            *jupyter,
            "lab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}",
            "--LabApp.expose_app_in_browser=True",
            *(["--allow-root"] if os.geteuid() == 0 else []),  # CI containers run as root
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=5):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not start: {(root / 'server.log').read_text()}")
                time.sleep(1)
        yield url, token, root
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.fixture(scope="module")
def browser(lab: tuple[str, str, Path]) -> Iterator[object]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=_chromium(), args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        try:
            yield chromium
        finally:
            chromium.close()


# Every output of the notebook's cells, from JupyterLab's own model of the notebook.
_OUTPUTS_JS = """(panel) => {
  const cells = panel.content.model.cells;
  const found = [];
  for (let i = 0; i < cells.length; i++) {
    const cell = cells.get(i);
    if (cell.type !== 'code') continue;
    found.push({index: i, count: cell.executionCount, outputs: cell.outputs.toJSON()});
  }
  return found;
}"""


def _notebook_js(stem: str) -> str:
    """JavaScript for the notebook panel of `stem` (JupyterLab may restore other tabs)."""
    return (
        "[...window.jupyterapp.shell.widgets('main')]"
        f".find(w => w.context && w.context.path === '{stem}.ipynb')"
    )


@pytest.mark.parametrize("stem", NOTEBOOKS)
def test_notebook_runs_clean_in_jupyterlab(lab, browser, stem):
    url, token, _ = lab
    panel = _notebook_js(stem)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    messages: list[str] = []
    page.on("pageerror", lambda error: messages.append(str(error)))
    try:
        # ?reset: a fresh workspace, not the tabs of the previous notebook.
        page.goto(f"{url}/lab/tree/{stem}.ipynb?reset&token={token}", timeout=120_000)
        page.wait_for_function(
            "() => { const w = window.jupyterapp && " + panel + ";"
            " return !!(w && w.sessionContext.session && w.sessionContext.session.kernel"
            " && w.sessionContext.session.kernel.status === 'idle'); }",
            timeout=120_000,
        )
        kernel = page.evaluate(f"() => {panel}.sessionContext.session.kernel.name")
        assert kernel == "python3", f"the notebook opened with kernel {kernel!r}"
        if stem == "05_error_analysis":
            # Trusted, the committed per-class table keeps its colours (untrusted HTML
            # loses its <style>).
            styled = page.evaluate(
                f"() => {panel}.node.querySelectorAll('.jp-OutputArea-output style').length"
            )
            assert styled > 0, "the committed styled tables lost their styles"

        started = time.monotonic()
        # JupyterLab's "Run All Cells" on this notebook; the promise resolves once every
        # cell has run.
        page.evaluate(
            f"() => {{ window.jupyterapp.shell.activateById({panel}.id);"
            " return window.jupyterapp.commands.execute('notebook:run-all-cells'); }"
        )
        page.wait_for_function(
            f"() => {{ const w = {panel};"
            " return w.sessionContext.session.kernel.status === 'idle'"
            " && [...Array(w.content.model.cells.length).keys()].every(i => {"
            " const c = w.content.model.cells.get(i);"
            " return c.type !== 'code' || c.executionCount !== null; }); }",
            timeout=RUN_TIMEOUT_S * 1000,
            polling=1000,
        )
        seconds = time.monotonic() - started
        cells = page.evaluate(f"() => ({_OUTPUTS_JS})({panel})")
        E2E_DIR.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(E2E_DIR / f"{stem}.png"))
    finally:
        page.close()

    problems = []
    figures = 0
    for cell in cells:
        if cell["count"] is None:
            problems.append(f"code cell {cell['index']} did not run")
        for output in cell["outputs"]:
            kind = output.get("output_type")
            if kind == "error":
                problems.append(f"cell {cell['index']}: {output['ename']}: {output['evalue']}")
            elif kind == "stream" and output.get("name") == "stderr":
                text = "".join(output.get("text", ""))
                problems.append(f"cell {cell['index']} wrote to stderr: {text[:300]!r}")
            figures += "image/png" in output.get("data", {})
    expected = _committed_figures(stem)
    if figures < expected:
        problems.append(f"{figures} figure(s) shown, the committed notebook shows {expected}")
    problems += [f"browser error: {message}" for message in messages]
    timing = {"notebook": stem, "seconds": round(seconds, 1), "figures": figures}
    (E2E_DIR / f"{stem}.json").write_text(json.dumps(timing) + "\n")
    print(f"{stem}: all cells ran in {seconds:.1f} s in the browser, {figures} figure(s)")
    assert not problems, "\n".join(problems)
