"""Tests of cifar_utils.training: seeding, where models live, atomic saving, precision
choice and test-time augmentation with flips."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
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
    monkeypatch.setattr(training.files, "project_root", lambda: None)
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


# choose_setup -----------------------------------------------------------------------------


def _tiny_batch(size: int = 8) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    images = rng.normal(size=(size, 8, 8, 3)).astype("float32")
    return images, keras.utils.to_categorical(rng.integers(0, 3, size), 3)


def _tiny_builder(calls: list[tuple[str, bool]]) -> Any:
    """A builder of a tiny compiled model that records (dtype policy, xla) of each call."""

    def build(xla: bool) -> keras.Model:
        calls.append((keras.config.dtype_policy().name, xla))
        model = keras.Sequential(
            [keras.Input((8, 8, 3)), layers.Conv2D(4, 3), layers.Flatten(), layers.Dense(3)]
        )
        model.compile(optimizer="sgd", loss="categorical_crossentropy", jit_compile=xla)
        return model

    return build


def _never_build(xla: bool) -> keras.Model:
    raise AssertionError("nothing should have been measured")


@pytest.fixture
def bf16_cpu(monkeypatch):
    """A CPU with native bfloat16 and no GPU."""
    monkeypatch.setattr(training, "_cpu_flags", lambda: {"avx512_bf16"})
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [])


def test_choose_setup_measures_every_candidate_and_keeps_the_fastest(
    tmp_path, monkeypatch, bf16_cpu
):
    speeds = {
        ("float32", False): 300.0,
        ("float32", True): 350.0,
        ("mixed_bfloat16", False): 650.0,
        ("mixed_bfloat16", True): 320.0,
    }
    measured = []

    def fake_measure(build_model, images, labels, precision, xla, *, steps, seed):
        measured.append((precision, xla))
        return speeds[(precision, xla)]

    monkeypatch.setattr(training, "_measure_candidate", fake_measure)
    images, labels = _tiny_batch()
    setup = training.choose_setup(
        _never_build, images, labels, name="m", cache=tmp_path / "setups.json"
    )
    assert sorted(measured) == sorted(speeds)
    assert (setup.precision, setup.xla) == ("mixed_bfloat16", False)
    assert setup.speeds == {
        "float32": 300.0,
        "float32+XLA": 350.0,
        "mixed_bfloat16": 650.0,
        "mixed_bfloat16+XLA": 320.0,
    }
    line = str(setup)
    assert line.startswith("training setup: mixed_bfloat16, without XLA; measured on ")
    assert "float32+XLA 350" in line and "mixed_bfloat16 650" in line
    assert "earlier run" not in line

    # The next run reads the decision from the cache and measures nothing.
    measured.clear()
    again = training.choose_setup(
        _never_build, images, labels, name="m", cache=tmp_path / "setups.json"
    )
    assert measured == []
    assert (again.precision, again.xla, again.speeds) == (
        setup.precision,
        setup.xla,
        setup.speeds,
    )
    assert again.cached and str(again).endswith("(measured by an earlier run)")

    # Another model, or another batch size, is measured afresh.
    training.choose_setup(
        _never_build, images, labels, name="other", cache=tmp_path / "setups.json"
    )
    assert len(measured) == 4
    training.choose_setup(
        _never_build, images[:4], labels[:4], name="m", cache=tmp_path / "setups.json"
    )
    assert len(measured) == 8


def test_choose_setup_explicit_values_narrow_the_candidates(tmp_path, monkeypatch, bf16_cpu):
    measured = []

    def fake_measure(build_model, images, labels, precision, xla, *, steps, seed):
        measured.append((precision, xla))
        return 100.0 + xla

    monkeypatch.setattr(training, "_measure_candidate", fake_measure)
    images, labels = _tiny_batch()
    setup = training.choose_setup(
        _never_build, images, labels, name="m", precision="float32", cache=tmp_path / "a.json"
    )
    assert sorted(measured) == [("float32", False), ("float32", True)]
    assert (setup.precision, setup.xla) == ("float32", True)

    measured.clear()
    setup = training.choose_setup(
        _never_build, images, labels, name="m", xla=False, cache=tmp_path / "b.json"
    )
    assert sorted(measured) == [("float32", False), ("mixed_bfloat16", False)]

    # Both fixed: nothing to measure, nothing cached.
    measured.clear()
    setup = training.choose_setup(
        _never_build,
        images,
        labels,
        name="m",
        precision="mixed_bfloat16",
        xla=True,
        cache=tmp_path / "c.json",
    )
    assert measured == [] and not (tmp_path / "c.json").exists()
    assert (setup.precision, setup.xla, setup.speeds) == ("mixed_bfloat16", True, {})
    assert str(setup) == (
        "training setup: mixed_bfloat16, with XLA (as set in the parameters, nothing measured)"
    )


def test_choose_setup_without_native_bfloat16_measures_float32_only(tmp_path, monkeypatch):
    monkeypatch.setattr(training, "_cpu_flags", lambda: {"avx2"})
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [])
    measured = []

    def fake_measure(build_model, images, labels, precision, xla, *, steps, seed):
        measured.append((precision, xla))
        return 100.0

    monkeypatch.setattr(training, "_measure_candidate", fake_measure)
    images, labels = _tiny_batch()
    training.choose_setup(_never_build, images, labels, name="m", cache=tmp_path / "s.json")
    assert sorted(measured) == [("float32", False), ("float32", True)]


def test_choose_setup_deterministic_keeps_float32_without_xla(tmp_path, bf16_cpu):
    images, labels = _tiny_batch()
    setup = training.choose_setup(
        _never_build,
        images,
        labels,
        name="m",
        deterministic=True,
        cache=tmp_path / "s.json",
    )
    assert (setup.precision, setup.xla, setup.speeds) == ("float32", False, {})
    assert set(setup.skipped) == {"mixed_bfloat16", "XLA"}
    line = str(setup)
    assert line.startswith("training setup: float32, without XLA; mixed_bfloat16 left out")
    assert "DETERMINISTIC" in line and "nothing measured" not in line

    # An explicit precision still wins; XLA stays off (Keras would turn it off anyway).
    setup = training.choose_setup(
        _never_build,
        images,
        labels,
        name="m",
        precision="mixed_bfloat16",
        deterministic=True,
        cache=tmp_path / "s.json",
    )
    assert (setup.precision, setup.xla) == ("mixed_bfloat16", False)
    assert set(setup.skipped) == {"XLA"}


@pytest.mark.slow
def test_choose_setup_really_measures_and_leaves_no_global_state(tmp_path, monkeypatch):
    monkeypatch.setattr(training, "_cpu_flags", lambda: {"avx512_bf16"})
    calls: list[tuple[str, bool]] = []
    images, labels = _tiny_batch()
    before = keras.config.dtype_policy().name
    setup = training.choose_setup(
        _tiny_builder(calls),
        images,
        labels,
        name="tiny",
        steps=2,
        seed=7,
        cache=tmp_path / "s.json",
    )
    assert sorted(calls) == [
        ("float32", False),
        ("float32", True),
        ("mixed_bfloat16", False),
        ("mixed_bfloat16", True),
    ]
    assert set(setup.speeds) == {"float32", "float32+XLA", "mixed_bfloat16", "mixed_bfloat16+XLA"}
    assert all(speed > 0 for speed in setup.speeds.values())
    assert setup.speeds[training._candidate_name(setup.precision, setup.xla)] == max(
        setup.speeds.values()
    )
    assert keras.config.dtype_policy().name == before  # restored
    # Seeded on return as set_seed(7) seeds, whether measured or read from the cache.
    after_measuring = [random.random() for _ in range(3)]
    training.choose_setup(
        _tiny_builder(calls),
        images,
        labels,
        name="tiny",
        steps=2,
        seed=7,
        cache=tmp_path / "s.json",
    )
    after_cache = [random.random() for _ in range(3)]
    training.set_seed(7)
    assert after_measuring == [random.random() for _ in range(3)]
    assert after_cache == after_measuring
    assert len(calls) == 4  # the second call measured nothing


def test_choose_setup_damaged_cache_is_measured_again_and_replaced(tmp_path, monkeypatch):
    monkeypatch.setattr(training, "_cpu_flags", lambda: set())
    monkeypatch.setattr(
        training,
        "_measure_candidate",
        lambda build_model, images, labels, precision, xla, **kwargs: 200.0 if xla else 100.0,
    )
    cache = tmp_path / "s.json"
    cache.write_text("{not json")
    images, labels = _tiny_batch()
    setup = training.choose_setup(_never_build, images, labels, name="m", cache=cache)
    assert (setup.precision, setup.xla, setup.cached) == ("float32", True, False)
    assert training.choose_setup(_never_build, images, labels, name="m", cache=cache).cached


def test_choose_setup_cache_defaults_to_the_environment_variable(tmp_path, monkeypatch):
    monkeypatch.setenv(training.SETUP_CACHE_ENV_VAR, str(tmp_path / "mine.json"))
    assert training.default_setup_cache() == tmp_path / "mine.json"
    monkeypatch.delenv(training.SETUP_CACHE_ENV_VAR)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert training.default_setup_cache() == tmp_path / ".cache/cifar_utils/training_setups.json"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"precision": "bfloat16"}, "precision must be one of"),
        ({"xla": "yes"}, "xla must be 'auto', True or False"),
        ({"steps": 0}, "steps must be a positive integer"),
        ({"steps": True}, "steps must be a positive integer"),
    ],
)
def test_choose_setup_rejects_bad_arguments(tmp_path, kwargs, message):
    images, labels = _tiny_batch()
    with pytest.raises(ValueError, match=message):
        training.choose_setup(
            _never_build, images, labels, name="m", cache=tmp_path / "s.json", **kwargs
        )


def test_choose_setup_rejects_a_batch_that_does_not_match_its_labels(tmp_path):
    images, labels = _tiny_batch()
    with pytest.raises(ValueError, match=r"one batch of shape \(B, H, W, C\) with B labels"):
        training.choose_setup(_never_build, images, labels[:3], name="m", cache=tmp_path / "s")
    with pytest.raises(ValueError, match="one batch of shape"):
        training.choose_setup(_never_build, images[0], labels, name="m", cache=tmp_path / "s")


# oneDNN ---------------------------------------------------------------------------------


def test_prefer_onednn_sets_the_variable_before_tensorflow_is_imported() -> None:
    """In a fresh interpreter: the variable is set, and TensorFlow then uses oneDNN."""
    code = (
        "import os, sys\n"
        "from cifar_utils import training\n"
        "print(training.prefer_onednn(), os.environ['TF_ENABLE_ONEDNN_OPTS'],\n"
        "      'tensorflow' in sys.modules, training.onednn_enabled())\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert result.stdout.split() == ["True", "1", "False", "True"]


def test_prefer_onednn_leaves_the_users_choice_alone(monkeypatch) -> None:
    for setting in ("0", "1"):
        monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", setting)
        assert training.prefer_onednn() is False
        assert os.environ["TF_ENABLE_ONEDNN_OPTS"] == setting


def test_prefer_onednn_after_tensorflow_is_imported_says_it_is_too_late(monkeypatch) -> None:
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    assert "tensorflow" in sys.modules  # imported by this test module
    with pytest.raises(
        RuntimeError, match=r"before TensorFlow is imported.*TF_ENABLE_ONEDNN_OPTS=1"
    ):
        training.prefer_onednn()
    assert "TF_ENABLE_ONEDNN_OPTS" not in os.environ  # nothing half-done


def test_choose_setup_measures_again_when_onednn_is_switched(tmp_path, monkeypatch) -> None:
    """oneDNN changes which setup is fastest (XLA on an AVX2 CPU without it, not with it):
    a decision measured with one is not reused with the other."""
    monkeypatch.setattr(training, "_cpu_flags", lambda: set())
    measured = []

    def fake_measure(build_model, images, labels, precision, xla, *, steps, seed):
        measured.append((precision, xla))
        return 200.0 if xla else 100.0

    monkeypatch.setattr(training, "_measure_candidate", fake_measure)
    images, labels = _tiny_batch()
    cache = tmp_path / "s.json"
    for enabled, expected in ((False, 2), (False, 2), (True, 4), (True, 4), (None, 6)):
        monkeypatch.setattr(training, "onednn_enabled", lambda enabled=enabled: enabled)
        training.choose_setup(_never_build, images, labels, name="m", cache=cache)
        assert len(measured) == expected
    keys = json.loads(cache.read_text())
    assert sorted(key.split(" | ")[3] for key in keys) == [
        "oneDNN off",
        "oneDNN on",
        "oneDNN unknown",
    ]
