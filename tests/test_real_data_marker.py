"""The ``real_data`` marker (tests/conftest.py): without the real archive a marked test
skips with the reason, except in CI, where it fails: CI always has the archive, so a
missing one is a broken setup, not a reason to pass."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent

MARKED_TEST = """
import pytest

@pytest.mark.real_data
def test_needs_the_archive():
    pass
"""


def _run(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_marked.py").write_text(MARKED_TEST)
    environment = {k: v for k, v in os.environ.items() if k not in ("CI", "CIFAR10_PATH")}
    environment.update(env, PYTHONPATH=str(TESTS))
    command = [sys.executable, "-m", "pytest", "-p", "conftest", "-p", "no:cacheprovider"]
    command += ["-rs", "-q", "--rootdir", str(tmp_path), str(tmp_path / "test_marked.py")]
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        env=environment,
        cwd=tmp_path,
        timeout=300,
    )


@pytest.mark.parametrize("path", ["", "no/such/archive.tar.gz"])
def test_real_data_test_skips_without_the_archive(tmp_path: Path, path: str) -> None:
    result = _run(tmp_path, CIFAR10_PATH=path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 skipped" in result.stdout
    assert "set CIFAR10_PATH to the real cifar-10-python.tar.gz" in result.stdout


def test_real_data_test_fails_in_ci_without_the_archive(tmp_path: Path) -> None:
    result = _run(tmp_path, CI="true")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "CI=true and the real archive is missing" in result.stdout
    assert "1 error" in result.stdout and "1 skipped" not in result.stdout


def test_real_data_test_runs_with_an_archive_file(tmp_path: Path) -> None:
    archive = tmp_path / "cifar-10-python.tar.gz"
    archive.write_bytes(b"")  # the marker checks that the file is there, the tests the rest
    result = _run(tmp_path, CI="true", CIFAR10_PATH=str(archive))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
