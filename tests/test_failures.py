"""Clear failures: running a real notebook of the series in the wrong order, with a wrong
parameter, or offline without the dataset gives one message that says what to run or set,
not a long traceback.

The notebooks run through the series runner (papermill, a real kernel) in the quick
profile, on a small synthetic archive or on none at all; each test takes under a minute.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from synthetic import write_synthetic_archive

from cifar_utils import series

pytestmark = pytest.mark.slow  # real training or notebook runs: not in make test-fast

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("archive")
    return write_synthetic_archive(folder / "cifar-10-python.tar.gz", n_per_batch=100, n_test=100)


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No dataset anywhere the loader looks, and no model: a fresh machine."""
    monkeypatch.delenv("CIFAR10_PATH", raising=False)
    monkeypatch.setenv("CIFAR10_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    (tmp_path / "home").mkdir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path


def _run(out: Path, *args: str) -> int:
    return series.main(
        [
            "--notebooks-dir", str(ROOT / "notebooks"),
            "--profile", "quick",
            "--output-dir", str(out),
            "--quiet",
            *args,
        ]
    )  # fmt: skip


def _one_message(err: str) -> str:
    """The runner's error report, checked to hold no Python traceback."""
    assert "Traceback (most recent call last)" not in err
    assert err.count("error:") == 1, err
    return err


def test_error_analysis_asked_for_own_models_before_training_says_which_notebook_to_run(
    isolated, archive, capsys
):
    code = _run(
        isolated / "out", "--only", "05", "--data-path", str(archive),
        "-p", "VAL_SIZE", "100", "-p", "MODEL_SOURCE", "own",
    )  # fmt: skip
    err = _one_message(capsys.readouterr().err)
    assert code == 1
    assert "05_error_analysis failed" in err
    assert "FileNotFoundError: no trained model at" in err
    assert "run notebook 03_resnet.ipynb first (or `make run`" in err


def test_predictions_before_training_use_the_shipped_model_and_say_so(isolated, archive, capsys):
    """Without a model of one's own, 04 answers with the shipped ResNet (it used to train a
    stand-in for minutes), and its output says so."""
    code = _run(
        isolated / "out", "--only", "04", "--data-path", str(archive),
        "-p", "MODEL_SOURCE", "auto", "-p", "NUM_TEST_IMAGES", "4",
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    notebook = (isolated / "out" / "04_predictions.ipynb").read_text()
    assert "the shipped model: resnet.keras, trained by 03_resnet" in notebook
    assert "stand-in" not in notebook


def test_offline_without_the_dataset_says_what_to_set(isolated, capsys, monkeypatch):
    # Any download attempt goes to a closed local port: offline, deterministically.
    for name in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    code = _run(isolated / "out", "--only", "01")
    err = _one_message(capsys.readouterr().err)
    assert code == 1
    assert "01_data_exploration failed" in err
    assert "could not download" in err and "CIFAR10_PATH" in err


def test_wrong_parameter_type_is_rejected_before_anything_runs(isolated, capsys):
    code = _run(isolated / "out", "--only", "03", "-p", "EPOCHS", "ten")
    err = capsys.readouterr().err
    assert code == 2
    assert "EPOCHS" in err and "int" in err and "nothing was run" in err
    assert not (isolated / "out" / "03_resnet.ipynb").exists()
