"""Tests for cifar_utils.analysis on tiny synthetic inputs (no dataset, no training).

The expected numbers are worked out by hand in the comments, or computed by another
route: Grad-CAM of a global-average-pooling head equals the class activation map of
Zhou et al. (2016), which numpy computes directly from the model's weights.
"""

from __future__ import annotations

import keras
import numpy as np
import pandas as pd
import pytest
from keras import layers

from cifar_utils import analysis

CLASS_NAMES = ("cat", "dog", "frog", "ship")


# compute_per_class_metrics --------------------------------------------------------------


def test_per_class_metrics_by_hand():
    y_true = np.array([[0], [0], [0], [1], [1], [2]])  # (N, 1), as Keras gives labels
    y_pred = np.array([0, 0, 1, 1, 2, 2])
    table = analysis.compute_per_class_metrics(y_true, y_pred, class_names=CLASS_NAMES)

    assert list(table.index) == list(CLASS_NAMES)
    assert list(table.columns) == ["precision", "recall", "f1", "support", "accuracy"]
    # cat: predicted twice, both right; 2 of its 3 images found.
    # dog: predicted at images 2 and 3, one right; 1 of 2 found.
    # frog: predicted at images 4 and 5, one right; its only image found.
    # ship: no images, never predicted: 0 everywhere (zero_division=0).
    np.testing.assert_allclose(table["precision"], [1.0, 0.5, 0.5, 0.0])
    np.testing.assert_allclose(table["recall"], [2 / 3, 0.5, 1.0, 0.0])
    np.testing.assert_allclose(table["f1"], [0.8, 0.5, 2 / 3, 0.0])
    assert table["support"].tolist() == [3, 2, 1, 0]
    assert table["support"].dtype.kind == "i"
    # Accuracy per class by its definition: share of the class's images predicted right.
    for class_id, name in enumerate(CLASS_NAMES[:3]):
        members = y_true.reshape(-1) == class_id
        assert table.loc[name, "accuracy"] == pytest.approx(np.mean(y_pred[members] == class_id))


@pytest.mark.parametrize(
    ("y_true", "y_pred", "message"),
    [
        ([0, 1], [0], "2 true labels and 1 predictions"),
        ([0, 4], [0, 1], r"y_true must lie in 0\.\.3"),
        ([0, 1], [0, -1], r"y_pred must lie in 0\.\.3"),
        ([0.0, 1.0], [0, 1], "integer class ids"),
        ([], [], "no labels"),
        (np.zeros((2, 2), dtype=int), [0, 1], r"shape \(N,\) or \(N, 1\)"),
    ],
)
def test_per_class_metrics_rejects_bad_labels(y_true, y_pred, message):
    with pytest.raises(ValueError, match=message):
        analysis.compute_per_class_metrics(y_true, y_pred, class_names=CLASS_NAMES)


# compute_confused_pairs -----------------------------------------------------------------


def _confusions() -> tuple[np.ndarray, np.ndarray]:
    # cat->dog 2, cat->frog 1, cat right 1 (4 cats); dog->cat 2, dog->frog 2 (4 dogs);
    # frog->dog 2 (2 frogs); no ships.
    pairs = [(0, 1)] * 2 + [(0, 2), (0, 0)] + [(1, 0)] * 2 + [(1, 2)] * 2 + [(2, 1)] * 2
    y_true, y_pred = (np.array(column) for column in zip(*pairs, strict=True))
    return y_true, y_pred


def test_confused_pairs_counts_shares_and_tie_order():
    y_true, y_pred = _confusions()
    table = analysis.compute_confused_pairs(y_true, y_pred, class_names=CLASS_NAMES, top=10)
    expected = pd.DataFrame(
        {
            # four pairs tie at 2: ordered by (true id, predicted id); then the single one.
            "true": ["cat", "dog", "dog", "frog", "cat"],
            "predicted": ["dog", "cat", "frog", "dog", "frog"],
            "count": np.array([2, 2, 2, 2, 1], dtype=np.int64),
            "share_of_true_class": [2 / 4, 2 / 4, 2 / 4, 2 / 2, 1 / 4],
        }
    )
    pd.testing.assert_frame_equal(table, expected)


def test_confused_pairs_top_and_input_order_do_not_matter():
    y_true, y_pred = _confusions()
    order = np.random.default_rng(0).permutation(len(y_true))
    table = analysis.compute_confused_pairs(
        y_true[order], y_pred[order], class_names=CLASS_NAMES, top=2
    )
    assert list(zip(table["true"], table["predicted"], strict=True)) == [
        ("cat", "dog"),
        ("dog", "cat"),
    ]
    assert list(table.index) == [0, 1]


def test_confused_pairs_all_correct_and_bad_top():
    table = analysis.compute_confused_pairs([0, 1], [0, 1], class_names=CLASS_NAMES)
    assert len(table) == 0
    assert list(table.columns) == ["true", "predicted", "count", "share_of_true_class"]
    with pytest.raises(ValueError, match="top must be a positive integer"):
        analysis.compute_confused_pairs([0, 1], [1, 0], class_names=CLASS_NAMES, top=0)


# compute_confidently_wrong --------------------------------------------------------------


def test_confidently_wrong_order_ties_and_top():
    probabilities = np.array(
        [
            [0.90, 0.05, 0.05],  # 0: predicts 0, true 1 -> wrong at 0.90
            [0.60, 0.30, 0.10],  # 1: right
            [0.20, 0.70, 0.10],  # 2: predicts 1, true 2 -> wrong at 0.70
            [0.10, 0.10, 0.80],  # 3: right
            [0.05, 0.95, 0.00],  # 4: predicts 1, true 0 -> wrong at 0.95
            [0.10, 0.20, 0.70],  # 5: predicts 2, true 1 -> wrong at 0.70 (tie with 2)
        ]
    )
    y_true = np.array([1, 0, 2, 2, 0, 1])
    found = analysis.compute_confidently_wrong(probabilities, y_true)
    assert found.tolist() == [4, 0, 2, 5]
    assert np.issubdtype(found.dtype, np.integer)
    assert analysis.compute_confidently_wrong(probabilities, y_true, top=2).tolist() == [4, 0]
    assert analysis.compute_confidently_wrong(probabilities, [0, 0, 1, 2, 1, 2]).size == 0


@pytest.mark.parametrize(
    ("probabilities", "y_true", "message"),
    [
        (np.full((2, 3), 1 / 3), [0, 3], r"0\.\.2"),
        (np.full((2, 3), 1 / 3), [0], "2 probability rows and 1 labels"),
        (np.array([[0.5, np.nan, 0.5]]), [0], "NaN"),
        (np.array([[2.0, -1.0, 0.5]]), [0], "not logits"),
        (np.full(3, 1 / 3), [0], r"shape \(N, num_classes\)"),
    ],
)
def test_confidently_wrong_rejects_bad_input(probabilities, y_true, message):
    with pytest.raises(ValueError, match=message):
        analysis.compute_confidently_wrong(probabilities, y_true)


# compute_calibration and compute_expected_calibration_error ------------------------------

# Two classes, 4 bins ((0, .25], (.25, .5], (.5, .75], (.75, 1]); confidences on the edges
# (.5 and .75) belong to the bin below them.
_PROBABILITIES = np.array(
    [
        [0.50, 0.50],  # confidence .50, bin 1, predicts 0 (first of a tie), true 0: right
        [0.40, 0.60],  # .60, bin 2, right
        [0.25, 0.75],  # .75, bin 2, predicts 1, true 0: wrong
        [0.10, 0.90],  # .90, bin 3, right
        [1.00, 0.00],  # 1.0, bin 3, predicts 0, true 1: wrong
        [0.80, 0.20],  # .80, bin 3, right
    ]
)
_LABELS = np.array([0, 1, 0, 1, 1, 0])


def test_calibration_table_by_hand():
    table = analysis.compute_calibration(_PROBABILITIES, _LABELS, n_bins=4)
    assert list(table.columns) == list(analysis.CALIBRATION_COLUMNS)
    np.testing.assert_allclose(table["lower"], [0, 0.25, 0.5, 0.75])
    np.testing.assert_allclose(table["upper"], [0.25, 0.5, 0.75, 1.0])
    assert table["count"].tolist() == [0, 1, 2, 3]
    np.testing.assert_allclose(table["confidence"], [np.nan, 0.5, 0.675, 0.9])
    np.testing.assert_allclose(table["accuracy"], [np.nan, 1.0, 0.5, 2 / 3])


def test_expected_calibration_error_by_hand():
    ece = analysis.compute_expected_calibration_error(_PROBABILITIES, _LABELS, n_bins=4)
    # 1/6 * |1 - .5| + 2/6 * |.5 - .675| + 3/6 * |2/3 - .9|
    assert isinstance(ece, float)
    assert ece == pytest.approx(1 / 6 * 0.5 + 2 / 6 * 0.175 + 3 / 6 * (0.9 - 2 / 3))


def test_calibration_one_bin_is_the_overall_gap():
    ece = analysis.compute_expected_calibration_error(_PROBABILITIES, _LABELS, n_bins=1)
    confidence = _PROBABILITIES.max(axis=1).mean()
    accuracy = np.mean(_PROBABILITIES.argmax(axis=1) == _LABELS)
    assert ece == pytest.approx(abs(accuracy - confidence))


def _synthetic(
    count: int, power: float, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True probabilities q, labels drawn from q, and q sharpened: softmax(power * log q)."""
    rng = np.random.default_rng(seed)
    logits = 2.0 * rng.standard_normal((count, 10))
    true_probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
    true_probabilities /= true_probabilities.sum(axis=1, keepdims=True)
    cumulative = true_probabilities.cumsum(axis=1)
    labels = np.minimum((cumulative < rng.random((count, 1))).sum(axis=1), 9)
    sharpened = true_probabilities**power
    sharpened /= sharpened.sum(axis=1, keepdims=True)
    return true_probabilities, labels, sharpened.astype(np.float32)


def test_labels_drawn_from_the_probabilities_are_calibrated():
    true_probabilities, labels, over_confident = _synthetic(20_000, power=3.0)
    assert analysis.compute_expected_calibration_error(true_probabilities, labels) < 0.02
    assert analysis.compute_expected_calibration_error(over_confident, labels) > 0.1


@pytest.mark.parametrize("n_bins", [0, -1, 2.5, True])
def test_calibration_rejects_bad_n_bins(n_bins):
    with pytest.raises(
        ValueError, match=r"^compute_calibration: n_bins must be a positive integer"
    ):
        analysis.compute_calibration(_PROBABILITIES, _LABELS, n_bins=n_bins)


# fit_temperature and apply_temperature --------------------------------------------------


@pytest.mark.parametrize("power", [3.0, 0.5])
def test_fit_temperature_recovers_the_sharpening_power(power):
    # p = softmax(power * log q), so softmax(log p / power) = q: the best T is the power.
    _, labels, distorted = _synthetic(5_000, power=power, seed=1)
    temperature = analysis.fit_temperature(distorted, labels)
    assert isinstance(temperature, float)
    assert temperature == pytest.approx(power, rel=0.1)
    scaled = analysis.apply_temperature(distorted, temperature)
    before = analysis.compute_expected_calibration_error(distorted, labels)
    after = analysis.compute_expected_calibration_error(scaled, labels)
    assert after < before / 3
    assert after < 0.03


def test_apply_temperature_undoes_a_known_sharpening():
    true_probabilities, _, sharpened = _synthetic(100, power=3.0)
    np.testing.assert_allclose(
        analysis.apply_temperature(sharpened, 3.0), true_probabilities, atol=1e-5
    )


def test_apply_temperature_one_is_the_identity_and_zeros_are_allowed():
    probabilities = np.array([[0.7, 0.3, 0.0], [0.1, 0.2, 0.7]], dtype=np.float32)
    scaled = analysis.apply_temperature(probabilities, 1.0)
    assert scaled.dtype == np.float32
    np.testing.assert_allclose(scaled, probabilities, atol=1e-7)


@pytest.mark.parametrize("temperature", [0.3, 2.0, 10])
def test_apply_temperature_keeps_argmax_and_row_sums(temperature):
    _, _, probabilities = _synthetic(200, power=2.0)
    scaled = analysis.apply_temperature(probabilities, temperature)
    np.testing.assert_array_equal(scaled.argmax(axis=1), probabilities.argmax(axis=1))
    np.testing.assert_allclose(scaled.sum(axis=1), 1.0, atol=1e-6)
    # T > 1 softens (the top probability drops), T < 1 sharpens.
    top_before, top_after = probabilities.max(axis=1), scaled.max(axis=1)
    assert np.all(top_after < top_before) if temperature > 1 else np.all(top_after > top_before)


@pytest.mark.parametrize("temperature", [0, -1.0, np.nan, np.inf, True, "2"])
def test_apply_temperature_rejects_bad_temperature(temperature):
    with pytest.raises(ValueError, match=r"^apply_temperature: temperature must be a positive"):
        analysis.apply_temperature(np.full((1, 2), 0.5), temperature)


@pytest.mark.parametrize(
    ("probabilities", "y_true", "message"),
    [
        (np.full((2, 2), 0.5), [0, 2], r"0\.\.1"),
        (np.full((2, 2), 0.5), [0, 1, 1], "2 probability rows and 3 labels"),
        (np.array([[0.5, np.nan]]), [0], "NaN"),
        (np.array([[3.0, -1.0]]), [0], "not logits"),
        (np.full((0, 2), 0.5), [], "N >= 1"),
        (np.ones((2, 1)), [0, 0], "at least 2 classes"),
    ],
)
def test_fit_temperature_rejects_bad_input(probabilities, y_true, message):
    with pytest.raises(ValueError, match=message):
        analysis.fit_temperature(probabilities, y_true)


def test_apply_temperature_rejects_bad_probabilities():
    with pytest.raises(ValueError, match="NaN"):
        analysis.apply_temperature(np.array([[np.nan, 1.0]]), 1.0)
    with pytest.raises(ValueError, match=r"shape \(N, num_classes\)"):
        analysis.apply_temperature(np.full((2, 2, 2), 0.25), 1.0)


# compute_grad_cam -----------------------------------------------------------------------


def _bilinear_upsample(maps: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize of square (N, h, h) maps to (N, size, size), half-pixel centres."""

    def along(values: np.ndarray, axis: int) -> np.ndarray:
        length = values.shape[axis]
        position = (np.arange(size) + 0.5) * length / size - 0.5
        floor = np.floor(position)
        low = np.clip(floor, 0, length - 1).astype(int)
        high = np.clip(floor + 1, 0, length - 1).astype(int)
        fraction = (position - floor).reshape([-1 if a == axis else 1 for a in range(3)])
        return np.take(values, low, axis) * (1 - fraction) + np.take(values, high, axis) * fraction

    return along(along(maps, 1), 2)


def _normalised(maps: np.ndarray) -> np.ndarray:
    peaks = maps.max(axis=(1, 2), keepdims=True)
    return np.divide(maps, peaks, out=np.zeros_like(maps), where=peaks > 0)


# Weights of the tiny model below: a 1x1 convolution (3 -> 4 channels) and the class
# weights (4 channels -> 3 classes).
_KERNEL = np.array(
    [[1.0, -0.5, 0.2, 0.0], [0.3, 1.0, -0.4, 0.5], [-0.2, 0.1, 1.0, -1.0]], dtype=np.float32
)
_CLASS_WEIGHTS = np.array(
    [[1.0, -1.0, 0.5], [-0.5, 1.0, 0.2], [0.3, 0.4, -1.0], [0.8, -0.6, 1.0]], dtype=np.float32
)


def _gap_model(*, separate_softmax: bool = True) -> keras.Model:
    """8x8x3 -> 1x1 conv "features" -> 2x2 average pool "pooled" (the last 4-D layer) ->
    global average -> dense "logits" -> (x 0.5 "logit_scale" -> softmax "probabilities")."""
    inputs = keras.Input((8, 8, 3), name="image")
    x = layers.Conv2D(4, 1, use_bias=False, name="features")(inputs)
    x = layers.AveragePooling2D(2, name="pooled")(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    if separate_softmax:
        x = layers.Dense(3, use_bias=False, name="logits")(x)
        x = layers.Rescaling(0.5, name="logit_scale")(x)
        outputs = layers.Activation("softmax", dtype="float32", name="probabilities")(x)
    else:
        outputs = layers.Dense(3, use_bias=False, activation="softmax", name="probabilities")(x)
    model = keras.Model(inputs, outputs, name="gap_model")
    model.get_layer("features").set_weights([_KERNEL[None, None]])
    dense = model.get_layer("logits" if separate_softmax else "probabilities")
    dense.set_weights([_CLASS_WEIGHTS])
    return model


def _features(images: np.ndarray) -> np.ndarray:
    return images @ _KERNEL  # (N, 8, 8, 4): the 1x1 convolution


def _pooled(images: np.ndarray) -> np.ndarray:
    features = _features(images)
    return features.reshape(len(images), 4, 2, 4, 2, 4).mean(axis=(2, 4))  # (N, 4, 4, 4)


@pytest.fixture(scope="module")
def gap_model() -> keras.Model:
    return _gap_model()


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return np.random.default_rng(0).standard_normal((3, 8, 8, 3)).astype(np.float32)


def test_grad_cam_equals_the_class_activation_map(gap_model, images):
    # With global average pooling before the dense layer, d score_k / d A[i, j, c] is
    # W[c, k] / (h * w) everywhere, so Grad-CAM is ReLU(A @ W[:, k]) up to a positive
    # factor: the class activation map of Zhou et al. (2016).
    classes = np.array([0, 1, 2])
    heatmaps = analysis.compute_grad_cam(gap_model, images, class_indices=classes)
    assert heatmaps.shape == (3, 8, 8)
    assert heatmaps.dtype == np.float32
    cams = np.maximum(np.einsum("nhwc,cn->nhw", _pooled(images), _CLASS_WEIGHTS[:, classes]), 0)
    expected = _normalised(_bilinear_upsample(cams, 8))
    np.testing.assert_allclose(heatmaps, expected, atol=1e-5)
    assert heatmaps.min() >= 0.0
    np.testing.assert_allclose(heatmaps.max(axis=(1, 2)), 1.0, atol=1e-6)


def test_grad_cam_of_a_frozen_model(images):
    # Without trainable weights the tape would record nothing unless the images are watched.
    model = _gap_model()
    expected = analysis.compute_grad_cam(model, images, class_indices=[0, 1, 2])
    model.trainable = False
    frozen = analysis.compute_grad_cam(model, images, class_indices=[0, 1, 2])
    np.testing.assert_allclose(frozen, expected, atol=1e-6)
    assert frozen.max() == pytest.approx(1.0)


def test_grad_cam_under_mixed_precision(gap_model, images):
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = _gap_model()  # bfloat16 features and logits, float32 softmax
    finally:
        keras.mixed_precision.set_global_policy(previous)
    assert model.get_layer("pooled").output.dtype == "bfloat16"
    heatmaps = analysis.compute_grad_cam(model, images, class_indices=[0, 1, 2])
    assert heatmaps.dtype == np.float32
    reference = analysis.compute_grad_cam(gap_model, images, class_indices=[0, 1, 2])
    np.testing.assert_allclose(heatmaps, reference, atol=0.05)  # bfloat16 has 3 digits


def test_grad_cam_default_layer_is_the_last_4d_one(gap_model, images):
    default = analysis.compute_grad_cam(gap_model, images, class_indices=[0, 0, 0])
    pooled = analysis.compute_grad_cam(
        gap_model, images, class_indices=[0, 0, 0], layer_name="pooled"
    )
    np.testing.assert_array_equal(default, pooled)
    # The full-resolution layer needs no upsampling: ReLU(F @ W[:, 0]) directly.
    full = analysis.compute_grad_cam(
        gap_model, images, class_indices=[0, 0, 0], layer_name="features"
    )
    expected = _normalised(np.maximum(_features(images) @ _CLASS_WEIGHTS[:, 0], 0))
    np.testing.assert_allclose(full, expected, atol=1e-5)
    assert not np.allclose(full, default, atol=1e-3)


def test_grad_cam_explains_the_predicted_class_by_default(gap_model, images):
    predicted = gap_model.predict(images, verbose=0).argmax(axis=1)
    np.testing.assert_allclose(
        analysis.compute_grad_cam(gap_model, images),
        analysis.compute_grad_cam(gap_model, images, class_indices=predicted),
        atol=1e-6,
    )


def test_grad_cam_without_a_softmax_layer_uses_the_log_probability(images):
    # d log p_k / d A[i, j, c] = (W[c, k] - sum_j p_j W[c, j]) / (h * w): the weights of
    # the class minus the probability-weighted weights of all classes.
    model = _gap_model(separate_softmax=False)
    probabilities = model.predict(images, verbose=0)
    heatmaps = analysis.compute_grad_cam(model, images, class_indices=[2, 2, 2])
    weights = _CLASS_WEIGHTS[:, 2][None, :] - probabilities @ _CLASS_WEIGHTS.T  # (N, c)
    cams = np.maximum(np.einsum("nhwc,nc->nhw", _pooled(images), weights), 0)
    np.testing.assert_allclose(heatmaps, _normalised(_bilinear_upsample(cams, 8)), atol=1e-5)


def _two_region_model() -> keras.Model:
    """Class k's score is the mean of channel k of the ReLU feature map (k = 0, 1)."""
    inputs = keras.Input((8, 8, 2))
    x = layers.ReLU(name="features")(inputs)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(2, use_bias=False, name="logits", kernel_initializer="identity")(x)
    outputs = layers.Activation("softmax", dtype="float32", name="probabilities")(x)
    return keras.Model(inputs, outputs)


def test_grad_cam_points_at_the_region_of_each_class():
    # Channel 0 (evidence for class 0) is on in the left half only, channel 1 in the right
    # half only: class 0's map must be zero on the right half and class 1's on the left.
    image = np.zeros((1, 8, 8, 2), dtype=np.float32)
    image[0, :, :4, 0] = np.random.default_rng(1).uniform(0.5, 1.0, (8, 4))
    image[0, :, 4:, 1] = 1.0
    model = _two_region_model()
    class_0, class_1 = analysis.compute_grad_cam(
        model, np.concatenate([image, image]), class_indices=[0, 1]
    )
    assert np.all(class_0[:, 4:] == 0) and np.all(class_0[:, :4] > 0)
    assert np.all(class_1[:, :4] == 0) and np.all(class_1[:, 4:] == 1)
    np.testing.assert_allclose(class_0[:, :4], image[0, :, :4, 0] / image[0, :, :4, 0].max())


def test_grad_cam_all_zero_map_stays_zero():
    heatmaps = analysis.compute_grad_cam(_two_region_model(), np.zeros((2, 8, 8, 2), "float32"))
    assert heatmaps.shape == (2, 8, 8)
    assert np.all(heatmaps == 0) and not np.isnan(heatmaps).any()


def test_grad_cam_on_a_project_resnet():
    from cifar_utils import models

    model = models.build_resnet(widths=(4, 4), num_classes=3)
    images = np.random.default_rng(2).standard_normal((2, 32, 32, 3)).astype(np.float32)
    last_4d = [layer.name for layer in model.layers if len(layer.output.shape) == 4][-1]
    heatmaps = analysis.compute_grad_cam(model, images)
    assert heatmaps.shape == (2, 32, 32) and heatmaps.dtype == np.float32
    assert np.isfinite(heatmaps).all() and heatmaps.min() >= 0 and heatmaps.max() <= 1
    np.testing.assert_array_equal(
        heatmaps, analysis.compute_grad_cam(model, images, layer_name=last_4d)
    )


@pytest.mark.parametrize(
    ("images", "kwargs", "message"),
    [
        (np.zeros((8, 8, 3), "float32"), {}, r"\(N, H, W, C\).*image\[None\]"),
        (np.zeros((0, 8, 8, 3), "float32"), {}, "N >= 1"),
        (np.zeros((1, 8, 8, 3), "uint8"), {}, "must be float"),
        (np.zeros((1, 16, 16, 3), "float32"), {}, r"takes images of shape \(N, 8, 8, 3\)"),
        (np.zeros((2, 8, 8, 3), "float32"), {"class_indices": [0]}, "2 images and 1 class"),
        (np.zeros((1, 8, 8, 3), "float32"), {"class_indices": [3]}, r"0\.\.2"),
        (np.zeros((1, 8, 8, 3), "float32"), {"class_indices": [0.5]}, "integer class ids"),
        (np.zeros((1, 8, 8, 3), "float32"), {"layer_name": "nope"}, "no layer named 'nope'"),
        (np.zeros((1, 8, 8, 3), "float32"), {"layer_name": "logits"}, "has 2 dimensions"),
    ],
)
def test_grad_cam_rejects_bad_input(gap_model, images, kwargs, message):
    with pytest.raises(ValueError, match=message):
        analysis.compute_grad_cam(gap_model, images, **kwargs)


def test_grad_cam_needs_a_4d_layer():
    inputs = keras.Input((8, 8, 3))
    x = layers.Flatten()(inputs)
    outputs = layers.Dense(2, activation="softmax")(x)
    with pytest.raises(ValueError, match="no layer with a 4-D output"):
        analysis.compute_grad_cam(keras.Model(inputs, outputs), np.zeros((1, 8, 8, 3), "float32"))


def test_grad_cam_needs_a_layer_the_score_depends_on():
    inputs = keras.Input((8, 8, 3))
    x = layers.Conv2D(2, 1, name="features")(inputs)
    x = layers.Lambda(keras.ops.stop_gradient, name="cut")(x)
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(2, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    with pytest.raises(ValueError, match="does not depend on layer 'features'"):
        analysis.compute_grad_cam(model, np.ones((1, 8, 8, 3), "float32"), layer_name="features")


@pytest.mark.parametrize(
    ("name", "call"),
    [
        ("compute_confidently_wrong", lambda p: analysis.compute_confidently_wrong(p, [0])),
        ("compute_calibration", lambda p: analysis.compute_calibration(p, [0])),
        ("fit_temperature", lambda p: analysis.fit_temperature(p, [0])),
        ("apply_temperature", lambda p: analysis.apply_temperature(p, 1.5)),
    ],
)
@pytest.mark.parametrize("values", [[["0.5", "0.5"]], [[0.5, None]], [[True, False]]])
def test_probabilities_that_are_not_numbers_are_refused_by_name(name, call, values):
    # Text read from a CSV, a missing value, a boolean mask passed by mistake: each is
    # refused before any arithmetic, by the function's name and the dtype it got.
    probabilities = np.array(values)
    with pytest.raises(ValueError) as raised:
        call(probabilities)
    assert str(raised.value) == (
        f"{name}: probabilities must be numbers, got dtype {probabilities.dtype}."
    )


def test_integer_probabilities_are_numbers():
    # One-hot integer rows are valid probabilities (a model that is always sure).
    calibrated = analysis.apply_temperature(np.array([[0, 1], [1, 0]]), 1.0)
    np.testing.assert_allclose(calibrated, [[0, 1], [1, 0]], atol=1e-6)


def test_calibration_has_15_bins_by_default_and_a_bottom_bin():
    # Three classes, two bins: a confidence of 0.4 belongs to the bottom bin [0, 0.5).
    probabilities = np.array([[0.4, 0.3, 0.3], [0.9, 0.05, 0.05]])
    table = analysis.compute_calibration(probabilities, [0, 1], n_bins=2)
    assert table["count"].tolist() == [1, 1]
    assert table["accuracy"].tolist() == [1.0, 0.0]
    assert len(analysis.compute_calibration(_PROBABILITIES, _LABELS)) == 15


def test_defaults_promised_by_the_signatures():
    # 40 images, all wrong with distinct confidences: the default keeps the 16 surest.
    rng = np.random.default_rng(0)
    confidence = rng.permutation(np.linspace(0.5, 0.9, 40))
    probabilities = np.stack([confidence, 1 - confidence], axis=1)
    wrong = analysis.compute_confidently_wrong(probabilities, np.ones(40, dtype=int))
    np.testing.assert_array_equal(wrong, np.argsort(-confidence)[:16])
    # Ten classes, every image of class k called k + 1: ten confused pairs, 5 by default.
    y_true = np.repeat(np.arange(10), 3)
    names = [f"class {k}" for k in range(10)]
    pairs = analysis.compute_confused_pairs(y_true, (y_true + 1) % 10, class_names=names)
    assert len(pairs) == 5
    table = analysis.compute_per_class_metrics(y_true, y_true, class_names=names)
    assert table.index.name == "class"
