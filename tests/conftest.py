"""Shared fixtures: synthetic CIFAR-10 archives and an isolated data environment.

``synthetic_archive`` and ``synthetic_dir`` are built once per session and shared: read
them, never modify them (use ``make_cifar_archive`` for something to damage).

Tests marked ``real_data`` need the real archive in ``$CIFAR10_PATH``: without it they
skip, except in CI (``CI=true``), where they fail, since CI always has it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from synthetic import make_files, write_archive, write_folder, write_synthetic_archive

REAL_PATH = os.environ.get("CIFAR10_PATH", "")
"""The real archive's path, read before any fixture changes the environment ("" if unset)."""

IN_CI = os.environ.get("CI") == "true"

# The tests run TensorFlow as the notebooks do: with oneDNN asked for before TensorFlow is
# imported (training.prefer_onednn), also on AVX2-only CPUs where it is off by default.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")


def missing_real_archive() -> str | None:
    """Why the real archive cannot be used (None when ``$CIFAR10_PATH`` names a file)."""
    if REAL_PATH and Path(REAL_PATH).is_file():
        return None
    return (
        "set CIFAR10_PATH to the real cifar-10-python.tar.gz to run "
        f"(CIFAR10_PATH is {REAL_PATH or 'unset'}"
        f"{'' if not REAL_PATH else ': no such file'})"
    )


def pytest_runtest_setup(item: pytest.Item) -> None:
    """A ``real_data`` test without the real archive: skipped, or failed in CI."""
    if item.get_closest_marker("real_data") is None:
        return
    reason = missing_real_archive()
    if reason is None:
        return
    if IN_CI:
        pytest.fail(f"CI=true and the real archive is missing: {reason}; .ci/run sets it")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def synthetic_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic ``cifar-10-python.tar.gz`` (100 images per batch, 100 test images)."""
    directory = tmp_path_factory.mktemp("synthetic_archive")
    return write_synthetic_archive(directory / "cifar-10-python.tar.gz")


@pytest.fixture(scope="session")
def synthetic_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An extracted synthetic ``cifar-10-batches-py/`` folder (same content as the archive)."""
    directory = tmp_path_factory.mktemp("synthetic_dir")
    return write_folder(directory, make_files())


@pytest.fixture
def make_cifar_archive(tmp_path: Path) -> Callable[..., Path]:
    """Factory writing small official-layout archives (or folders) into `tmp_path`.

    Call it as ``make_cifar_archive(n_per_batch=10, n_test=10, seed=0, files=None,
    name="cifar-10-python.tar.gz", compress=True, folder=False)``. ``files`` (name ->
    dict to pickle, or raw bytes; ``None`` values drop the file) replaces or removes files
    of the generated set. With ``folder=True`` it writes an extracted folder under
    ``tmp_path / name`` and returns the ``cifar-10-batches-py`` folder.
    """

    def make(
        *,
        n_per_batch: int = 10,
        n_test: int = 10,
        seed: int = 0,
        files: dict[str, Any] | None = None,
        name: str = "cifar-10-python.tar.gz",
        compress: bool = True,
        folder: bool = False,
    ) -> Path:
        contents: dict[str, Any] = dict(
            make_files(n_per_batch=n_per_batch, n_test=n_test, seed=seed)
        )
        for file_name, content in (files or {}).items():
            if content is None:
                contents.pop(file_name, None)
            else:
                contents[file_name] = content
        if folder:
            return write_folder(tmp_path / name, contents)
        return write_archive(tmp_path / name, contents, compress=compress)

    return make


@pytest.fixture
def cifar_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Isolate the loader: empty cache dir and Keras home in `tmp_path`, no CIFAR10_PATH.

    Returns:
        The cache folder (``$CIFAR10_DATA_DIR``), not created yet.
    """
    data_dir = tmp_path / "cache"
    monkeypatch.setenv("CIFAR10_DATA_DIR", str(data_dir))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.delenv("CIFAR10_PATH", raising=False)
    return data_dir


@pytest.fixture(autouse=True, scope="session")
def _isolated_user_folders(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Tests never write to the user's folders: the data cache (a synthetic archive
    extracted there would later pass for CIFAR-10), trained models, figures and
    ``training.choose_setup``'s measurements go to temporary folders, for the tests and
    for the notebook kernels they start (which inherit the environment)."""
    root = tmp_path_factory.mktemp("user_folders")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CIFAR10_DATA_DIR", str(root / "data"))
        patch.setenv("CIFAR10_MODEL_DIR", str(root / "models"))
        patch.setenv("CIFAR10_SETUP_CACHE", str(root / "training_setups.json"))
        patch.setenv("CIFAR10_FIGURE_DIR", str(root / "figures"))
        yield root


@pytest.fixture(scope="session")
def pooled_classifier() -> Callable[..., Any]:
    """Factory of the tiny stand-in classifier: 32 x 32 x 3 images -> global average
    pooling -> ``Dense(classes)``.

    Call it as ``pooled_classifier(classes=10, activation="softmax", kernel=None,
    bias=None)``; ``kernel`` (3 x classes, one row per colour channel) and ``bias`` set the
    weights, so that a test knows what the model answers (zeros where not given).
    """
    import keras
    import numpy as np

    def build(
        classes: int = 10,
        activation: str | None = "softmax",
        kernel: Any = None,
        bias: Any = None,
    ) -> keras.Model:
        model = keras.Sequential(
            [
                keras.Input((32, 32, 3)),
                keras.layers.GlobalAveragePooling2D(),
                keras.layers.Dense(classes, activation=activation),
            ]
        )
        if kernel is not None or bias is not None:
            model.layers[-1].set_weights(
                [
                    np.zeros((3, classes), np.float32) if kernel is None else kernel,
                    np.zeros(classes, np.float32) if bias is None else bias,
                ]
            )
        return model

    return build
