"""Tests of cifar_utils.models: shapes, parameter counts, argument checks, skip connections,
saving and a training sanity check. Models are small and trained for two steps at most."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import layers

from cifar_utils import models, training

# Keras 3.15 saving calls np.array(x, copy=False) on a TensorFlow variable (its own
# business, not ours); keep that warning out of the test report.
# Small variants of every builder, cheap to build and run.
SMALL_BUILDERS: dict[str, Callable[..., keras.Model]] = {
    "baseline_cnn": lambda **kwargs: models.build_baseline_cnn(widths=(4, 8), **kwargs),
    "plain_cnn": lambda **kwargs: models.build_plain_cnn(4, width=4, **kwargs),
    "residual_cnn": lambda **kwargs: models.build_plain_cnn(5, width=4, residual=True, **kwargs),
    "resnet": lambda **kwargs: models.build_resnet(widths=(4, 8), **kwargs),
}


@pytest.fixture(autouse=True)
def _float32_policy() -> Iterator[None]:
    """Every test runs under the float32 policy and leaves it so."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float32")
    yield
    keras.config.set_dtype_policy(previous)


def _images(count: int, seed: int = 0) -> np.ndarray:
    """Normalised-looking float32 images, shape (count, 32, 32, 3)."""
    return np.random.default_rng(seed).normal(size=(count, 32, 32, 3)).astype(np.float32)


def _layers_of(model: keras.Model, kind: type) -> list[keras.layers.Layer]:
    return [layer for layer in model.layers if isinstance(layer, kind)]


# Common contract of every builder -------------------------------------------------------


@pytest.mark.parametrize("builder", SMALL_BUILDERS.values(), ids=SMALL_BUILDERS.keys())
def test_builders_return_uncompiled_models_with_probabilities(builder):
    num_classes = 3
    model = builder(num_classes=num_classes, name="my_model")

    assert isinstance(model, keras.Model)
    assert model.name == "my_model"
    assert not model.compiled, "build_* must return an uncompiled model"
    assert tuple(model.input.shape) == (None, 32, 32, 3)
    assert tuple(model.output.shape) == (None, num_classes)

    probabilities = model.predict(_images(5), verbose=0)
    assert probabilities.dtype == np.float32
    assert probabilities.shape == (5, num_classes)
    assert np.all(probabilities >= 0)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("builder", SMALL_BUILDERS.values(), ids=SMALL_BUILDERS.keys())
def test_builders_end_in_float32_softmax_under_mixed_precision(builder):
    keras.config.set_dtype_policy("mixed_bfloat16")
    model = builder()
    assert model.layers[-1].compute_dtype == "float32"
    assert model.output.dtype == "float32"
    # The layers before it do compute in bfloat16: the policy was taken into account.
    assert any(layer.compute_dtype == "bfloat16" for layer in _layers_of(model, layers.Conv2D))


def test_defaults_name_the_model_and_give_ten_classes():
    assert models.build_baseline_cnn(widths=(4,)).name == "baseline_cnn"
    assert models.build_resnet(widths=(4,)).name == "resnet"
    assert models.build_plain_cnn(3, width=4).name == "plain_3"
    assert models.build_plain_cnn(4, width=4, residual=True).name == "residual_4"
    for builder in SMALL_BUILDERS.values():
        assert tuple(builder().output.shape) == (None, 10)


# Architectures as documented ------------------------------------------------------------


def _baseline_params(widths: tuple[int, ...], num_classes: int) -> int:
    total, channels = 0, 3
    for width in widths:
        # Two bias-free 3x3 convolutions, each followed by batch norm (4 numbers per filter).
        total += 9 * channels * width + 4 * width + 9 * width * width + 4 * width
        channels = width
    return total + channels * num_classes + num_classes


@pytest.mark.parametrize(("widths", "num_classes"), [((4, 8), 10), ((6, 6, 12), 7), ((5,), 2)])
def test_baseline_cnn_parameter_count_and_resolution(widths, num_classes):
    model = models.build_baseline_cnn(widths=widths, num_classes=num_classes)

    assert model.count_params() == _baseline_params(widths, num_classes)
    pools = _layers_of(model, layers.MaxPooling2D)
    assert [tuple(pool.output.shape[1:]) for pool in pools] == [
        (32 // 2**stage, 32 // 2**stage, width) for stage, width in enumerate(widths, start=1)
    ]
    assert len(_layers_of(model, layers.Conv2D)) == 2 * len(widths)
    assert not _layers_of(model, layers.Add)


def test_baseline_cnn_dropout_rate():
    model = models.build_baseline_cnn(widths=(4, 8), dropout=0.35)
    dropouts = _layers_of(model, layers.Dropout)
    assert len(dropouts) == 2
    assert all(layer.rate == pytest.approx(0.35) for layer in dropouts)


def _plain_params(depth: int, width: int, num_classes: int) -> int:
    per_stage = [depth // 3 + (1 if stage < depth % 3 else 0) for stage in range(3)]
    total, channels = 0, 3
    for stage, count in enumerate(per_stage):
        filters = width * 2**stage
        for _ in range(count):
            total += 9 * channels * filters + filters
            channels = filters
    return total + channels * num_classes + num_classes


@pytest.mark.parametrize("depth", [3, 4, 5, 9, 20])
@pytest.mark.parametrize("residual", [False, True])
def test_plain_cnn_depth_is_the_number_of_convolutions(depth, residual):
    model = models.build_plain_cnn(depth, width=2, residual=residual, num_classes=4)
    convolutions = _layers_of(model, layers.Conv2D)
    adds = _layers_of(model, layers.Add)

    assert len(convolutions) == depth
    assert all(conv.kernel_size == (3, 3) for conv in convolutions)
    assert model.count_params() == _plain_params(depth, 2, 4)
    # Three stages at 32, 16 and 8 pixels, filters doubling.
    resolutions = sorted({tuple(conv.output.shape[1:]) for conv in convolutions}, reverse=True)
    assert resolutions == [(32, 32, 2), (16, 16, 4), (8, 8, 8)]
    if residual:
        # One skip around every convolution but the first of each stage.
        assert len(adds) == depth - 3
        assert len(_layers_of(model, layers.Rescaling)) == depth - 3
    else:
        assert adds == []


def test_residual_branches_are_scaled():
    depth = 12
    model = models.build_plain_cnn(depth, width=2, residual=True)
    scales = [layer.scale for layer in _layers_of(model, layers.Rescaling)]
    assert scales == [pytest.approx(1 / np.sqrt(depth - 3))] * (depth - 3)


def _resnet_params(widths: tuple[int, ...], num_classes: int) -> tuple[int, int]:
    """(trainable, non-trainable) parameter counts of build_resnet, counted by hand."""
    filters = models.WHITENING_FILTERS
    trainable = filters  # the whitening bias; its kernel is frozen
    frozen = 2 * 2 * 3 * filters
    channels = filters
    for width in widths:
        # two convolutions without bias, two ScaledBias layers, two batch norms whose
        # only (non-trainable) weights are the moving mean and variance
        trainable += 9 * channels * width + 9 * width * width + 2 * width
        frozen += 4 * width
        channels = width
    return trainable + channels * num_classes, frozen  # the logits have no bias


@pytest.mark.parametrize(("widths", "num_classes"), [((4, 8), 10), ((5, 6, 7), 4), ((2,), 2)])
def test_resnet_parameter_count_and_resolution(widths, num_classes):
    model = models.build_resnet(widths=widths, num_classes=num_classes)

    trainable = sum(int(np.prod(v.shape)) for v in model.trainable_weights)
    frozen = sum(int(np.prod(v.shape)) for v in model.non_trainable_weights)
    assert (trainable, frozen) == _resnet_params(widths, num_classes)
    pools = _layers_of(model, layers.MaxPooling2D)
    sizes = [31, 15, 7, 3]
    assert [tuple(pool.output.shape[1:]) for pool in pools] == [
        (sizes[stage], sizes[stage], width) for stage, width in enumerate(widths, start=1)
    ]


def test_resnet_has_skip_connections_and_scaled_logits():
    model = models.build_resnet(widths=(4, 8, 8))
    adds = _layers_of(model, layers.Add)
    assert len(adds) == 3
    rescalings = _layers_of(model, layers.Rescaling)
    assert [layer.scale for layer in rescalings] == [models.LOGIT_SCALE]
    # The scaling sits between the logits and the softmax.
    assert model.layers[-2] is rescalings[0]
    assert isinstance(model.layers[-3], layers.Dense)


def test_resnet_logits_are_scaled_by_logit_scale():
    model = models.build_resnet(widths=(4,))
    logits = keras.Model(model.input, model.get_layer("logits").output)
    images = _images(4)
    expected = keras.ops.softmax(logits.predict(images, verbose=0) * models.LOGIT_SCALE)
    np.testing.assert_allclose(model.predict(images, verbose=0), expected, rtol=1e-5, atol=1e-7)


def test_resnet_batch_norm_has_no_scale_and_a_fast_bias():
    model = models.build_resnet(widths=(4, 8))
    norms = _layers_of(model, layers.BatchNormalization)
    assert len(norms) == 4
    assert all(not norm.scale and not norm.center for norm in norms)
    assert all(norm.momentum == models.BN_MOMENTUM for norm in norms)
    biases = _layers_of(model, models.ScaledBias)
    assert [bias.multiplier for bias in biases] == [1.0] + [models.BIAS_MULTIPLIER] * 4


def test_resnet_bias_multiplier_is_a_parameter():
    model = models.build_resnet(widths=(4, 8), bias_multiplier=1.0)
    biases = _layers_of(model, models.ScaledBias)
    assert [bias.multiplier for bias in biases] == [1.0] * 5  # the whitening bias stays 1
    with pytest.raises(ValueError, match="multiplier"):
        models.build_resnet(widths=(4,), bias_multiplier=0.0)


# Whitening ----------------------------------------------------------------------------------


def _patches(images: np.ndarray) -> np.ndarray:
    """All 2x2 patches, flattened in (row, column, channel) order, by plain loops."""
    n, height, width, _ = images.shape
    return np.array(
        [
            images[i, r : r + 2, c : c + 2, :].reshape(-1)
            for i in range(n)
            for r in range(height - 1)
            for c in range(width - 1)
        ]
    )


def test_whitening_kernel_whitens_the_patches_it_was_computed_from():
    rng = np.random.default_rng(0)
    # Correlated channels and neighbouring pixels, like real images.
    base = rng.normal(size=(40, 9, 9, 1))
    images = np.concatenate([base, 0.5 * base + rng.normal(size=base.shape), base**2], axis=-1)
    images = (images + np.roll(images, 1, axis=1)).astype(np.float32)

    kernel = models.whitening_kernel(images, eps=1e-9)

    assert kernel.shape == (2, 2, 3, 24) and kernel.dtype == np.float32
    features = _patches(images) @ kernel.reshape(12, 24)
    covariance = features[:, :12].T @ features[:, :12] / len(features)
    np.testing.assert_allclose(covariance, np.eye(12), atol=1e-3)
    # The second half of the filters is the first half negated.
    np.testing.assert_array_equal(kernel[..., 12:], -kernel[..., :12])


def test_whitening_kernel_orders_filters_by_variance_and_matches_the_conv_layer():
    images = np.random.default_rng(1).normal(size=(6, 8, 8, 3)).astype(np.float32)
    images[..., 0] *= 5.0  # the red channel carries most of the variance
    kernel = models.whitening_kernel(images)
    # With eps, stronger directions are scaled less: filter norms grow along the order.
    norms = np.linalg.norm(kernel.reshape(12, 24)[:, :12], axis=0)
    assert np.all(np.diff(norms) >= -1e-6)

    model = models.build_resnet(widths=(4,), whitening_images=images)
    np.testing.assert_array_equal(model.get_layer("whiten").kernel.numpy(), kernel)
    assert not model.get_layer("whiten").trainable
    conv = model.get_layer("whiten")(images).numpy()
    np.testing.assert_allclose(
        conv.reshape(-1, 24), _patches(images) @ kernel.reshape(12, 24), rtol=1e-4, atol=1e-4
    )


@pytest.mark.parametrize(
    ("images", "match"),
    [
        (np.zeros((4, 32, 32)), "shape"),
        (np.zeros((4, 1, 32, 3)), "shape"),
        (np.zeros((0, 32, 32, 3)), "non-empty"),
        (np.full((2, 4, 4, 3), np.nan), "finite"),
    ],
)
def test_whitening_kernel_rejects_bad_images(images, match):
    with pytest.raises(ValueError, match=match):
        models.whitening_kernel(images)


def test_scaled_bias_adds_multiplier_times_bias_and_learns_multiplier_squared_faster():
    fast = models.ScaledBias(8.0)
    slow = models.ScaledBias(1.0)
    x = np.zeros((2, 3), dtype=np.float32)
    for layer in (fast, slow):
        layer.build(x.shape)
        layer.bias.assign([1.0, -2.0, 0.5])
    np.testing.assert_allclose(fast(x).numpy(), np.tile([8.0, -16.0, 4.0], (2, 1)))

    steps = {}
    for name, layer in (("fast", fast), ("slow", slow)):
        layer.bias.assign(np.zeros(3))
        before = layer(x).numpy()
        optimizer = keras.optimizers.SGD(0.01)
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(layer(x))
        optimizer.apply(tape.gradient(loss, [layer.bias]), [layer.bias])
        steps[name] = layer(x).numpy() - before
    np.testing.assert_allclose(steps["fast"], 64 * steps["slow"], rtol=1e-5)


@pytest.mark.parametrize("multiplier", [0, -1.0, "8", None])
def test_scaled_bias_rejects_bad_multipliers(multiplier):
    with pytest.raises(ValueError, match="multiplier"):
        models.ScaledBias(multiplier)


# Argument checks --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: models.build_plain_cnn(2), "depth must be at least 3"),
        (lambda: models.build_plain_cnn(0), "depth"),
        (lambda: models.build_plain_cnn(-4), "depth"),
        (lambda: models.build_plain_cnn(True), "depth"),
        (lambda: models.build_plain_cnn(4.0), "depth"),
        (lambda: models.build_plain_cnn(4, width=0), "width"),
        (lambda: models.build_plain_cnn(4, num_classes=False), "num_classes"),
        (lambda: models.build_baseline_cnn(widths=()), "widths must name at least one stage"),
        (lambda: models.build_baseline_cnn(widths=(8, 0)), "width"),
        (lambda: models.build_baseline_cnn(widths=(8, -2)), "width"),
        (lambda: models.build_baseline_cnn(widths=(8, 2.5)), "width"),
        (lambda: models.build_baseline_cnn(widths=(True,)), "width"),
        (lambda: models.build_baseline_cnn(dropout=1.0), "dropout"),
        (lambda: models.build_baseline_cnn(dropout=-0.1), "dropout"),
        (lambda: models.build_baseline_cnn(dropout=float("nan")), "dropout"),
        (lambda: models.build_baseline_cnn(num_classes=0), "num_classes"),
        (lambda: models.build_baseline_cnn(num_classes=True), "num_classes"),
        (lambda: models.build_resnet(widths=[]), "widths"),
        (lambda: models.build_resnet(widths=(16, -1)), "width"),
        (lambda: models.build_resnet(num_classes=-3), "num_classes"),
        (lambda: models.build_resnet(num_classes=10.0), "num_classes"),
    ],
)
def test_bad_arguments_raise_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_error_message_shows_the_bad_value():
    with pytest.raises(ValueError, match=r"-7"):
        models.build_resnet(widths=(16, -7))


def test_numpy_integers_are_accepted():
    model = models.build_plain_cnn(np.int64(5), width=np.int32(2))
    assert sum(isinstance(layer, keras.layers.Conv2D) for layer in model.layers) == 5


def test_widths_may_be_any_sequence():
    from_list = models.build_baseline_cnn(widths=[4, 8])
    from_tuple = models.build_baseline_cnn(widths=(4, 8))
    assert from_list.count_params() == from_tuple.count_params()


# Saving and training ----------------------------------------------------------------------


# The plain stack is the residual one without its Add and Rescaling layers: not repeated.
@pytest.mark.parametrize("name", ["baseline_cnn", "residual_cnn", "resnet"])
def test_save_and_load_round_trip(name, tmp_path: Path):
    model = SMALL_BUILDERS[name]()
    images = _images(4, seed=1)
    expected = model.predict(images, verbose=0)

    path = training.save_model(model, tmp_path / "model.keras")
    loaded = keras.models.load_model(path)

    assert loaded.name == model.name
    assert loaded.count_params() == model.count_params()
    np.testing.assert_array_equal(loaded.predict(images, verbose=0), expected)


def test_resnet_trains_on_a_fixed_batch():
    keras.utils.set_random_seed(1)
    model = models.build_resnet(widths=(8, 16), whitening_images=_images(8, seed=3))
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    images = _images(16, seed=2)
    labels = np.arange(16) % 10

    losses = [float(model.train_on_batch(images, labels)) for _ in range(3)]

    assert all(np.isfinite(losses))
    # Started near ln(10) (small logits), and two updates lowered the loss.
    assert losses[0] == pytest.approx(np.log(10), abs=0.5)
    assert losses[2] < losses[0]


# load_model ---------------------------------------------------------------------------------


def test_load_model_round_trip_of_a_trained_resnet(tmp_path: Path):
    from cifar_utils import callbacks

    model = models.build_resnet(widths=(4,), whitening_images=_images(4))
    model.compile(
        optimizer=keras.optimizers.SGD(callbacks.TriangularSchedule(0.1, 10)),
        loss="sparse_categorical_crossentropy",
    )
    model.fit(_images(8), np.arange(8) % 10, epochs=1, verbose=0)
    path = training.save_model(model, tmp_path / "resnet.keras")

    loaded = models.load_model(path)

    images = _images(3, seed=5)
    np.testing.assert_array_equal(
        loaded.predict(images, verbose=0), model.predict(images, verbose=0)
    )


def test_load_model_says_which_notebook_to_run(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match=r"run notebook 02_baseline_cnn\.ipynb first"):
        models.load_model(tmp_path / "baseline_cnn.keras", made_by="02_baseline_cnn")


def test_load_model_of_a_broken_file_says_to_rerun(tmp_path: Path):
    broken = tmp_path / "resnet.keras"
    broken.write_bytes(b"PK\x03\x04 half a zip file")
    with pytest.raises(ValueError, match=r"not a usable Keras model.*run notebook 03_resnet"):
        models.load_model(broken)
