"""Tests of cifar_utils.training: seeding, where models live, atomic saving, precision
choice and test-time augmentation with flips."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers

from cifar_utils import data, training

# Keras 3.15 saving calls np.array(x, copy=False) on a TensorFlow variable (its own
# business, not ours); keep that warning out of the test report.
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)

REPO_ROOT = Path(__file__).resolve().parent.parent


# set_seed ---------------------------------------------------------------------------------


def _random_draws() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """NumPy numbers, Keras random numbers and freshly initialised Keras weights."""
    dense = layers.Dense(4)
    dense.build((None, 3))
    return (
        np.random.rand(3),  # noqa: NPY002 (the global generator is what set_seed seeds)
        keras.ops.convert_to_numpy(keras.random.normal((3,))),
        keras.ops.convert_to_numpy(dense.kernel),
    )


def test_set_seed_makes_numpy_and_keras_reproducible():
    training.set_seed(123)
    first = _random_draws()
    training.set_seed(123)
    second = _random_draws()
    training.set_seed(124)
    other = _random_draws()

    for a, b, c in zip(first, second, other, strict=True):
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, c)


def test_set_seed_accepts_numpy_integers():
    training.set_seed(np.int64(5))
    first = np.random.rand(2)  # noqa: NPY002 (the global generator is what set_seed seeds)
    training.set_seed(5)
    np.testing.assert_array_equal(np.random.rand(2), first)  # noqa: NPY002


@pytest.mark.parametrize("seed", [-1, True, False, 1.5, "3", None])
def test_set_seed_rejects_bad_seeds(seed):
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        training.set_seed(seed)


# default_model_dir ------------------------------------------------------------------------


def test_default_model_dir_honours_the_environment_variable(tmp_path, monkeypatch):
    target = tmp_path / "elsewhere" / "models"
    monkeypatch.setenv(training.MODEL_DIR_ENV_VAR, str(target))
    assert training.MODEL_DIR_ENV_VAR == "CIFAR10_MODEL_DIR"
    assert training.default_model_dir() == target
    assert not target.exists(), "default_model_dir must not create the folder"


def test_default_model_dir_expands_the_user(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv(training.MODEL_DIR_ENV_VAR, "~/trained")
    assert training.default_model_dir() == tmp_path / "trained"


@pytest.mark.parametrize("value", [None, ""])
def test_default_model_dir_is_models_in_the_checkout(monkeypatch, value):
    if value is None:
        monkeypatch.delenv(training.MODEL_DIR_ENV_VAR, raising=False)
    else:
        monkeypatch.setenv(training.MODEL_DIR_ENV_VAR, value)
    assert training.default_model_dir() == REPO_ROOT / "models"


def test_default_model_dir_outside_a_checkout_uses_the_user_cache(monkeypatch, tmp_path):
    monkeypatch.delenv(training.MODEL_DIR_ENV_VAR, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr(training, "_project_root", lambda: None)
    assert training.default_model_dir() == tmp_path / ".cache" / "cifar_utils" / "models"


# save_model -------------------------------------------------------------------------------


class _FakeModel:
    """Stands in for a Keras model: records where it was saved, optionally fails halfway."""

    def __init__(self, content: bytes = b"model", fail: bool = False) -> None:
        self.content = content
        self.fail = fail
        self.saved_to: list[Path] = []
        self.destination_existed: list[bool] = []

    def save(self, filepath: Any) -> None:
        filepath = Path(filepath)
        self.saved_to.append(filepath)
        filepath.write_bytes(self.content[: len(self.content) // 2] if self.fail else self.content)
        if self.fail:
            raise OSError("disk full")


def test_save_model_writes_a_temporary_file_then_renames_it(tmp_path):
    destination = tmp_path / "model.keras"
    model = _FakeModel(b"new model")

    original_replace = os.replace
    seen: list[tuple[Path, Path, bool]] = []

    def spy_replace(source, target):
        seen.append((Path(source), Path(target), Path(target).exists()))
        original_replace(source, target)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "replace", spy_replace)
        returned = training.save_model(model, destination)

    assert returned == destination
    (temporary,) = model.saved_to
    assert temporary != destination
    assert temporary.parent == destination.parent, "rename is atomic only on one filesystem"
    assert temporary.suffix == ".keras", "Keras 3 refuses to save to other suffixes"
    assert seen == [(temporary, destination, False)]
    assert destination.read_bytes() == b"new model"
    assert sorted(tmp_path.iterdir()) == [destination], "no temporary file may remain"


def test_save_model_replaces_an_existing_model(tmp_path):
    destination = tmp_path / "model.keras"
    destination.write_bytes(b"old model")
    training.save_model(_FakeModel(b"new model"), str(destination))
    assert destination.read_bytes() == b"new model"
    assert sorted(tmp_path.iterdir()) == [destination]


def test_failing_save_leaves_no_file(tmp_path):
    destination = tmp_path / "model.keras"
    model = _FakeModel(fail=True)
    with pytest.raises(OSError, match="disk full"):
        training.save_model(model, destination)
    assert model.saved_to, "the model was asked to save"
    assert list(tmp_path.iterdir()) == [], "neither the destination nor a temporary file"


def test_failing_save_keeps_the_previous_model(tmp_path):
    destination = tmp_path / "model.keras"
    destination.write_bytes(b"old model")
    with pytest.raises(OSError):
        training.save_model(_FakeModel(fail=True), destination)
    assert destination.read_bytes() == b"old model"
    assert sorted(tmp_path.iterdir()) == [destination]


def test_save_model_creates_missing_folders(tmp_path):
    destination = tmp_path / "a" / "b" / "resnet.v2.keras"
    training.save_model(_FakeModel(), destination)
    assert destination.read_bytes() == b"model"
    assert sorted(destination.parent.iterdir()) == [destination]


@pytest.mark.parametrize("name", ["model.h5", "model", "model.keras.tmp", "model.KERAS2"])
def test_save_model_rejects_other_suffixes(tmp_path, name):
    model = _FakeModel()
    with pytest.raises(ValueError, match=r"\.keras"):
        training.save_model(model, tmp_path / "sub" / name)
    assert model.saved_to == []
    assert list(tmp_path.iterdir()) == []


def test_save_model_with_a_real_model(tmp_path):
    model = keras.Sequential([keras.Input((3,)), layers.Dense(2)], name="tiny")
    path = training.save_model(model, tmp_path / "tiny.keras")
    loaded = keras.models.load_model(path)
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert sorted(tmp_path.iterdir()) == [path]


# choose_precision -------------------------------------------------------------------------


@pytest.mark.parametrize("precision", ["float32", "mixed_bfloat16", "mixed_float16"])
def test_choose_precision_returns_explicit_values(precision, monkeypatch):
    monkeypatch.setattr(training, "_cpu_flags", lambda: {"avx512_bf16"})
    assert training.choose_precision(precision) == precision


@pytest.mark.parametrize("precision", ["bfloat16", "float16", "", "AUTO", None, 32])
def test_choose_precision_rejects_unknown_values(precision):
    with pytest.raises(ValueError, match="precision must be one of"):
        training.choose_precision(precision)


def _fake_gpus(monkeypatch, capabilities: list[Any]) -> None:
    """Make TensorFlow report one GPU per entry of `capabilities` (None: no detail)."""
    gpus = [f"GPU:{index}" for index in range(len(capabilities))]
    details = dict(zip(gpus, capabilities, strict=True))

    def list_devices(device_type=None):
        return list(gpus) if device_type == "GPU" else []

    def device_details(device):
        capability = details[device]
        return {} if capability is None else {"compute_capability": capability}

    monkeypatch.setattr(tf.config, "list_physical_devices", list_devices)
    monkeypatch.setattr(tf.config.experimental, "get_device_details", device_details)


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (set(), "float32"),
        ({"avx2", "fma"}, "float32"),
        ({"avx512_bf16"}, "mixed_bfloat16"),
        ({"amx_bf16", "avx2"}, "mixed_bfloat16"),
    ],
)
def test_choose_precision_auto_on_cpu(monkeypatch, flags, expected):
    _fake_gpus(monkeypatch, [])
    monkeypatch.setattr(training, "_cpu_flags", lambda: flags)
    assert training.choose_precision() == expected
    assert training.choose_precision("auto") == expected


@pytest.mark.parametrize(
    ("capabilities", "expected"),
    [
        ([(8, 0)], "mixed_float16"),
        ([(7, 0)], "mixed_float16"),
        ([(6, 1)], "float32"),
        ([None], "float32"),
        ([(6, 1), (9, 0)], "mixed_float16"),
    ],
)
def test_choose_precision_auto_on_gpu(monkeypatch, capabilities, expected):
    _fake_gpus(monkeypatch, capabilities)
    # A GPU decides, whatever the CPU can do.
    monkeypatch.setattr(training, "_cpu_flags", lambda: {"avx512_bf16"})
    assert training.choose_precision() == expected


def test_choose_precision_does_not_set_the_policy(monkeypatch):
    _fake_gpus(monkeypatch, [])
    monkeypatch.setattr(training, "_cpu_flags", lambda: {"avx512_bf16"})
    before = keras.config.dtype_policy().name
    assert training.choose_precision() == "mixed_bfloat16"
    assert keras.config.dtype_policy().name == before


def test_cpu_flags_returns_a_set_of_words():
    flags = training._cpu_flags()
    assert isinstance(flags, set)
    assert all(isinstance(flag, str) and flag and " " not in flag for flag in flags)


# predict_tta ------------------------------------------------------------------------------


def _dense_model(*, symmetric: bool) -> keras.Model:
    """A tiny classifier; with `symmetric=True` exactly invariant to left-right mirroring."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((32, 32, 3))
    x = inputs
    if symmetric:
        # x + mirror(x) is the same array for an image and its mirror (addition commutes).
        x = layers.Lambda(lambda t: t + keras.ops.flip(t, axis=2))(x)
    x = layers.Flatten()(x)
    outputs = layers.Dense(10, activation="softmax")(x)
    return keras.Model(inputs, outputs)


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, size=(10, 32, 32, 3), dtype=np.uint8)


def _shift(images: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Shift by (rows, cols) pixels, reflecting at the edges, by plain indexing."""
    height, width = images.shape[1:3]

    def reflect(index: int, size: int) -> int:
        return -index if index < 0 else 2 * (size - 1) - index if index >= size else index

    row_index = [reflect(r - rows, height) for r in range(height)]
    col_index = [reflect(c - cols, width) for c in range(width)]
    return images[:, row_index][:, :, col_index]


def test_predict_tta_weights_the_six_views_like_airbench(images):
    model = _dense_model(symmetric=False)
    normalized = data.normalize(images)

    def pair(views: np.ndarray) -> np.ndarray:
        return (model.predict(views, verbose=0) + model.predict(views[:, :, ::-1], verbose=0)) / 2

    expected = (
        pair(normalized) / 2
        + (pair(_shift(normalized, 1, 1)) + pair(_shift(normalized, -1, -1))) / 4
    )
    result = training.predict_tta(model, normalized, batch_size=3)

    assert result.dtype == np.float32 and result.shape == (10, 10)
    np.testing.assert_allclose(result, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(result.sum(axis=1), 1.0, rtol=1e-5)
    flips_only = training.predict_tta(model, normalized, translate=False)
    np.testing.assert_allclose(flips_only, pair(normalized), rtol=1e-5, atol=1e-6)
    assert not np.allclose(result, flips_only, rtol=1e-3)


def test_predict_tta_rejects_images_of_the_wrong_shape():
    with pytest.raises(ValueError, match="shape"):
        training.predict_tta(_dense_model(symmetric=True), np.zeros((2, 32, 32)))
