"""Robustness: common corruptions (CIFAR-10-C), JPEG compression and adversarial examples.

Introduced by notebook 07. Everything works on batches of raw images as
:func:`cifar_utils.data.load_cifar10` returns them: uint8, shape (N, 32, 32, 3), 0-255.

- Common corruptions: :func:`corrupt` applies one of :data:`CORRUPTIONS` at a severity
  of 1-5, with the parameters of CIFAR-10-C (Hendrycks & Dietterich 2019, "Benchmarking
  Neural Network Robustness to Common Corruptions and Perturbations", ICLR), listed in
  :data:`CORRUPTION_PARAMETERS`. :func:`compute_psnr` measures how far an image moved.
- :func:`jpeg`: a JPEG round trip at any quality (Pillow's encoder).
- Adversarial examples: :func:`fgsm` (Goodfellow et al. 2015) and :func:`pgd` (Madry et
  al. 2018), with ``tf.GradientTape`` on the normalised inputs the models take.

Nothing here runs on import; TensorFlow, Keras, SciPy and Pillow are imported by the
functions that use them.
"""

from __future__ import annotations

import io
import types
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from cifar_utils import data

#: The corruptions :func:`corrupt` knows, grouped as in the paper: noise, blur, digital.
CORRUPTIONS: tuple[str, ...] = (
    "gaussian_noise",
    "shot_noise",
    "impulse_noise",
    "speckle_noise",
    "defocus_blur",
    "gaussian_blur",
    "brightness",
    "contrast",
    "saturate",
    "pixelate",
    "jpeg_compression",
)
#: Severities of :func:`corrupt`, mildest first.
SEVERITIES: tuple[int, ...] = (1, 2, 3, 4, 5)

#: The parameter of each corruption at severities 1-5 (index ``severity - 1``), copied
#: from ``make_cifar_c.py``, the script that made CIFAR-10-C: github.com/hendrycks/
#: robustness, ``ImageNet-C/create_c/make_cifar_c.py`` (commit ca36008). Scales are those
#: of the script: pixels in 0-1 for the noises, brightness and saturation; JPEG quality in
#: 1-100; pixelate's fraction of the 32-pixel side.
CORRUPTION_PARAMETERS: Mapping[str, tuple[Any, ...]] = types.MappingProxyType(
    {
        # standard deviation of the added noise
        "gaussian_noise": (0.04, 0.06, 0.08, 0.09, 0.10),
        # photons per unit of brightness (fewer: noisier)
        "shot_noise": (500, 250, 100, 75, 50),
        # share of channel values set to 0 or 1 (salt and pepper)
        "impulse_noise": (0.01, 0.02, 0.03, 0.05, 0.07),
        # standard deviation of the multiplicative noise
        "speckle_noise": (0.06, 0.1, 0.12, 0.16, 0.2),
        # (disk radius, sigma of the Gaussian that smooths the disk), in pixels
        "defocus_blur": ((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)),
        # sigma in pixels
        "gaussian_blur": (0.4, 0.6, 0.7, 0.8, 1.0),
        # added to the HSV value
        "brightness": (0.05, 0.1, 0.15, 0.2, 0.3),
        # factor on each channel's distance from its mean
        "contrast": (0.75, 0.5, 0.4, 0.3, 0.15),
        # (factor, offset) of the HSV saturation: 1-2 wash colours out, 3-5 exaggerate them
        "saturate": ((0.3, 0), (0.1, 0), (1.5, 0), (2, 0.1), (2.5, 0.2)),
        # fraction of the side the image is shrunk to (box filter), then enlarged again
        "pixelate": (0.95, 0.9, 0.85, 0.75, 0.65),
        # JPEG quality
        "jpeg_compression": (80, 65, 58, 50, 40),
    }
)

_IMAGE_SHAPE = (32, 32, 3)
# Salt and pepper: the share of flipped values that become white (scikit-image's default).
_SALT_VS_PEPPER = 0.5
# Gaussian kernels reach 4 sigma on each side (scikit-image's and SciPy's default).
_GAUSSIAN_TRUNCATE = 4.0


# --- Input checks ------------------------------------------------------------------------


def _check_images(where: str, images: Any) -> np.ndarray:
    """uint8 (N, 32, 32, 3), N >= 1; anything else is refused with what to do."""
    array = np.asarray(images)
    if array.ndim == 3 and array.shape == _IMAGE_SHAPE:
        raise ValueError(
            f"{where}: images must be a batch of shape (N, 32, 32, 3), got one image of shape "
            f"{array.shape}; pass `image[None]`."
        )
    if array.ndim != 4 or array.shape[1:] != _IMAGE_SHAPE or array.shape[0] == 0:
        raise ValueError(
            f"{where}: images must have shape (N, 32, 32, 3) with N >= 1 (CIFAR-10 images, "
            f"channels last), got {array.shape}."
        )
    if array.dtype != np.uint8:
        raise ValueError(
            f"{where}: images must be uint8 in 0-255 (as data.load_cifar10 returns them), got "
            f"dtype {array.dtype}; for normalised images, use the raw ones instead."
        )
    return array


def _check_seed(where: str, seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"{where}: seed must be a non-negative integer, got {seed!r}.")
    return int(seed)


def _check_severity(where: str, severity: Any) -> int:
    if (
        isinstance(severity, bool)
        or not isinstance(severity, (int, np.integer))
        or severity not in SEVERITIES
    ):
        raise ValueError(
            f"{where}: severity must be an integer from {SEVERITIES[0]} to {SEVERITIES[-1]}, "
            f"got {severity!r} (the clean images are severity 0: use them as they are)."
        )
    return int(severity)


def _check_labels(where: str, labels: Any, count: int, num_classes: int) -> np.ndarray:
    array = np.asarray(labels)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array.reshape(-1)
    if array.ndim != 1 or len(array) != count:
        raise ValueError(
            f"{where}: labels must be class ids of shape (N,) or (N, 1), one per image; got "
            f"shape {np.shape(labels)} for {count} images."
        )
    if array.dtype == bool or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{where}: labels must be integer class ids, got dtype {array.dtype}.")
    if array.min() < 0 or array.max() >= num_classes:
        raise ValueError(
            f"{where}: labels must lie in 0..{num_classes - 1} (the model's classes), got "
            f"{array.min()}..{array.max()}."
        )
    return array.astype(np.int32)


def _check_epsilon(where: str, name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise ValueError(f"{where}: {name} must be a number, got {value!r}.")
    value = float(value)
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{where}: {name} must be a finite number >= 0, got {value!r}.")
    if value > 1:
        raise ValueError(
            f"{where}: {name} is a fraction of the 0-255 pixel range, so at most 1; got "
            f"{value!r}. For 8 grey levels, pass 8 / 255."
        )
    return value


# --- Common corruptions ------------------------------------------------------------------
# Each takes pixels as float64 in 0-1, shape (N, 32, 32, 3), and returns them in the same
# scale (clipping happens once, in `corrupt`). Where make_cifar_c.py works on one image,
# these work on the whole batch at once.


def _gaussian_noise(x: np.ndarray, scale: float, rng: np.random.Generator) -> np.ndarray:
    return x + rng.normal(scale=scale, size=x.shape)


def _shot_noise(x: np.ndarray, photons: float, rng: np.random.Generator) -> np.ndarray:
    return rng.poisson(x * photons) / photons


def _impulse_noise(x: np.ndarray, amount: float, rng: np.random.Generator) -> np.ndarray:
    # skimage.util.random_noise(mode="s&p"): each channel value flips with probability
    # `amount`, to 1 (salt) or 0 (pepper) with equal odds.
    flipped = rng.random(x.shape) < amount
    salted = rng.random(x.shape) < _SALT_VS_PEPPER
    out = x.copy()
    out[flipped & salted] = 1.0
    out[flipped & ~salted] = 0.0
    return out


def _speckle_noise(x: np.ndarray, scale: float, rng: np.random.Generator) -> np.ndarray:
    return x + x * rng.normal(scale=scale, size=x.shape)


def _disk_kernel(radius: float, alias_blur: float) -> np.ndarray:
    """make_cifar_c.py's ``disk``: a pixel disk of the radius, normalised, smoothed by a
    3x3 Gaussian (cv2.GaussianBlur), with the all-zero border trimmed off."""
    from scipy import ndimage

    coordinates = np.arange(-8, 8 + 1)  # the script's 17 x 17 grid for radii up to 8
    x, y = np.meshgrid(coordinates, coordinates)
    disk = (x**2 + y**2 <= radius**2).astype(np.float64)
    disk /= disk.sum()
    taps = np.exp(-(np.array([-1.0, 0.0, 1.0]) ** 2) / (2 * alias_blur**2))
    taps /= taps.sum()  # cv2.getGaussianKernel(3, alias_blur)
    kernel = ndimage.correlate1d(disk, taps, axis=0, mode="mirror")
    kernel = ndimage.correlate1d(kernel, taps, axis=1, mode="mirror")
    rows, columns = np.nonzero(kernel)
    half = max(np.abs(rows - 8).max(), np.abs(columns - 8).max())
    return kernel[8 - half : 8 + half + 1, 8 - half : 8 + half + 1]


def _defocus_blur(x: np.ndarray, parameters: tuple, rng: np.random.Generator) -> np.ndarray:
    from scipy import ndimage

    kernel = _disk_kernel(*parameters)
    # cv2.filter2D's default border, BORDER_REFLECT_101, is SciPy's "mirror".
    return ndimage.correlate(x, kernel[None, :, :, None], mode="mirror")


def _gaussian_blur(x: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    from scipy import ndimage

    # skimage.filters.gaussian(multichannel=True): blur height and width, not the batch or
    # the channels; border "nearest".
    return ndimage.gaussian_filter(
        x, sigma=(0, sigma, sigma, 0), mode="nearest", truncate=_GAUSSIAN_TRUNCATE
    )


def _brightness(x: np.ndarray, shift: float, rng: np.random.Generator) -> np.ndarray:
    # make_cifar_c.py adds `shift` to the HSV value V = max(R, G, B) and converts back.
    # Hue and saturation fixed, every channel is proportional to V, so the round trip is
    # a scaling by V' / V (black, V = 0, has saturation 0 and becomes the grey V').
    value = x.max(axis=-1, keepdims=True)
    new_value = np.clip(value + shift, 0.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(value > 0, x * (new_value / value), new_value)


def _contrast(x: np.ndarray, factor: float, rng: np.random.Generator) -> np.ndarray:
    means = x.mean(axis=(1, 2), keepdims=True)  # per image and channel
    return (x - means) * factor + means


def _saturate(x: np.ndarray, parameters: tuple, rng: np.random.Generator) -> np.ndarray:
    # make_cifar_c.py maps the HSV saturation S = (V - min) / V to clip(S * factor +
    # offset, 0, 1), hue and value fixed. With V and the hue fixed, each channel is
    # V - S * V * a (a depends on the hue only), so it becomes V - (S' / S) * (V - channel).
    # A grey (S = 0) has hue 0 (red) in scikit-image and matplotlib: it becomes
    # (V, V (1 - S'), V (1 - S')).
    factor, offset = parameters
    value = x.max(axis=-1, keepdims=True)
    spread = value - x.min(axis=-1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        saturation = np.where(value > 0, spread / value, 0.0)
        new_saturation = np.clip(saturation * factor + offset, 0.0, 1.0)
        coloured = value - (new_saturation / saturation) * (value - x)
    grey = value * (1.0 - new_saturation * np.array([0.0, 1.0, 1.0]))
    return np.where(saturation > 0, coloured, grey)


_FLOAT_CORRUPTIONS: Mapping[str, Callable[[np.ndarray, Any, np.random.Generator], np.ndarray]] = {
    "gaussian_noise": _gaussian_noise,
    "shot_noise": _shot_noise,
    "impulse_noise": _impulse_noise,
    "speckle_noise": _speckle_noise,
    "defocus_blur": _defocus_blur,
    "gaussian_blur": _gaussian_blur,
    "brightness": _brightness,
    "contrast": _contrast,
    "saturate": _saturate,
}


def _pixelate(images: np.ndarray, fraction: float) -> np.ndarray:
    from PIL import Image

    side = images.shape[1]
    small = (int(side * fraction), int(side * fraction))
    out = np.empty_like(images)
    for index, image in enumerate(images):
        shrunk = Image.fromarray(image).resize(small, Image.Resampling.BOX)
        out[index] = np.asarray(shrunk.resize((side, side), Image.Resampling.BOX))
    return out


def corrupt(images: np.ndarray, name: str, severity: int, *, seed: int = 0) -> np.ndarray:
    """Apply one common corruption of CIFAR-10-C to a batch of images.

    The corruptions and their parameters at each severity are those of CIFAR-10-C
    (Hendrycks & Dietterich 2019), taken from the script that made it,
    ``make_cifar_c.py`` of github.com/hendrycks/robustness (see
    :data:`CORRUPTION_PARAMETERS`). Where the script calls scikit-image or OpenCV, this
    module does the same computation with NumPy, SciPy (blur kernels) and Pillow (JPEG,
    pixelate resizing), on the whole batch at once; the HSV round trips of brightness and
    saturate are written out as the channel arithmetic they amount to. Two details differ:
    random numbers come from ``numpy.random.default_rng(seed)`` drawn for the whole
    batch, and the result is rounded to the nearest grey level where the script
    truncated (``np.uint8``), so an unchanged pixel stays unchanged.

    The noises (``gaussian_noise``, ``shot_noise``, ``impulse_noise``,
    ``speckle_noise``) are random: the same seed and batch give the same images, another
    seed other noise. The noise an image gets depends on its position in the batch. The
    other corruptions do not use the seed.

    Args:
        images: uint8, shape (N, 32, 32, 3), 0-255, N >= 1.
        name: One of :data:`CORRUPTIONS`.
        severity: 1 (mild) to 5 (strong). Severity 0, the clean images, is refused: use
            the images as they are.
        seed: Non-negative integer seeding the random corruptions.

    Returns:
        A new uint8 array of the same shape, 0-255; the input is not changed.

    Raises:
        ValueError: If ``name`` is not in :data:`CORRUPTIONS`, ``severity`` is not an
            integer in 1-5, ``seed`` is not a non-negative integer, or ``images`` is not a
            non-empty uint8 batch of shape (N, 32, 32, 3).
    """
    where = "corrupt"
    if name not in CORRUPTION_PARAMETERS:
        raise ValueError(
            f"{where}: unknown corruption {name!r}; choose one of {', '.join(CORRUPTIONS)}."
        )
    severity = _check_severity(where, severity)
    seed = _check_seed(where, seed)
    images = _check_images(where, images)
    parameter = CORRUPTION_PARAMETERS[name][severity - 1]
    if name == "jpeg_compression":
        return jpeg(images, parameter)
    if name == "pixelate":
        return _pixelate(images, parameter)
    rng = np.random.default_rng(seed)
    corrupted = _FLOAT_CORRUPTIONS[name](images / 255.0, parameter, rng)
    return np.rint(np.clip(corrupted, 0.0, 1.0) * 255.0).astype(np.uint8)


def jpeg(images: np.ndarray, quality: int) -> np.ndarray:
    """Encode each image as JPEG and decode it again (Pillow, 4:2:0 chroma subsampling).

    Pillow's defaults at the given quality, as in CIFAR-10-C's ``jpeg_compression``:
    colour is stored at half resolution and the 8 x 8 blocks lose their fine detail
    first, more so at lower quality.

    Args:
        images: uint8, shape (N, 32, 32, 3), 0-255, N >= 1.
        quality: JPEG quality, an integer from 1 (smallest file) to 100 (Pillow advises
            staying at or below 95: above, files grow and images hardly improve).

    Returns:
        A new uint8 array of the same shape, the decoded images.

    Raises:
        ValueError: If ``quality`` is not an integer in 1-100 or ``images`` is not a
            non-empty uint8 batch of shape (N, 32, 32, 3).
    """
    from PIL import Image

    if (
        isinstance(quality, bool)
        or not isinstance(quality, (int, np.integer))
        or not 1 <= quality <= 100
    ):
        raise ValueError(f"jpeg: quality must be an integer from 1 to 100, got {quality!r}.")
    images = _check_images("jpeg", images)
    out = np.empty_like(images)
    buffer = io.BytesIO()
    for index, image in enumerate(images):
        buffer.seek(0)
        buffer.truncate()
        Image.fromarray(image).save(buffer, format="JPEG", quality=int(quality))
        buffer.seek(0)
        with Image.open(buffer) as decoded:
            out[index] = np.asarray(decoded.convert("RGB"))
    return out


def compute_psnr(clean: np.ndarray, corrupted: np.ndarray) -> np.ndarray:
    """Peak signal-to-noise ratio of each corrupted image against its clean one, in dB.

    ``PSNR = 10 * log10(255**2 / MSE)``, the mean squared error taken over the image's
    pixels and channels. Higher is closer; identical images give ``inf``; about 20 dB
    is a clearly visible change, 40 dB hard to see.

    Args:
        clean: uint8, shape (N, 32, 32, 3), 0-255.
        corrupted: uint8, the same shape.

    Returns:
        float64, shape (N,).

    Raises:
        ValueError: If either batch is invalid or the shapes differ.
    """
    clean = _check_images("compute_psnr", clean)
    corrupted = _check_images("compute_psnr", corrupted)
    if clean.shape != corrupted.shape:
        raise ValueError(
            f"compute_psnr: got {clean.shape} clean and {corrupted.shape} corrupted images; "
            "pass one corrupted image per clean one."
        )
    difference = clean.astype(np.float64) - corrupted.astype(np.float64)
    mse = np.mean(difference**2, axis=(1, 2, 3))
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(255.0**2 / mse)


# --- Adversarial examples ----------------------------------------------------------------


def _loss_of(model: Any) -> Callable[[Any, Any], Any]:
    """Per-image cross-entropy of the model on normalised inputs, from its logits when the
    model ends in a softmax layer (a saturated softmax would give zero gradients)."""
    import keras
    import tensorflow as tf

    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ValueError(
            f"the model must have one input and one output, got {len(model.inputs)} inputs "
            f"and {len(model.outputs)} outputs."
        )
    last = model.layers[-1]
    try:
        ends_in_softmax = (
            isinstance(last, keras.layers.Activation)
            and last.activation is keras.activations.softmax
            and last.output is model.outputs[0]
        )
    except (AttributeError, ValueError):  # a shared layer has no single output
        ends_in_softmax = False
    if ends_in_softmax:
        logits_model = keras.Model(model.inputs, last.input)

        def loss(inputs: Any, labels: Any) -> Any:
            logits = tf.cast(logits_model(inputs, training=False), tf.float32)
            return tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)

        return loss

    def loss(inputs: Any, labels: Any) -> Any:
        probabilities = tf.cast(model(inputs, training=False), tf.float32)
        chosen = tf.gather(probabilities, labels, axis=1, batch_dims=1)
        return -tf.math.log(tf.maximum(chosen, np.finfo(np.float32).tiny))

    return loss


def _attack(
    where: str,
    model: Any,
    images: Any,
    labels: Any,
    *,
    epsilon: float,
    steps: int,
    step_size: float,
    random_start: bool,
    seed: int,
    batch_size: int,
) -> np.ndarray:
    """Projected gradient ascent on the loss in the normalised input space, batch by batch."""
    import tensorflow as tf

    images = _check_images(where, images)
    num_classes = int(model.outputs[0].shape[-1])
    labels = _check_labels(where, labels, len(images), num_classes)
    loss_of = _loss_of(model)
    std = np.asarray(data.CHANNEL_STD, dtype=np.float32)
    mean = np.asarray(data.CHANNEL_MEAN, dtype=np.float32)
    # Pixel units (fractions of 0-255) to normalised units: divide by each channel's std.
    radius, step = np.float32(epsilon) / std, np.float32(step_size) / std
    lowest, highest = (0.0 - mean) / std, (1.0 - mean) / std  # black and white, normalised
    rng = np.random.default_rng(seed)

    adversarial = np.empty_like(images)
    for start in range(0, len(images), batch_size):
        clean = data.normalize(images[start : start + batch_size])
        batch_labels = tf.constant(labels[start : start + batch_size])
        x = clean
        if random_start:
            x = clean + rng.uniform(-1.0, 1.0, size=clean.shape).astype(np.float32) * radius
            x = np.clip(x, lowest, highest)
        for _ in range(steps):
            inputs = tf.constant(x, dtype=tf.float32)
            with tf.GradientTape() as tape:
                tape.watch(inputs)
                total = tf.reduce_sum(loss_of(inputs, batch_labels))
            gradient = tape.gradient(total, inputs).numpy()
            x = x + step * np.sign(gradient)  # a step up the loss, the same size everywhere
            x = np.clip(x, clean - radius, clean + radius)  # stay within epsilon
            x = np.clip(x, lowest, highest)  # stay a valid image
        pixels = np.rint((x * std + mean) * 255.0)
        adversarial[start : start + len(x)] = np.clip(pixels, 0, 255).astype(np.uint8)
    # Rounding to grey levels may not leave the epsilon ball: clip to whole levels inside it.
    levels = np.floor(epsilon * 255.0 + 1e-6)
    original = images.astype(np.int16)
    return np.clip(adversarial, original - levels, original + levels).astype(np.uint8)


def _check_batch_size(where: str, batch_size: Any) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
        raise ValueError(f"{where}: batch_size must be a positive integer, got {batch_size!r}.")
    if batch_size < 1:
        raise ValueError(f"{where}: batch_size must be a positive integer, got {batch_size!r}.")
    return int(batch_size)


def fgsm(
    model: Any,
    images: np.ndarray,
    labels: np.ndarray,
    *,
    epsilon: float,
    batch_size: int = 250,
) -> np.ndarray:
    """Adversarial images by the fast gradient sign method (Goodfellow et al. 2015).

    One step: every channel value moves by ``epsilon`` in the direction that raises the
    model's cross-entropy on the true label, ``x + epsilon * sign(gradient)``. The
    gradient is taken with ``tf.GradientTape`` on the normalised images the model takes
    (:func:`cifar_utils.data.normalize`), where ``epsilon`` becomes ``epsilon / std``
    of each channel (:data:`cifar_utils.data.CHANNEL_STD`); the result is clipped to
    the valid range (black to white). The loss is computed from the logits (the input of
    the model's final softmax layer) when there is one, from the log-probabilities
    otherwise. The model runs in inference mode.

    The adversarial images come back as uint8 images, like the inputs: images you could
    save as PNG and classify with the usual ``model.predict(data.normalize(...))``. With
    ``epsilon`` a whole number of grey levels (``k / 255``), every channel value moves by
    at most ``k`` levels; other values are rounded down to whole levels.

    Args:
        model: A Keras classifier with one input, normalised float32 images of shape
            (N, 32, 32, 3), and one output, class probabilities (N, num_classes).
        images: uint8, shape (N, 32, 32, 3), 0-255 (not normalised).
        labels: True class ids, shape (N,) or (N, 1).
        epsilon: Size of the step as a fraction of the 0-255 range, in 0-1: ``8 / 255``
            moves each value by up to 8 grey levels. 0 returns the images unchanged.
        batch_size: Images per gradient computation.

    Returns:
        uint8, shape (N, 32, 32, 3), 0-255.

    Raises:
        ValueError: If the images, labels, ``epsilon`` or ``batch_size`` are invalid (the
            message says which), or the model has several inputs or outputs.
    """
    where = "fgsm"
    epsilon = _check_epsilon(where, "epsilon", epsilon)
    batch_size = _check_batch_size(where, batch_size)
    return _attack(
        where,
        model,
        images,
        labels,
        epsilon=epsilon,
        steps=1,
        step_size=epsilon,
        random_start=False,
        seed=0,
        batch_size=batch_size,
    )


def pgd(
    model: Any,
    images: np.ndarray,
    labels: np.ndarray,
    *,
    epsilon: float,
    steps: int = 5,
    step_size: float | None = None,
    random_start: bool = True,
    seed: int = 0,
    batch_size: int = 250,
) -> np.ndarray:
    """Adversarial images by projected gradient descent (Madry et al. 2018), a few steps.

    FGSM repeated with smaller steps: each step moves every channel value by
    ``step_size`` along the sign of the loss's gradient, then projects back into the
    ``epsilon`` box around the clean image and the valid pixel range. The walk starts
    at a random point of the box (``random_start``, seeded by ``seed``). Everything else
    (normalised inputs, logits, uint8 result, rounding) is as in :func:`fgsm`; with
    ``steps=1``, ``step_size=epsilon`` and ``random_start=False`` it is :func:`fgsm`.

    Args:
        model: A Keras classifier, as for :func:`fgsm`.
        images: uint8, shape (N, 32, 32, 3), 0-255 (not normalised).
        labels: True class ids, shape (N,) or (N, 1).
        epsilon: Largest change of a channel value, a fraction of 0-255, in 0-1.
        steps: Gradient steps, at least 1.
        step_size: Change per step, a fraction of 0-255; None takes ``2.5 * epsilon /
            steps`` (Madry et al.'s rule: the walk can cross the box and still turn).
        random_start: Start from a uniformly random point of the box instead of the image.
        seed: Non-negative integer seeding the random start.
        batch_size: Images per gradient computation.

    Returns:
        uint8, shape (N, 32, 32, 3), 0-255.

    Raises:
        ValueError: If an argument is invalid (the message says which), or the model has
            several inputs or outputs.
    """
    where = "pgd"
    epsilon = _check_epsilon(where, "epsilon", epsilon)
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"{where}: steps must be a positive integer, got {steps!r}.")
    step_size = 2.5 * epsilon / steps if step_size is None else step_size
    step_size = _check_epsilon(where, "step_size", step_size)
    seed = _check_seed(where, seed)
    batch_size = _check_batch_size(where, batch_size)
    return _attack(
        where,
        model,
        images,
        labels,
        epsilon=epsilon,
        steps=int(steps),
        step_size=step_size,
        random_start=bool(random_start),
        seed=seed,
        batch_size=batch_size,
    )
