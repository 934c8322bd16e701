"""cifar_utils.data on the real CIFAR-10 archive (runs only when CIFAR10_PATH points to it).

The archive is extracted into pytest's temporary folders (``CIFAR10_DATA_DIR`` is set to
one), never into the project's ``data/`` folder. Run with, for example::

    CIFAR10_PATH=../shared/cifar10/cifar-10-python.tar.gz .venv/bin/pytest tests/test_data_real.py
"""

from __future__ import annotations

import os
import tarfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from cifar_utils import data

_REAL_PATH = os.environ.get("CIFAR10_PATH", "")

pytestmark = [
    pytest.mark.real_data,
    pytest.mark.slow,  # reads and checks the 163 MB archive
]  # real_data: skipped without CIFAR10_PATH, failed in CI (conftest.py)

Arrays = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


@pytest.fixture(scope="module")
def real_path() -> Path:
    return Path(_REAL_PATH).expanduser().resolve()


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """$CIFAR10_DATA_DIR in a temporary folder for the whole module."""
    directory = tmp_path_factory.mktemp("real_cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CIFAR10_DATA_DIR", str(directory))
        yield directory


@pytest.fixture(scope="module")
def loaded(real_path: Path, cache_dir: Path) -> Arrays:
    return data.load_cifar10(real_path, download=False)


@pytest.fixture(scope="module")
def extracted_by_tarfile(real_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The batch files, extracted independently of cifar_utils (plain tarfile)."""
    if real_path.is_dir():
        return data.find_cifar10(real_path)
    directory = tmp_path_factory.mktemp("real_extracted")
    with tarfile.open(real_path) as tar:
        members = [m for m in tar.getmembers() if m.name.startswith(f"{data.FOLDER_NAME}/")]
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tar.extractall(directory, members=members, **safe)
    return directory / data.FOLDER_NAME


def test_sizes_dtypes_and_class_counts(loaded: Arrays) -> None:
    (x_train, y_train), (x_test, y_test) = loaded
    assert x_train.shape == (50_000, 32, 32, 3) and x_train.dtype == np.uint8
    assert x_test.shape == (10_000, 32, 32, 3) and x_test.dtype == np.uint8
    assert y_train.shape == (50_000,) and y_train.dtype == np.int64
    assert y_test.shape == (10_000,) and y_test.dtype == np.int64
    assert np.bincount(y_train, minlength=10).tolist() == [5_000] * 10
    assert np.bincount(y_test, minlength=10).tolist() == [1_000] * 10
    assert x_train.flags.c_contiguous and x_test.flags.c_contiguous
    assert 0 < x_train.mean() < 255  # not all black or all white


def test_identical_to_keras_reader(loaded: Arrays, extracted_by_tarfile: Path) -> None:
    from keras.src.datasets.cifar import load_batch  # what keras.datasets.cifar10 uses

    (x_train, y_train), (x_test, y_test) = loaded
    start = 0
    for name in data.TRAIN_BATCH_NAMES:
        images, labels = load_batch(str(extracted_by_tarfile / name))
        stop = start + len(images)
        np.testing.assert_array_equal(x_train[start:stop], images.transpose(0, 2, 3, 1))
        np.testing.assert_array_equal(y_train[start:stop], labels)
        start = stop
    assert start == len(x_train)
    images, labels = load_batch(str(extracted_by_tarfile / data.TEST_BATCH_NAME))
    np.testing.assert_array_equal(x_test, images.transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(y_test, labels)


def test_extracted_folder_and_cache_give_the_same_arrays(
    loaded: Arrays, extracted_by_tarfile: Path, real_path: Path, cache_dir: Path
) -> None:
    from_folder = data.load_cifar10(extracted_by_tarfile, download=False)
    from_cache = data.load_cifar10(real_path, download=False)  # the extracted cache
    for other in (from_folder, from_cache):
        for (x, y), (x_other, y_other) in zip(loaded, other, strict=True):
            np.testing.assert_array_equal(x, x_other)
            np.testing.assert_array_equal(y, y_other)
    if real_path.is_file():
        assert (cache_dir / data.FOLDER_NAME / ".cifar_utils_source.json").is_file()


def test_batch_ids(real_path: Path, cache_dir: Path) -> None:
    ids = data.load_batch_ids(real_path, download=False)
    assert ids.shape == (50_000,) and ids.dtype == np.uint8
    assert np.bincount(ids).tolist() == [0] + [10_000] * 5
    assert (np.diff(ids) >= 0).all()


def test_split_train_val_on_real_labels(loaded: Arrays) -> None:
    (x_train, y_train), _ = loaded
    (x_fit, y_fit), (x_val, y_val) = data.split_train_val(x_train, y_train)
    assert x_fit.shape == (45_000, 32, 32, 3) and x_val.shape == (5_000, 32, 32, 3)
    assert np.bincount(y_val, minlength=10).tolist() == [500] * 10
    assert np.bincount(y_fit, minlength=10).tolist() == [4_500] * 10
