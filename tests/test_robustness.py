"""Tests for cifar_utils.robustness on tiny synthetic images and a tiny model (no dataset).

The images are smooth colour gradients with a fine texture, made deterministically, so
that every corruption has something to blur, shift or compress. Expected values come by
another route where one exists: hand-worked numbers, the statistics of the noise, or the
definition of a kernel.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # no display in tests; set before pyplot is imported

import keras
import matplotlib.pyplot as plt
import numpy as np
import pytest
from keras import layers

from cifar_utils import data, plotting, robustness

RANDOM_CORRUPTIONS = ("gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise")


def synthetic_images(count: int = 6) -> np.ndarray:
    """uint8 (count, 32, 32, 3): smooth colour gradients plus a fine texture, in 25-230."""
    y, x = np.mgrid[0:32, 0:32] / 31.0
    images = []
    for k in range(count):
        angle = np.pi * k / count
        texture = 0.12 * np.sin(2 * np.pi * (x * np.cos(angle) + y * np.sin(angle)) * (4 + k))
        red = 0.3 + 0.4 * x + texture
        green = 0.5 + 0.3 * np.cos(np.pi * (y + k / count)) + 0.5 * texture
        blue = 0.7 - 0.4 * x * y - texture
        images.append(np.stack([red, green, blue], axis=-1))
    return np.rint(np.clip(np.array(images), 0.1, 0.9) * 255).astype(np.uint8)


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return synthetic_images()


# corrupt: contract ---------------------------------------------------------------------


def test_the_table_has_five_severities_for_every_corruption():
    assert set(robustness.CORRUPTION_PARAMETERS) == set(robustness.CORRUPTIONS)
    assert len(robustness.CORRUPTIONS) >= 10
    assert robustness.SEVERITIES == (1, 2, 3, 4, 5)
    for name, parameters in robustness.CORRUPTION_PARAMETERS.items():
        assert len(parameters) == 5, name


@pytest.mark.parametrize("severity", robustness.SEVERITIES)
@pytest.mark.parametrize("name", robustness.CORRUPTIONS)
def test_every_corruption_keeps_shape_and_dtype(images, name, severity):
    before = images.copy()
    corrupted = robustness.corrupt(images, name, severity, seed=0)
    assert corrupted.shape == images.shape
    assert corrupted.dtype == np.uint8  # uint8 values are in 0-255 by construction
    assert not np.shares_memory(corrupted, images)
    np.testing.assert_array_equal(images, before)  # the input is left alone
    assert np.any(corrupted != images), f"{name} at severity {severity} changed nothing"


@pytest.mark.parametrize("severity", [0, 6, -1, 2.0, True, None, "3"])
def test_severity_outside_one_to_five_is_refused(images, severity):
    with pytest.raises(ValueError, match=r"severity must be an integer from 1 to 5"):
        robustness.corrupt(images, "contrast", severity)


@pytest.mark.parametrize("name", ["fog", "Gaussian Noise", "", "jpeg"])
def test_unknown_corruption_is_refused(images, name):
    with pytest.raises(ValueError, match=r"unknown corruption .*choose one of gaussian_noise"):
        robustness.corrupt(images, name, 1)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (synthetic_images(2).astype(np.float32), "must be uint8"),
        (synthetic_images(2).astype(np.int64), "must be uint8"),
        (synthetic_images(1)[0], r"one image .*pass `image\[None\]`"),
        (np.zeros((2, 28, 28, 3), np.uint8), r"shape \(N, 32, 32, 3\)"),
        (np.zeros((2, 32, 32), np.uint8), r"shape \(N, 32, 32, 3\)"),
        (np.zeros((0, 32, 32, 3), np.uint8), "N >= 1"),
    ],
)
def test_bad_images_are_refused(bad, message):
    with pytest.raises(ValueError, match=message):
        robustness.corrupt(bad, "gaussian_noise", 1)
    with pytest.raises(ValueError, match=message):
        robustness.jpeg(bad, 75)


@pytest.mark.parametrize("seed", [-1, 1.5, True, "0"])
def test_bad_seed_is_refused(images, seed):
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        robustness.corrupt(images, "shot_noise", 1, seed=seed)


# corrupt: severity, seeds --------------------------------------------------------------


def mean_psnr(images: np.ndarray, name: str, severity: int) -> float:
    corrupted = robustness.corrupt(images, name, severity, seed=0)
    return float(np.mean(robustness.compute_psnr(images, corrupted)))


@pytest.mark.parametrize("name", [n for n in robustness.CORRUPTIONS if n != "saturate"])
def test_images_move_further_as_severity_rises(images, name):
    psnr = [mean_psnr(images, name, severity) for severity in robustness.SEVERITIES]
    assert all(np.isfinite(psnr)), psnr
    assert np.all(np.diff(psnr) < 0), (
        f"{name}: mean PSNR by severity {np.round(psnr, 2)} does not fall"
    )


def mean_saturation(images: np.ndarray) -> float:
    from matplotlib import colors

    return float(colors.rgb_to_hsv(images / 255.0)[..., 1].mean())


def test_saturate_washes_colours_out_then_exaggerates_them(images):
    # CIFAR-10-C's saturate is not monotone in distance: severities 1-2 scale saturation by
    # 0.3 and 0.1, severities 3-5 by 1.5, 2 and 2.5 (plus an offset).
    by_severity = [
        mean_saturation(robustness.corrupt(images, "saturate", severity))
        for severity in robustness.SEVERITIES
    ]
    clean = mean_saturation(images)
    assert by_severity[1] < by_severity[0] < clean < by_severity[2]
    assert by_severity[2] < by_severity[3] < by_severity[4]


@pytest.mark.parametrize("name", RANDOM_CORRUPTIONS)
def test_random_corruptions_follow_the_seed(images, name):
    first = robustness.corrupt(images, name, 3, seed=7)
    np.testing.assert_array_equal(first, robustness.corrupt(images, name, 3, seed=7))
    assert np.any(first != robustness.corrupt(images, name, 3, seed=8))


@pytest.mark.parametrize("name", [n for n in robustness.CORRUPTIONS if n not in RANDOM_CORRUPTIONS])
def test_deterministic_corruptions_ignore_the_seed(images, name):
    np.testing.assert_array_equal(
        robustness.corrupt(images, name, 4, seed=0), robustness.corrupt(images, name, 4, seed=1)
    )


def test_each_image_is_corrupted_on_its_own(images):
    # Blur and contrast look at one image only: corrupting a batch is corrupting each image.
    for name in ("defocus_blur", "contrast", "pixelate", "jpeg_compression"):
        batch = robustness.corrupt(images, name, 5)
        one = robustness.corrupt(images[2:3], name, 5)
        np.testing.assert_array_equal(batch[2:3], one)


# corrupt: the computations, by another route -------------------------------------------


def gray(value: int, count: int = 2) -> np.ndarray:
    return np.full((count, 32, 32, 3), value, dtype=np.uint8)


def test_gaussian_noise_has_the_table_standard_deviation():
    corrupted = robustness.corrupt(gray(128, 8), "gaussian_noise", 5, seed=0)
    noise = corrupted.astype(float) - 128
    assert abs(noise.mean()) < 0.5
    assert noise.std() == pytest.approx(0.10 * 255, rel=0.02)


def test_shot_noise_is_poisson_with_the_table_photon_count():
    # At brightness x (0-1) and c photons, the value is Poisson(x c) / c: variance x / c.
    corrupted = robustness.corrupt(gray(102, 8), "shot_noise", 5, seed=0) / 255.0
    assert corrupted.mean() == pytest.approx(0.4, abs=0.005)
    assert corrupted.var() == pytest.approx(0.4 / 50, rel=0.05)


def test_impulse_noise_flips_the_table_share_to_black_or_white():
    corrupted = robustness.corrupt(gray(100, 8), "impulse_noise", 5, seed=0)
    assert set(np.unique(corrupted)) == {0, 100, 255}
    flipped = corrupted != 100
    assert flipped.mean() == pytest.approx(0.07, rel=0.05)
    assert (corrupted[flipped] == 255).mean() == pytest.approx(0.5, abs=0.03)


def test_speckle_noise_grows_with_brightness():
    # x + x * N(0, 0.2): standard deviation 0.2 x (far from 0 and 255, so nothing clips).
    darker = robustness.corrupt(gray(30, 4), "speckle_noise", 5, seed=0).astype(float)
    brighter = robustness.corrupt(gray(120, 4), "speckle_noise", 5, seed=0).astype(float)
    assert (darker - 30).std() == pytest.approx(0.2 * 30, rel=0.03)
    assert (brighter - 120).std() == pytest.approx(0.2 * 120, rel=0.03)


@pytest.mark.parametrize(("severity", "radius", "alias_blur"), [(1, 0.3, 0.4), (4, 1, 0.2)])
def test_defocus_kernel_is_a_smoothed_disk(severity, radius, alias_blur):
    assert robustness.CORRUPTION_PARAMETERS["defocus_blur"][severity - 1] == (radius, alias_blur)
    kernel = robustness._disk_kernel(radius, alias_blur)
    # By hand: the disk's pixels (x^2 + y^2 <= r^2), each spread by the outer product of
    # the 3-tap Gaussian exp(-t^2 / (2 sigma^2)), t = -1, 0, 1, normalised.
    taps = np.exp(-np.array([1.0, 0.0, 1.0]) / (2 * alias_blur**2))
    taps /= taps.sum()
    points = [(i, j) for i in (-1, 0, 1) for j in (-1, 0, 1) if i * i + j * j <= radius**2]
    expected = np.zeros((7, 7))  # centre (3, 3)
    for i, j in points:
        expected[2 + i : 5 + i, 2 + j : 5 + j] += np.outer(taps, taps) / len(points)
    half = kernel.shape[0] // 2
    padded = np.zeros((7, 7))
    padded[3 - half : 4 + half, 3 - half : 4 + half] = kernel
    np.testing.assert_allclose(padded, expected, atol=1e-12)
    assert kernel.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("name", ["defocus_blur", "gaussian_blur", "contrast", "pixelate"])
def test_a_flat_image_stays_flat(name):
    np.testing.assert_array_equal(robustness.corrupt(gray(77), name, 5), gray(77))


def test_brightness_adds_to_the_hsv_value():
    # Black has value 0: severity 5 adds 0.3, a grey of 0.3 * 255.
    np.testing.assert_array_equal(robustness.corrupt(gray(0), "brightness", 5), gray(76))
    # A colour scales with its value (hue and saturation are kept): (100, 50, 0) has value
    # 100/255; severity 1 adds 0.05 = 12.75/255, so every channel grows by 112.75 / 100.
    colour = np.zeros((1, 32, 32, 3), np.uint8)
    colour[...] = (100, 50, 0)
    brighter = robustness.corrupt(colour, "brightness", 1)
    np.testing.assert_array_equal(brighter[0, 0, 0], [113, 56, 0])  # 112.75, 56.375, 0


def hsv_round_trip(images: np.ndarray, channel: int, change) -> np.ndarray:
    """make_cifar_c.py's route: to HSV (here matplotlib's), change a channel, back to RGB."""
    from matplotlib import colors

    hsv = colors.rgb_to_hsv(images / 255.0)
    hsv[..., channel] = np.clip(change(hsv[..., channel]), 0, 1)
    return colors.hsv_to_rgb(hsv) * 255


def random_colours() -> np.ndarray:
    """Random pixels plus black, white, greys and pure colours (the edge cases of HSV)."""
    images = np.random.default_rng(0).integers(0, 256, size=(4, 32, 32, 3)).astype(np.uint8)
    images[0, 0, :8] = [(0, 0, 0), (255, 255, 255), (90, 90, 90), (255, 0, 0), (0, 255, 0),
                        (0, 0, 255), (200, 200, 10), (1, 0, 0)]  # fmt: skip
    return images


@pytest.mark.parametrize("severity", robustness.SEVERITIES)
def test_brightness_and_saturate_equal_the_hsv_round_trip(severity):
    images = random_colours()
    shift = robustness.CORRUPTION_PARAMETERS["brightness"][severity - 1]
    expected = hsv_round_trip(images, 2, lambda value: value + shift)
    got = robustness.corrupt(images, "brightness", severity)
    assert np.abs(got - expected).max() <= 0.5 + 1e-6  # rounded to the nearest level
    factor, offset = robustness.CORRUPTION_PARAMETERS["saturate"][severity - 1]
    expected = hsv_round_trip(images, 1, lambda saturation: saturation * factor + offset)
    got = robustness.corrupt(images, "saturate", severity)
    assert np.abs(got - expected).max() <= 0.5 + 1e-6


def test_contrast_shrinks_towards_each_channel_mean():
    image = np.zeros((1, 32, 32, 3), np.uint8)
    image[:, :16] = (210, 100, 40)
    image[:, 16:] = (90, 20, 40)  # means (150, 60, 40); severity 5: factor 0.15
    corrupted = robustness.corrupt(image, "contrast", 5)
    np.testing.assert_array_equal(corrupted[0, 0, 0], [150 + 9, 60 + 6, 40])
    np.testing.assert_array_equal(corrupted[0, 31, 0], [150 - 9, 60 - 6, 40])


def test_pixelate_makes_blocks():
    # Severity 5 shrinks 32 pixels to 20 and back: at most 20 distinct columns per row.
    corrupted = robustness.corrupt(synthetic_images(1), "pixelate", 5)
    distinct = len(np.unique(corrupted[0, 0], axis=0))
    assert distinct <= 20


# jpeg, compute_psnr --------------------------------------------------------------------


def test_jpeg_loses_more_at_lower_quality(images):
    psnr = [
        robustness.compute_psnr(images, robustness.jpeg(images, quality)).mean()
        for quality in (95, 50, 10)
    ]
    assert psnr[0] > psnr[1] > psnr[2] > 15
    np.testing.assert_array_equal(
        robustness.corrupt(images, "jpeg_compression", 4), robustness.jpeg(images, 50)
    )


@pytest.mark.parametrize("quality", [0, 101, 75.0, True, None])
def test_jpeg_refuses_bad_quality(images, quality):
    with pytest.raises(ValueError, match="quality must be an integer from 1 to 100"):
        robustness.jpeg(images, quality)


def test_psnr_by_hand(images):
    assert np.all(np.isinf(robustness.compute_psnr(images, images)))
    shifted = images + np.uint8(1)  # every value one level up: MSE 1
    np.testing.assert_allclose(robustness.compute_psnr(images, shifted), 20 * np.log10(255))
    with pytest.raises(ValueError, match="pass one corrupted image per clean one"):
        robustness.compute_psnr(images, images[:2])


# fgsm, pgd -----------------------------------------------------------------------------


def build_tiny_model(*, softmax_layer: bool = True) -> keras.Model:
    inputs = keras.Input((32, 32, 3))
    x = layers.Conv2D(4, 3, strides=2, activation="relu")(inputs)
    x = layers.GlobalAveragePooling2D()(x)
    if softmax_layer:  # as the project's models: logits, then a separate softmax layer
        outputs = layers.Activation("softmax")(layers.Dense(3)(x))
    else:
        outputs = layers.Dense(3, activation="softmax")(x)
    return keras.Model(inputs, outputs)


@pytest.fixture(scope="module")
def tiny_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    # Values in 20-235: an 8-level step never reaches black or white.
    x = rng.integers(20, 236, size=(24, 32, 32, 3)).astype(np.uint8)
    y = rng.integers(0, 3, size=24)
    return x, y


@pytest.fixture(scope="module", params=[True, False], ids=["logits", "probabilities"])
def tiny_model(request, tiny_data) -> keras.Model:
    keras.utils.set_random_seed(0)
    model = build_tiny_model(softmax_layer=request.param)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    x, y = tiny_data
    model.fit(data.normalize(x), y, epochs=3, batch_size=8, verbose=0)
    return model


def mean_loss(model: keras.Model, images: np.ndarray, labels: np.ndarray) -> float:
    probabilities = model.predict(data.normalize(images), verbose=0)
    return float(np.mean(-np.log(probabilities[np.arange(len(labels)), labels])))


def test_fgsm_raises_the_loss_within_epsilon(tiny_model, tiny_data):
    x, y = tiny_data
    adversarial = robustness.fgsm(tiny_model, x, y, epsilon=8 / 255, batch_size=10)
    assert adversarial.dtype == np.uint8 and adversarial.shape == x.shape
    assert mean_loss(tiny_model, adversarial, y) > mean_loss(tiny_model, x, y) + 0.01
    change = np.abs(adversarial.astype(int) - x.astype(int))
    assert change.max() == 8
    assert np.isin(change, [0, 8]).all()  # one signed step of exactly 8 levels (or none)
    assert (change == 8).mean() > 0.9


def test_pgd_raises_the_loss_more_than_fgsm(tiny_model, tiny_data):
    x, y = tiny_data
    fgsm_loss = mean_loss(tiny_model, robustness.fgsm(tiny_model, x, y, epsilon=4 / 255), y)
    adversarial = robustness.pgd(tiny_model, x, y[:, None], epsilon=4 / 255, steps=5, seed=3)
    assert np.abs(adversarial.astype(int) - x.astype(int)).max() <= 4
    assert mean_loss(tiny_model, adversarial, y) >= fgsm_loss - 1e-3
    again = robustness.pgd(tiny_model, x, y, epsilon=4 / 255, steps=5, seed=3)
    np.testing.assert_array_equal(adversarial, again)  # the random start follows the seed


def test_one_pgd_step_from_the_image_is_fgsm(tiny_model, tiny_data):
    x, y = tiny_data
    one_step = robustness.pgd(
        tiny_model, x, y, epsilon=2 / 255, steps=1, step_size=2 / 255, random_start=False
    )
    np.testing.assert_array_equal(one_step, robustness.fgsm(tiny_model, x, y, epsilon=2 / 255))


def test_epsilon_zero_changes_nothing_and_half_a_level_rounds_down(tiny_model, tiny_data):
    x, y = tiny_data
    np.testing.assert_array_equal(robustness.fgsm(tiny_model, x, y, epsilon=0.0), x)
    np.testing.assert_array_equal(robustness.pgd(tiny_model, x, y, epsilon=0.5 / 255), x)


def test_attacks_stay_in_the_pixel_range():
    keras.utils.set_random_seed(0)
    model = build_tiny_model()
    x = np.zeros((4, 32, 32, 3), np.uint8)
    x[:2] = 255  # white and black images: half of each step would leave the range
    adversarial = robustness.fgsm(model, x, np.array([0, 1, 2, 0]), epsilon=8 / 255)
    assert np.all(adversarial[:2] >= 247) and np.all(adversarial[2:] <= 8)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epsilon": 8}, r"at most 1.*pass 8 / 255"),
        ({"epsilon": -0.1}, "finite number >= 0"),
        ({"epsilon": float("nan")}, "finite number >= 0"),
        ({"epsilon": "8/255"}, "must be a number"),
        ({"epsilon": 0.1, "batch_size": 0}, "batch_size must be a positive integer"),
        ({"epsilon": 0.1, "labels": np.array([0, 1, 3, 0])}, r"labels must lie in 0\.\.2"),
        ({"epsilon": 0.1, "labels": np.array([0, 1])}, "one per image"),
        ({"epsilon": 0.1, "labels": np.array([0.0, 1, 2, 0])}, "integer class ids"),
        ({"epsilon": 0.1, "images": np.zeros((4, 32, 32, 3), np.float32)}, "must be uint8"),
    ],
)
def test_attacks_refuse_bad_input(kwargs, message):
    model = build_tiny_model()
    arguments = {"images": np.zeros((4, 32, 32, 3), np.uint8), "labels": np.array([0, 1, 2, 0])}
    arguments.update(kwargs)
    images, labels = arguments.pop("images"), arguments.pop("labels")
    with pytest.raises(ValueError, match=message):
        robustness.fgsm(model, images, labels, **arguments)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"steps": 0}, "steps must be a positive integer"),
        ({"step_size": 2.0}, r"step_size is a fraction"),
        ({"seed": -1}, "seed must be a non-negative integer"),
    ],
)
def test_pgd_refuses_bad_options(kwargs, message):
    model = build_tiny_model()
    with pytest.raises(ValueError, match=message):
        robustness.pgd(
            model, np.zeros((2, 32, 32, 3), np.uint8), np.array([0, 1]), epsilon=0.1, **kwargs
        )


# plotting.plot_image_rows (notebook 07's corruption grid) -------------------------------


def test_plot_image_rows_labels_rows_and_columns(images):
    fig = plotting.plot_image_rows(
        {"clean": images[:3], "two": [images[0], images[1]]}, column_titles=["a", "b", "c"]
    )
    axes = np.array(fig.axes).reshape(2, 3)
    assert [ax.get_ylabel() for ax in axes[:, 0]] == ["clean", "two"]
    assert [ax.get_title() for ax in axes[0]] == ["a", "b", "c"]
    assert [len(ax.images) for ax in axes.flat] == [1, 1, 1, 1, 1, 0]
    plt.close(fig)


@pytest.mark.parametrize(
    ("rows", "titles", "message"),
    [
        ({}, None, "got no rows"),
        ({"a": []}, None, "have no images"),
        ({"a": synthetic_images(2)}, ["only one"], "1 column titles for 2 columns"),
    ],
)
def test_plot_image_rows_refuses_bad_input(rows, titles, message):
    with pytest.raises(ValueError, match=message):
        plotting.plot_image_rows(rows, column_titles=titles)
