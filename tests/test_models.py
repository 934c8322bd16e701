"""Tests of cifar_utils.models: shapes, parameter counts, argument checks, skip connections,
saving and a training sanity check. Models are small and trained for two steps at most."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import keras
import numpy as np
import pytest
from keras import layers

from cifar_utils import models, training

# Keras 3.15 saving calls np.array(x, copy=False) on a TensorFlow variable (its own
# business, not ours); keep that warning out of the test report.
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)

# Small variants of every builder, cheap to build and run.
SMALL_BUILDERS: dict[str, Callable[..., keras.Model]] = {
    "baseline_cnn": lambda **kwargs: models.build_baseline_cnn(widths=(4, 8), **kwargs),
    "plain_cnn": lambda **kwargs: models.build_plain_cnn(4, width=4, **kwargs),
    "residual_cnn": lambda **kwargs: models.build_plain_cnn(5, width=4, residual=True, **kwargs),
    "resnet": lambda **kwargs: models.build_resnet(stem_width=4, widths=(4, 8), **kwargs),
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
    assert models.build_resnet(stem_width=4, widths=(4,)).name == "resnet"
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


def _resnet_params(stem_width: int, widths: tuple[int, ...], num_classes: int) -> int:
    total = 2 * 2 * 3 * stem_width + stem_width
    channels = stem_width
    for width in widths:
        total += 9 * channels * width + 4 * width + 9 * width * width + 4 * width
        channels = width
    return total + channels * num_classes  # the logits have no bias


@pytest.mark.parametrize(
    ("stem_width", "widths", "num_classes"), [(4, (4, 8), 10), (3, (5, 6, 7), 4), (8, (2,), 2)]
)
def test_resnet_parameter_count_and_resolution(stem_width, widths, num_classes):
    model = models.build_resnet(stem_width=stem_width, widths=widths, num_classes=num_classes)

    assert model.count_params() == _resnet_params(stem_width, widths, num_classes)
    pools = _layers_of(model, layers.MaxPooling2D)
    sizes = [31, 15, 7, 3]
    assert [tuple(pool.output.shape[1:]) for pool in pools] == [
        (sizes[stage], sizes[stage], width) for stage, width in enumerate(widths, start=1)
    ]


def test_resnet_has_skip_connections_and_scaled_logits():
    model = models.build_resnet(stem_width=4, widths=(4, 8, 8))
    adds = _layers_of(model, layers.Add)
    assert len(adds) == 3
    rescalings = _layers_of(model, layers.Rescaling)
    assert [layer.scale for layer in rescalings] == [models.LOGIT_SCALE]
    # The scaling sits between the logits and the softmax.
    assert model.layers[-2] is rescalings[0]
    assert isinstance(model.layers[-3], layers.Dense)


def test_resnet_logits_are_scaled_by_logit_scale():
    model = models.build_resnet(stem_width=4, widths=(4,))
    logits = keras.Model(model.input, model.get_layer("logits").output)
    images = _images(4)
    expected = keras.ops.softmax(logits.predict(images, verbose=0) * models.LOGIT_SCALE)
    np.testing.assert_allclose(model.predict(images, verbose=0), expected, rtol=1e-5, atol=1e-7)


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
        (lambda: models.build_resnet(stem_width=0), "stem_width"),
        (lambda: models.build_resnet(stem_width=True), "stem_width"),
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
    model = models.build_resnet(stem_width=8, widths=(8, 16))
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    images = _images(16, seed=2)
    labels = np.arange(16) % 10

    losses = [float(model.train_on_batch(images, labels)) for _ in range(3)]

    assert all(np.isfinite(losses))
    # Started near ln(10) (small logits), and two updates lowered the loss.
    assert losses[0] == pytest.approx(np.log(10), abs=0.5)
    assert losses[2] < losses[0]
