"""Tests of cifar_utils.doctor, the environment check.

Problems are faked with monkeypatch (an old version number, a missing program, a module
that cannot be imported), never by uninstalling anything. The autouse fixture isolates the
data locations, so no test reads or hashes the real archive, except the one marked
``real_data`` (it runs when ``CIFAR10_PATH`` points to the archive). "Official" files are
faked by putting the synthetic files' sha256 sums into ``data.OFFICIAL_MEMBER_SHA256``.
"""

from __future__ import annotations

import collections
import dataclasses
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import keras
import pytest
import tensorflow as tf
from synthetic import encode_files, make_files

from cifar_utils import data, doctor

_REAL_PATH = os.environ.get("CIFAR10_PATH", "")  # read before the autouse fixture unsets it

NAMES = [
    "python",
    "tensorflow",
    "keras",
    "cpu",
    "gpu",
    "precision",
    "threads",
    "onednn",
    "graphviz",
    "dataset",
    "dataset check",
    "disk space",
]


@pytest.fixture(autouse=True)
def isolated(cifar_env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No dataset anywhere, and none of the variables that change which Keras is used."""
    monkeypatch.delenv("TF_USE_LEGACY_KERAS", raising=False)
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    return cifar_env


def _by_name(checks: list[doctor.Check]) -> dict[str, doctor.Check]:
    return {check.name: check for check in checks}


def _run_main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = doctor.main(list(argv))
    return code, capsys.readouterr().out


# This machine ---------------------------------------------------------------------------


def test_report_on_this_machine_has_every_section(capsys: pytest.CaptureFixture[str]) -> None:
    code, out = _run_main(capsys)

    assert code == 0, out
    lines = out.splitlines()
    for name in NAMES:
        assert any(name in line for line in lines if line.startswith("[")), name
    assert lines[-1].startswith("all required checks passed")
    assert "[FAIL]" not in out
    assert tf.__version__ in out
    assert keras.__version__ in out
    assert "Keras 3 in use" in out
    assert "avx512_bf16" in out or "flags unknown" in out


def test_run_checks_returns_the_checks_in_report_order() -> None:
    checks = doctor.run_checks()

    assert [check.name for check in checks] == NAMES
    assert all(check.status in ("ok", "warn", "skip") for check in checks)
    checks_by_name = _by_name(checks)
    from cifar_utils import training

    guess = training.choose_precision("auto")
    candidates = "float32" if guess == "float32" else f"float32 and {guess}"
    assert checks_by_name["precision"].detail.startswith(
        f'PRECISION="auto" measures {candidates}, each with and without XLA'
    )
    assert "os.cpu_count()" in checks_by_name["threads"].detail
    assert checks_by_name["onednn"].status in {"ok", "warn"}


def test_importing_the_module_imports_no_tensorflow() -> None:
    code = (
        "import sys, cifar_utils.doctor; print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.split() == ["False", "False"]


# Required checks that fail --------------------------------------------------------------


def test_old_tensorflow_fails_with_advice(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(tf, "__version__", "2.15.1")

    code, out = _run_main(capsys)

    assert code == 1
    checks = _by_name(doctor.run_checks())
    assert checks["tensorflow"].status == "fail"
    assert "2.15.1 is too old" in checks["tensorflow"].detail
    assert "tensorflow>=2.16" in checks["tensorflow"].advice
    # What needs a working TensorFlow is skipped, not crashed.
    assert {checks[name].status for name in ("gpu", "precision", "threads")} == {"skip"}
    assert "[FAIL] tensorflow" in out
    assert out.splitlines()[-1] == "1 required check(s) failed: tensorflow"


def test_missing_tensorflow_fails_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "tensorflow", None)  # `import tensorflow` now fails

    code, out = _run_main(capsys)

    assert code == 1
    assert "[FAIL] tensorflow" in out
    assert "cannot be imported" in out
    assert '`pip install -e ".[dev]"`' in out  # commands are never split across lines
    assert "[skip] precision" in out


def test_keras_2_fails_with_advice(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(keras, "__version__", "2.15.0")

    code, out = _run_main(capsys)

    assert code == 1
    check = _by_name(doctor.run_checks())["keras"]
    assert check.status == "fail"
    assert check.detail == "2.15.0 is not Keras 3."
    assert "tf_keras" in check.advice
    assert "keras>=3.3,<4" in check.advice
    assert "TF_USE_LEGACY_KERAS" not in check.advice
    assert out.splitlines()[-1] == "1 required check(s) failed: keras"


def test_keras_2_with_legacy_variable_says_to_unset_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keras, "__version__", "2.15.0")
    monkeypatch.setenv("TF_USE_LEGACY_KERAS", "1")

    check = _by_name(doctor.run_checks())["keras"]

    assert check.status == "fail"
    assert "unset TF_USE_LEGACY_KERAS" in check.advice


def test_legacy_keras_variable_with_keras_3_warns(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TF_USE_LEGACY_KERAS", "1")

    code, _ = _run_main(capsys)

    assert code == 0  # the notebooks use `import keras`, which is still Keras 3
    check = _by_name(doctor.run_checks())["keras"]
    assert check.status == "warn"
    assert "TF_USE_LEGACY_KERAS=1 makes tf.keras" in check.detail
    assert "Unset TF_USE_LEGACY_KERAS" in check.advice


def test_old_keras_3_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keras, "__version__", "3.1.0")

    check = _by_name(doctor.run_checks())["keras"]

    assert check.status == "fail"
    assert "3.1.0 is too old" in check.detail


def test_other_keras_backend_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")

    check = _by_name(doctor.run_checks())["keras"]

    assert check.status == "fail"
    assert "'jax' backend" in check.detail
    assert "KERAS_BACKEND" in check.advice


def test_old_python_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(doctor, "_python_version", lambda: (3, 9, 18))

    checks = doctor.run_checks()

    check = _by_name(checks)["python"]
    assert check.status == "fail"
    assert "3.9.18" in check.detail
    assert "3.10 or newer is required" in check.detail
    assert check.advice


# Warnings that leave the exit status at 0 ------------------------------------------------


def test_missing_dot_warns_with_install_advice(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real_which = shutil.which
    monkeypatch.setattr(
        shutil, "which", lambda name, *args, **kwargs: None if name == "dot" else real_which(name)
    )

    code, out = _run_main(capsys)

    assert code == 0
    check = _by_name(doctor.run_checks())["graphviz"]
    assert check.status == "warn"
    assert "`dot` not found" in check.detail
    assert "plot_model" in check.detail
    for command in ("conda install", "apt-get install graphviz", "brew install graphviz"):
        assert command in check.advice
    assert "pydot" not in check.advice
    assert "[warn] graphviz" in out


def test_missing_pydot_warns(monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, *args: Any, **kwargs: Any) -> Any:
        return None if name == "pydot" else real_find_spec(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)

    check = _by_name(doctor.run_checks())["graphviz"]

    assert check.status == "warn"
    assert "pip install pydot" in check.advice


def test_dataset_not_found_warns_with_download_and_path_advice(
    capsys: pytest.CaptureFixture[str], isolated: Path
) -> None:
    code, out = _run_main(capsys)

    assert code == 0
    checks = _by_name(doctor.run_checks())
    assert checks["dataset"].status == "warn"
    assert "not found: will download" in checks["dataset"].detail
    assert data.OFFICIAL_URL in checks["dataset"].detail
    assert str(isolated) in checks["dataset"].detail
    assert "CIFAR10_PATH=" in checks["dataset"].advice
    assert checks["dataset check"].status == "skip"
    assert "[warn] dataset" in out


def test_cifar10_path_to_nothing_fails(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The loader does not download while CIFAR10_PATH is set: every notebook would fail.
    monkeypatch.setenv("CIFAR10_PATH", str(tmp_path / "nowhere" / "cifar-10-python.tar.gz"))

    code, out = _run_main(capsys)

    assert code == 1
    check = _by_name(doctor.run_checks())["dataset"]
    assert check.status == "fail"
    assert "nowhere" in check.detail
    assert "unset it" in check.advice
    assert out.splitlines()[-1] == "1 required check(s) failed: dataset"


def test_archive_that_is_not_a_tar_fails(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = tmp_path / "cifar-10-python.tar.gz"
    archive.write_bytes(b"not really an archive")
    monkeypatch.setenv("CIFAR10_PATH", str(archive))

    code, out = _run_main(capsys)

    assert code == 1
    check = _by_name(doctor.run_checks())["dataset check"]
    assert check.status == "fail"
    assert check.detail.startswith(f"loading fails: {archive}: not a valid")
    assert check.advice == "Point $CIFAR10_PATH at a complete copy, or unset it."
    assert out.splitlines()[-1] == "1 required check(s) failed: dataset check"


def test_archive_with_another_hash_warns_naming_the_mismatch(
    monkeypatch: pytest.MonkeyPatch,
    make_cifar_archive: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    archive = make_cifar_archive()
    sha256 = hashlib.sha256(archive.read_bytes()).hexdigest()
    monkeypatch.setenv("CIFAR10_PATH", str(archive))

    code, _ = _run_main(capsys)

    assert code == 0
    checks = _by_name(doctor.run_checks())
    assert checks["dataset"].status == "ok"
    assert str(archive) in checks["dataset"].detail
    assert "from $CIFAR10_PATH" in checks["dataset"].detail
    check = checks["dataset check"]
    assert check.status == "warn"
    assert sha256 in check.detail
    assert "differs from the official archive's sha256" in check.detail
    # Synthetic files: none is an official one.
    assert check.detail.endswith(
        "not all its files are the official ones: data_batch_1, data_batch_2, data_batch_3, "
        "data_batch_4, data_batch_5, test_batch, batches.meta, readme.html differ from the "
        "official files."
    )
    assert "unset $CIFAR10_PATH" in check.advice


def test_archive_with_the_official_hash_is_verified(
    monkeypatch: pytest.MonkeyPatch, make_cifar_archive: Callable[..., Path]
) -> None:
    archive = make_cifar_archive()
    monkeypatch.setenv("CIFAR10_PATH", str(archive))
    monkeypatch.setattr(data, "OFFICIAL_SHA256", hashlib.sha256(archive.read_bytes()).hexdigest())

    check = _by_name(doctor.run_checks())["dataset check"]

    assert check == doctor.Check("dataset check", "ok", "sha256 matches the official archive")


def _official(monkeypatch: pytest.MonkeyPatch, **make_files_args: int) -> None:
    """Make these synthetic files (make_cifar_archive's default set) the "official" ones."""
    args = {"n_per_batch": 10, "n_test": 10, "seed": 0, **make_files_args}
    files = encode_files(make_files(**args))
    sums = {name: hashlib.sha256(content).hexdigest() for name, content in files.items()}
    monkeypatch.setattr(data, "OFFICIAL_MEMBER_SHA256", sums)


OTHER_BATCH_2 = make_files(n_per_batch=10, n_test=10, seed=1)["data_batch_2"]


@pytest.mark.parametrize("compress", [True, False])
def test_repackaged_archive_of_the_official_files_is_verified(
    monkeypatch: pytest.MonkeyPatch,
    make_cifar_archive: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
    compress: bool,
) -> None:
    archive = make_cifar_archive(compress=compress)
    monkeypatch.setenv("CIFAR10_PATH", str(archive))
    _official(monkeypatch)

    code, out = _run_main(capsys)

    assert code == 0
    assert "[ok]   dataset check  official CIFAR-10 content, repackaged archive: " in out
    check = _by_name(doctor.run_checks())["dataset check"]
    assert check == doctor.Check(
        "dataset check",
        "ok",
        "official CIFAR-10 content, repackaged archive: its 8 files match the official ones, "
        "though the archive's own sha256 differs",
    )


def test_archive_with_one_different_file_warns_naming_it(
    monkeypatch: pytest.MonkeyPatch, make_cifar_archive: Callable[..., Path]
) -> None:
    archive = make_cifar_archive(files={"data_batch_2": OTHER_BATCH_2})
    monkeypatch.setenv("CIFAR10_PATH", str(archive))
    _official(monkeypatch)

    check = _by_name(doctor.run_checks())["dataset check"]

    assert check.status == "warn"
    assert check.detail.endswith(
        "not all its files are the official ones: data_batch_2 differs from the official file."
    )
    assert "unset $CIFAR10_PATH" in check.advice


def test_archive_without_meta_warns_naming_it(
    monkeypatch: pytest.MonkeyPatch, make_cifar_archive: Callable[..., Path]
) -> None:
    # Loading works without batches.meta, but the content is not the official one.
    archive = make_cifar_archive(files={"batches.meta": None, "data_batch_2": OTHER_BATCH_2})
    monkeypatch.setenv("CIFAR10_PATH", str(archive))
    _official(monkeypatch)

    check = _by_name(doctor.run_checks())["dataset check"]

    assert check.status == "warn"
    assert check.detail.endswith(
        ": data_batch_2 differs from the official file; batches.meta is missing."
    )


def test_archive_without_a_batch_fails_naming_it(
    monkeypatch: pytest.MonkeyPatch, make_cifar_archive: Callable[..., Path]
) -> None:
    archive = make_cifar_archive(files={"data_batch_3": None})
    monkeypatch.setenv("CIFAR10_PATH", str(archive))
    _official(monkeypatch)

    check = _by_name(doctor.run_checks())["dataset check"]

    assert check.status == "fail"
    assert check.detail == f"{archive} lacks data_batch_3: loading fails."
    assert check.advice == "Point $CIFAR10_PATH at a complete copy, or unset it."


def test_folder_of_the_official_files_is_verified(
    monkeypatch: pytest.MonkeyPatch, synthetic_dir: Path
) -> None:
    monkeypatch.setenv("CIFAR10_PATH", str(synthetic_dir))
    _official(monkeypatch, n_per_batch=100, n_test=100)  # the synthetic_dir fixture's set

    checks = _by_name(doctor.run_checks())

    assert checks["dataset"].detail.startswith(f"extracted folder {synthetic_dir}")
    assert checks["dataset check"] == doctor.Check(
        "dataset check",
        "ok",
        "official CIFAR-10 content, extracted folder: its 8 files match the official ones",
    )


def test_folder_of_other_files_warns_naming_them(
    monkeypatch: pytest.MonkeyPatch, make_cifar_archive: Callable[..., Path]
) -> None:
    folder = make_cifar_archive(
        folder=True, files={"data_batch_2": OTHER_BATCH_2, "batches.meta": None}
    )
    monkeypatch.setenv("CIFAR10_PATH", str(folder))
    _official(monkeypatch)

    check = _by_name(doctor.run_checks())["dataset check"]

    assert check.status == "warn"
    assert check.detail == (
        "all 6 batch files present, but not the official CIFAR-10 content: data_batch_2 "
        "differs from the official file; batches.meta is missing."
    )
    assert "unset $CIFAR10_PATH" in check.advice


def test_folder_missing_a_batch_fails(
    monkeypatch: pytest.MonkeyPatch, make_cifar_archive: Callable[..., Path]
) -> None:
    folder = make_cifar_archive(folder=True, files={"data_batch_3": None})
    monkeypatch.setenv("CIFAR10_PATH", str(folder))

    check = _by_name(doctor.run_checks())["dataset check"]

    assert check.status == "fail"
    assert "lacks data_batch_3" in check.detail
    assert check.advice == "Point $CIFAR10_PATH at a complete copy, or unset it."


def test_incomplete_cache_fails_with_advice_to_delete_it(isolated: Path) -> None:
    cache = isolated / data.FOLDER_NAME
    cache.mkdir(parents=True)
    (cache / "data_batch_1").write_bytes(b"")

    check = _by_name(doctor.run_checks())["dataset check"]

    assert check.status == "fail"
    assert "lacks data_batch_2, data_batch_3, data_batch_4, data_batch_5, test_batch" in (
        check.detail
    )
    assert check.advice.startswith(f"Delete {cache}: ")


def test_cache_extracted_from_another_archive_is_ignored_with_a_warning(
    isolated: Path, make_cifar_archive: Callable[..., Path]
) -> None:
    """A cache extracted for a copy that is not official is not used when no path is given
    (it would pass for CIFAR-10): the doctor says so, and what to do."""
    archive = make_cifar_archive()
    data.load_cifar10(archive)  # extracts into the (isolated) cache and records the source

    checks = _by_name(doctor.run_checks())

    cache = isolated / data.FOLDER_NAME
    assert checks["dataset"].status == "warn"
    assert checks["dataset"].detail.startswith("not found: will download ")
    check = checks["dataset check"]
    assert check.status == "warn"
    assert check.detail.startswith(f"{cache} was ignored: it holds files extracted from ")
    assert f"set CIFAR10_PATH={archive.resolve()}" in check.detail
    assert f"delete {cache}." in check.detail


def test_cache_extracted_from_another_archive_is_checked_when_asked_for(
    isolated: Path, make_cifar_archive: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = make_cifar_archive()
    data.load_cifar10(archive)
    monkeypatch.setenv("CIFAR10_PATH", str(archive))

    check = _by_name(doctor.run_checks())["dataset check"]

    assert check.status == "warn"
    assert "data_batch_1, data_batch_2" in check.detail


def test_cache_of_a_repackaged_official_archive_is_verified_from_its_note(
    isolated: Path, make_cifar_archive: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = make_cifar_archive()
    _official(monkeypatch)
    data.load_cifar10(archive)  # notes in the cache that the files are the official ones
    monkeypatch.setattr(data, "_file_sha256", _no_hashing)  # the note is enough

    check = _by_name(doctor.run_checks())["dataset check"]

    assert check == doctor.Check(
        "dataset check",
        "ok",
        "official CIFAR-10 content, extracted folder: all 6 batch files present; extracted "
        f"from {archive.resolve()}, a repackaged archive of the official files",
    )


def _no_hashing(*args: object) -> str:
    raise AssertionError("hashed a file although the cache's note says what it holds")


def _make_legacy(cache: Path) -> None:
    """Rewrite the cache's note as a loader from before the content was noted did."""
    path = cache / ".cifar_utils_source.json"
    marker = json.loads(path.read_text())
    for key in ("content", "differing", "missing"):
        del marker[key]
    path.write_text(json.dumps(marker))


@pytest.mark.parametrize("official", [True, False])
def test_cache_noted_by_an_older_loader_is_checked_by_its_files(
    isolated: Path,
    make_cifar_archive: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
    official: bool,
) -> None:
    archive = make_cifar_archive(files={} if official else {"data_batch_2": OTHER_BATCH_2})
    data.load_cifar10(archive)
    cache = isolated / data.FOLDER_NAME
    _make_legacy(cache)
    _official(monkeypatch)

    check = _by_name(doctor.run_checks())["dataset check"]

    if official:  # although the loader never extracts readme.html
        assert check.status == "ok"
        assert check.detail.startswith("official CIFAR-10 content, extracted folder: ")
    else:  # not used without asking (see above)
        assert check.status == "warn"
        assert check.detail.startswith(f"{cache} was ignored: it holds files extracted from ")


@pytest.mark.real_data  # skipped without CIFAR10_PATH, failed in CI (conftest.py)
def test_real_archive_is_the_official_content(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CIFAR10_PATH", _REAL_PATH)
    sha256 = data._file_sha256(Path(_REAL_PATH))
    # The shared copy is a repackaged archive of the official files; the official download
    # would be recognised by its own sha256.
    if sha256 == data.OFFICIAL_SHA256:
        expected = "sha256 matches the official archive"
    else:
        expected = "official CIFAR-10 content, repackaged archive: "

    code, out = _run_main(capsys)

    assert code == 0, out
    assert f"[ok]   dataset check  {expected}" in out


def test_low_disk_space_warns(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    usage = collections.namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(2**34, 2**34 - 2**27, 2**27))

    code, _ = _run_main(capsys)

    assert code == 0
    check = _by_name(doctor.run_checks())["disk space"]
    assert check.status == "warn"
    assert check.detail.startswith("only 0.1 GiB free of 16.0 GiB")
    assert "CIFAR10_DATA_DIR" in check.advice


def test_a_check_that_crashes_becomes_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> doctor.Check:
        raise OSError("disk on fire")

    monkeypatch.setattr(doctor, "_check_disk", broken)

    check = _by_name(doctor.run_checks())["disk space"]

    assert check.status == "warn"
    assert check.detail == "could not be checked (OSError: disk on fire)."


# Output ---------------------------------------------------------------------------------


def test_json_parses_and_matches_the_checks(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    checks = doctor.run_checks()
    monkeypatch.setattr(doctor, "run_checks", lambda: checks)

    code, out = _run_main(capsys, "--json")
    _, text = _run_main(capsys)

    assert code == 0
    report = json.loads(out)
    assert report["passed"] is True
    assert [doctor.Check(**check) for check in report["checks"]] == checks
    assert report["summary"] == text.splitlines()[-1]
    assert text == doctor.format_report(checks) + "\n"


def test_json_reports_failures(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(keras, "__version__", "2.15.0")

    code, out = _run_main(capsys, "--json")

    assert code == 1
    report = json.loads(out)
    assert report["passed"] is False
    assert report["summary"] == "1 required check(s) failed: keras"
    assert {"name", "status", "detail", "advice"} == set(report["checks"][2])


def test_format_report_aligns_wraps_and_counts() -> None:
    checks = [
        doctor.Check("python", "fail", "3.9.0: too old.", "Upgrade Python."),
        doctor.Check("a longer name", "ok", "fine"),
        doctor.Check("keras", "fail", "word " * 40, "advice " * 30),
        doctor.Check("gpu", "skip", "not checked."),
        doctor.Check("disk", "warn", "low."),
    ]

    report = doctor.format_report(checks)

    lines = report.splitlines()
    assert lines[0] == "[FAIL] python         3.9.0: too old."
    assert lines[1] == "                      -> Upgrade Python."
    assert lines[2] == "[ok]   a longer name  fine"
    assert all(len(line) <= 100 for line in lines)
    assert "[skip] gpu" in report
    assert "[warn] disk" in report
    # Every wrapped line is indented to the detail column.
    assert all(line.startswith(("[", " " * 22)) for line in lines[:-1])
    assert lines[-1] == "2 required check(s) failed: python, keras"


def test_summary_counts_warnings() -> None:
    checks = [doctor.Check("a", "ok", "x"), doctor.Check("b", "warn", "y", "z")]

    assert doctor.format_report(checks).splitlines()[-1] == (
        "all required checks passed (1 warning(s): see the advice above)"
    )
    assert dataclasses.asdict(checks[1]) == {
        "name": "b",
        "status": "warn",
        "detail": "y",
        "advice": "z",
    }


def test_relative_paths_hide_the_machine_s_folders(monkeypatch, tmp_path):
    """Committed notebook outputs show paths that hold on any machine (issue 14, point 3)."""
    root = Path(doctor.__file__).resolve().parent.parent
    monkeypatch.setenv("HOME", str(tmp_path))
    checks = [
        doctor.Check("python", "ok", f"CPython 3.11 on Linux, {root}/.venv/bin/python"),
        doctor.Check(
            "dataset",
            "warn",
            f"archive {root.parent}/shared/cifar10/cifar-10-python.tar.gz (from $CIFAR10_PATH)",
            f"Delete {tmp_path}/.keras/datasets/cifar-10-batches-py/ or use /usr/bin/dot.",
        ),
    ]
    report = doctor.format_report(checks, relative_paths=True)
    assert ".venv/bin/python" in report and str(root) not in report
    assert "archive ../shared/cifar10/cifar-10-python.tar.gz (from" in report
    assert "~/.keras/datasets/cifar-10-batches-py/ or" in report and str(tmp_path) not in report
    assert "/usr/bin/dot" in report  # system paths are the same everywhere
    # Without the option, the report keeps the absolute paths (for the command line).
    assert f"{root}/.venv/bin/python" in doctor.format_report(checks)


def test_dataset_found_in_keras_s_cache_says_so(isolated: Path, synthetic_dir: Path) -> None:
    keras_datasets = Path(os.environ["KERAS_HOME"]) / "datasets"
    keras_datasets.mkdir(parents=True)
    shutil.copytree(synthetic_dir, keras_datasets / data.FOLDER_NAME)

    found = _by_name(doctor.run_checks())["dataset"]

    assert found.status == "ok"
    assert found.detail == (
        f"extracted folder {keras_datasets / data.FOLDER_NAME} (from Keras's cache)"
    )


def test_dataset_found_in_the_loader_s_cache_says_so(isolated: Path, synthetic_dir: Path) -> None:
    shutil.copytree(synthetic_dir, isolated / data.FOLDER_NAME)

    found = _by_name(doctor.run_checks())["dataset"]

    assert found.detail == f"extracted folder {isolated / data.FOLDER_NAME} (from the cache)"


class _FakeDevice:
    name = "/physical_device:GPU:0"


def _fake_tf(gpus: list[dict[str, Any]], *, cuda: bool = True) -> Any:
    """A stand-in for the parts of TensorFlow the GPU checks read: its physical GPUs (each
    with the details TensorFlow reports) and whether it was built with CUDA."""
    details = iter(gpus)
    config = SimpleNamespace(
        list_physical_devices=lambda kind: [_FakeDevice() for _ in gpus] if kind == "GPU" else [],
        experimental=SimpleNamespace(get_device_details=lambda device: next(details)),
    )
    return SimpleNamespace(config=config, test=SimpleNamespace(is_built_with_cuda=lambda: cuda))


def test_gpu_check_lists_each_gpu_with_its_compute_capability() -> None:
    fake = _fake_tf(
        [{"device_name": "NVIDIA H100", "compute_capability": (9, 0)}, {}],
    )

    check = doctor._check_gpu(fake)

    assert check == doctor.Check(
        "gpu", "ok", "2: NVIDIA H100 (compute capability 9.0); /physical_device:GPU:0"
    )


def test_gpu_check_warns_when_a_driver_is_there_but_tensorflow_sees_no_gpu(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/nvidia-smi")

    check = doctor._check_gpu(_fake_tf([], cuda=True))

    assert check.status == "warn"
    assert "nvidia-smi" in check.detail
    assert "tensorflow[and-cuda]" in check.advice
    # A CPU-only TensorFlow beside a driver: nothing to fix in TensorFlow's install.
    assert doctor._check_gpu(_fake_tf([], cuda=False)) == doctor.Check(
        "gpu", "ok", "none: TensorFlow runs on the CPU"
    )


@pytest.mark.parametrize(
    ("policy", "why"),
    [
        ("mixed_float16", "a GPU with tensor cores (compute capability 7.0 or newer)"),
        ("float32", "the GPU is older than compute capability 7.0 (no tensor cores)"),
    ],
)
def test_precision_check_on_a_gpu_names_the_reason(
    monkeypatch: pytest.MonkeyPatch, policy: str, why: str
) -> None:
    from cifar_utils import training

    monkeypatch.setattr(training, "choose_precision", lambda setting: policy)

    check = doctor._check_precision(
        _fake_tf([{"device_name": "GPU", "compute_capability": (8, 0)}])
    )

    assert check.status == "ok"
    assert check.detail.endswith(f"(training.choose_setup): {why}")
    candidates = "float32" if policy == "float32" else f"float32 and {policy}"
    assert f'PRECISION="auto" measures {candidates}, each' in check.detail


# oneDNN ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("enabled", "setting", "machine", "gpus", "status", "detail"),
    [
        (
            True,
            "1",
            "x86_64",
            [],
            "ok",
            "TensorFlow's oneDNN CPU kernels are on (TF_ENABLE_ONEDNN_OPTS=1)",
        ),
        (True, None, "x86_64", [], "ok", "TensorFlow's oneDNN CPU kernels are on (unset)"),
        (None, None, "x86_64", [], "ok", "this TensorFlow build does not say (unset)"),
        (
            False,
            "0",
            "x86_64",
            [],
            "ok",
            "off, as TF_ENABLE_ONEDNN_OPTS=0 asks (on an AVX2-only "
            "CPU, 1 trained about twice as fast)",
        ),
        (False, None, "aarch64", [], "ok", "off (unset): not used on this machine"),
        (
            False,
            None,
            "x86_64",
            [{"device_name": "GPU"}],
            "ok",
            "off (unset): not used on this machine",
        ),
        (False, None, "x86_64", [], "warn", "TensorFlow's oneDNN CPU kernels are off (unset): "),
    ],
)
def test_onednn_check_reports_the_kernels_and_warns_only_when_left_off_by_default(
    monkeypatch: pytest.MonkeyPatch,
    enabled: bool | None,
    setting: str | None,
    machine: str,
    gpus: list[dict[str, Any]],
    status: str,
    detail: str,
) -> None:
    from cifar_utils import training

    monkeypatch.setattr(training, "onednn_enabled", lambda: enabled)
    monkeypatch.setattr(doctor.platform, "machine", lambda: machine)
    if setting is None:
        monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    else:
        monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", setting)

    check = doctor._check_onednn(_fake_tf(gpus))

    assert check.status == status
    assert check.detail.startswith(detail) and (status == "warn" or check.detail == detail)
    if status == "warn":
        assert check.advice.startswith("Set TF_ENABLE_ONEDNN_OPTS=1 before TensorFlow is imported")
        assert "training.prefer_onednn()" in check.advice
    else:
        assert check.advice == ""


def test_onednn_check_skips_without_tensorflow() -> None:
    assert doctor._check_onednn(None).status == "skip"


def test_command_line_doctor_reports_what_the_notebooks_get() -> None:
    """`python -m cifar_utils.doctor` asks for oneDNN as the notebooks' first cell does, so
    its report holds for them; an explicit TF_ENABLE_ONEDNN_OPTS=0 is left alone."""
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    env["CIFAR10_PATH"] = ""
    reports = {}
    for setting in (None, "0"):
        if setting is not None:
            env["TF_ENABLE_ONEDNN_OPTS"] = setting
        result = subprocess.run(
            [sys.executable, "-m", "cifar_utils.doctor", "--json"],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        checks = json.loads(result.stdout)["checks"]
        reports[setting] = next(check for check in checks if check["name"] == "onednn")
    assert reports[None]["status"] == "ok"
    assert reports[None]["detail"].endswith("(TF_ENABLE_ONEDNN_OPTS=1)")
    assert "TF_ENABLE_ONEDNN_OPTS=0" in reports["0"]["detail"]
