"""Reproducibility: with DETERMINISTIC on (as in the quick profile, hence in CI), two runs
of the ResNet notebook with the same SEED give identical metrics on the same machine.

The notebook runs through the series runner (papermill, real kernel), on a small
synthetic archive so that the test takes about a minute and needs no dataset. The
per-epoch lines of ``fit`` and the results table are compared after removing the
timings, which legitimately differ.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from synthetic import write_synthetic_archive

from cifar_utils import series

pytestmark = pytest.mark.slow  # real training or notebook runs: not in make test-fast

ROOT = Path(__file__).resolve().parents[1]

# Timings in fit's lines ("12s - 45ms/step") and the line with the training time.
_TIMING = re.compile(r"\d+(\.\d+)?\s*(ms|s|us)(/step)?\b|trained \d+ epochs in [\d.]+ min")
# Accuracies (81.33%) and losses (0.5822) in an HTML results table; not the minutes (12.3).
_TABLE_NUMBER = re.compile(r">\s*(\d+\.\d\d%|\d+\.\d{4})\s*<")


def _metrics(notebook: Path) -> list[str]:
    """The lines of the training and evaluation cells that hold metrics."""
    nb = nbformat.read(notebook, as_version=4)
    lines = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for output in cell.get("outputs", []):
            text = output.get("text", "") or output.get("data", {}).get("text/plain", "")
            for line in text.splitlines():
                if "loss" in line or "accuracy" in line:
                    lines.append(_TIMING.sub("<time>", line))
            html = output.get("data", {}).get("text/html", "")
            if "test accuracy" in html:
                lines.append("table: " + " ".join(_TABLE_NUMBER.findall(html)))
    return lines


def test_two_deterministic_runs_of_the_resnet_notebook_match(tmp_path, monkeypatch):
    archive = write_synthetic_archive(
        tmp_path / "cifar-10-python.tar.gz", n_per_batch=200, n_test=200
    )
    monkeypatch.setenv("CIFAR10_DATA_DIR", str(tmp_path / "cache"))
    runs = []
    for name in ("first", "second"):
        out = tmp_path / name
        code = series.main(
            [
                "--notebooks-dir",
                str(ROOT / "notebooks"),
                "--profile",
                "quick",
                "--only",
                "03",
                "--output-dir",
                str(out),
                "--data-path",
                str(archive),
                "-p",
                "DETERMINISTIC",
                "true",
                "-p",
                "TRAIN_SIZE",
                "512",
                "-p",
                "VAL_SIZE",
                "100",
                "-p",
                "DEMO_TRAIN_SIZE",
                "128",
                "--quiet",
            ]
        )
        assert code == 0, f"the {name} run failed"
        runs.append(_metrics(out / "03_resnet.ipynb"))
    first, second = runs
    assert any("val_accuracy" in line for line in first), "no epoch lines found"
    tables = [line for line in first if line.startswith("table: ")]
    assert tables and "%" in tables[-1], "no results table found"
    assert first == second
