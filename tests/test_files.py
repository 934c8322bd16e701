"""Tests of cifar_utils.files: atomic writes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cifar_utils import files


def test_atomic_path_moves_the_complete_file_into_place(tmp_path):
    target = tmp_path / "report.json"
    target.write_text("old")
    with files.atomic_path(target) as temporary:
        assert temporary.parent == target.parent, "a rename is atomic only within a folder"
        assert temporary.name.startswith(".")
        assert not temporary.exists(), "created by the writer, with the usual permissions"
        temporary.write_text("new")
        assert target.read_text() == "old", "the old file stays until the block succeeds"
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


@pytest.mark.parametrize(
    ("name", "suffix"),
    [
        ("epoch-0003.weights.h5", ".weights.h5"),  # Keras's save_weights insists on it
        ("resnet.keras", ".keras"),  # and model.save on this one
        ("cifar-10-python.tar.gz", ".tar.gz"),
        ("state", ""),
    ],
)
def test_atomic_path_keeps_the_suffixes(tmp_path, name, suffix):
    with files.atomic_path(tmp_path / name) as temporary:
        assert temporary.name.endswith(f".partial{suffix}")
        temporary.write_text("x")
    assert (tmp_path / name).read_text() == "x"


def test_atomic_path_leaves_the_old_file_when_the_writer_fails(tmp_path):
    target = tmp_path / "model.keras"
    target.write_bytes(b"old model")
    with pytest.raises(KeyboardInterrupt), files.atomic_path(target) as temporary:
        temporary.write_bytes(b"half a mod")
        raise KeyboardInterrupt  # killed in the middle of the write
    assert target.read_bytes() == b"old model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.keras"]


def test_atomic_path_without_a_written_file_raises_and_keeps_the_old_one(tmp_path):
    target = tmp_path / "figure.png"
    target.write_bytes(b"old")
    with pytest.raises(FileNotFoundError), files.atomic_path(target):
        pass
    assert target.read_bytes() == b"old"


def test_atomic_path_creates_the_folder_and_uses_unique_names(tmp_path):
    target = tmp_path / "a" / "b" / "state.json"
    with files.atomic_path(target) as first, files.atomic_path(target) as second:
        assert first != second, "two writers never share a temporary file"
        first.write_text("1")
        second.write_text("2")
    assert target.read_text() == "1"  # the outer block finishes last
    assert os.listdir(target.parent) == ["state.json"]


def test_atomic_path_accepts_strings(tmp_path):
    with files.atomic_path(str(tmp_path / "x.txt")) as temporary:
        assert isinstance(temporary, Path)
        temporary.write_text("ok")
    assert (tmp_path / "x.txt").read_text() == "ok"


# The project's folders ----------------------------------------------------------------------

REPO_ROOT = Path(__file__).resolve().parent.parent


def test_project_root_is_the_checkout_and_none_when_installed(monkeypatch, tmp_path):
    assert files.project_root() == REPO_ROOT
    monkeypatch.setattr(files, "_ROOT", tmp_path)  # an installed package: no pyproject beside
    assert files.project_root() is None


@pytest.mark.parametrize("beside", ["pyproject.toml", "notebooks"])
def test_project_root_needs_both_the_pyproject_and_the_notebooks(monkeypatch, tmp_path, beside):
    """Another project's pyproject.toml (or a stray notebooks/ folder) beside an installed
    package is not this checkout (mutmut survivor: `and` -> `or`)."""
    if beside == "notebooks":
        (tmp_path / "notebooks").mkdir()
    else:
        (tmp_path / "pyproject.toml").write_text("[project]\n")
    monkeypatch.setattr(files, "_ROOT", tmp_path)
    assert files.project_root() is None
    (tmp_path / "notebooks").mkdir(exist_ok=True)
    (tmp_path / "pyproject.toml").write_text("[project]\n")
    assert files.project_root() == tmp_path


def test_project_folder_does_not_depend_on_the_working_directory(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert files.project_folder("models") == REPO_ROOT / "models"
    assert files.project_folder("build", "figures") == REPO_ROOT / "build" / "figures"
    assert not (tmp_path / "models").exists()


def test_project_folder_without_a_checkout_is_in_the_working_directory(monkeypatch, tmp_path):
    monkeypatch.setattr(files, "project_root", lambda: None)
    monkeypatch.chdir(tmp_path)
    assert files.project_folder("figures", "01") == tmp_path / "figures" / "01"


def test_shorten_paths_writes_paths_that_hold_on_any_machine(tmp_path):
    root, home = tmp_path / "work" / "checkout", tmp_path / "home" / "student"
    text = (
        f"saved {root}/models/resnet.keras; data {tmp_path}/work/shared/c.tar.gz, "
        f"cache {home}/.cache/x/ and {tmp_path}/elsewhere/y"
    )
    assert files.shorten_paths(text, root, home) == (
        "saved models/resnet.keras; data ../shared/c.tar.gz, "
        f"cache ~/.cache/x/ and {tmp_path}/elsewhere/y"
    )


def test_shorten_paths_defaults_to_this_checkout(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # the checkout, not the working directory
    assert files.shorten_paths(f"saved {REPO_ROOT}/models/a.keras") == "saved models/a.keras"
