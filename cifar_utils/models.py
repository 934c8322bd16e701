"""Model builders for the notebook series.

Every ``build_*`` function returns an *uncompiled* :class:`keras.Model` with ``name=`` set:
the notebooks choose the optimiser, loss and schedule in plain sight. All models take
normalised float32 images of shape (N, 32, 32, 3) (see :func:`cifar_utils.data.normalize`)
and end in a float32 softmax, so they also work under a mixed-precision policy.

- :func:`build_baseline_cnn`: the plain CNN of ``02_baseline_cnn``.
- :func:`build_plain_cnn`: deep, thin stacks with or without skip connections, used by
  ``03_resnet`` to show why depth alone stalls.
- :func:`build_resnet`: the residual network trained in ``03_resnet``.
- :func:`load_model`: loads a saved model for predictions (``04``, ``05``), with a clear
  message when the notebook that saves it has not run.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np
from keras import layers

IMAGE_SHAPE = (32, 32, 3)
LOGIT_SCALE = 1 / 9


def _check_positive(name: str, value: int) -> None:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")


def _check_widths(widths: Sequence[int]) -> tuple[int, ...]:
    widths = tuple(widths)
    if not widths:
        raise ValueError("widths must name at least one stage, e.g. (64, 128, 256).")
    for width in widths:
        _check_positive("each width", width)
    return widths


def _conv_bn_relu(x, filters: int, name: str):
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def _classifier(x, num_classes: int):
    # A float32 softmax keeps probabilities accurate under mixed precision.
    x = layers.Dense(num_classes, name="logits")(x)
    return layers.Activation("softmax", dtype="float32", name="probabilities")(x)


def build_baseline_cnn(
    *,
    num_classes: int = 10,
    widths: Sequence[int] = (32, 64, 128),
    dropout: float = 0.2,
    name: str = "baseline_cnn",
) -> keras.Model:
    """Build the plain (non-residual) CNN of ``02_baseline_cnn``.

    Each stage is two 3x3 convolutions (batch norm, ReLU), 2x2 max pooling and dropout;
    global average pooling and a softmax layer classify.

    Args:
        num_classes: Number of output classes.
        widths: Filters per stage; each stage halves the resolution.
        dropout: Dropout rate after each stage, in [0, 1).
        name: Model name.

    Returns:
        An uncompiled model mapping float32 (N, 32, 32, 3) to probabilities (N, num_classes).
    """
    _check_positive("num_classes", num_classes)
    widths = _check_widths(widths)
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}.")
    inputs = keras.Input(IMAGE_SHAPE, name="image")
    x = inputs
    for stage, width in enumerate(widths, start=1):
        x = _conv_bn_relu(x, width, f"stage{stage}a")
        x = _conv_bn_relu(x, width, f"stage{stage}b")
        x = layers.MaxPooling2D(2, name=f"stage{stage}_pool")(x)
        x = layers.Dropout(dropout, name=f"stage{stage}_dropout")(x)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, _classifier(x, num_classes), name=name)


def build_plain_cnn(
    depth: int,
    *,
    width: int = 16,
    residual: bool = False,
    num_classes: int = 10,
    name: str | None = None,
) -> keras.Model:
    """Build a deep, thin stack of 3x3 convolutions, with or without skip connections.

    There is no batch normalisation and the initialisation is Keras's default (Glorot
    uniform), on purpose: ``03_resnet`` uses these models to show that gradients fade on
    their way back through a deep plain stack, and that identity skip connections
    (``residual=True``) carry them through. Three stages at 32, 16 and
    8 pixels (a stride-2 convolution between stages), like the ResNets of He et al.

    Args:
        depth: Number of 3x3 convolution layers, at least 3.
        width: Filters in the first stage (doubled at each later stage).
        residual: Add an identity skip around every convolution after the first of a stage
            (the convolution's output is scaled by ``1 / sqrt(depth - 3)`` before the sum).
        num_classes: Number of output classes.
        name: Model name; defaults to ``plain_<depth>`` or ``residual_<depth>``.

    Returns:
        An uncompiled model mapping float32 (N, 32, 32, 3) to probabilities (N, num_classes).
    """
    _check_positive("depth", depth)
    _check_positive("width", width)
    _check_positive("num_classes", num_classes)
    if depth < 3:
        raise ValueError(f"depth must be at least 3 (one convolution per stage), got {depth}.")
    if name is None:
        name = f"{'residual' if residual else 'plain'}_{depth}"
    per_stage = [depth // 3 + (1 if stage < depth % 3 else 0) for stage in range(3)]
    # Each residual branch is scaled down so that the sum of many branches does not blow
    # up the signal (as in De & Smith, 2020, "SkipInit"); batch norm does this job in the
    # ResNet of build_resnet.
    branch_scale = 1.0 / max(1, depth - 3) ** 0.5
    inputs = keras.Input(IMAGE_SHAPE, name="image")
    x = inputs
    layer = 0
    for stage, count in enumerate(per_stage):
        filters = width * 2**stage
        for index in range(count):
            layer += 1
            strides = 2 if (stage > 0 and index == 0) else 1
            y = layers.Conv2D(
                filters,
                3,
                strides=strides,
                padding="same",
                activation="relu",
                name=f"conv{layer}",
            )(x)
            if residual and index > 0:
                y = layers.Rescaling(branch_scale, name=f"scale{layer}")(y)
                x = layers.Add(name=f"skip{layer}")([x, y])
            else:
                x = y
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, _classifier(x, num_classes), name=name)


@keras.saving.register_keras_serializable(package="cifar_utils")
class ScaledBias(layers.Layer):
    """A learnable per-channel bias ``b``, added as ``x + multiplier * b``.

    Batch norm in :func:`build_resnet` has no learnable scale or shift of its own; this
    layer supplies the shift. With plain or momentum SGD, scaling a parameter by ``m``
    makes it learn ``m**2`` times faster, so ``multiplier=8`` gives the batch-norm
    biases the 64-times larger learning rate of David Page's and Keller Jordan's fast
    recipes without a second optimiser.

    Args:
        multiplier: The factor ``m`` applied to the stored bias.
        **kwargs: Passed to :class:`keras.layers.Layer` (``name``, ``dtype``, ...).
    """

    def __init__(self, multiplier: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(multiplier, numbers.Real) or not multiplier > 0:
            raise ValueError(f"multiplier must be a positive number, got {multiplier!r}.")
        self.multiplier = float(multiplier)

    def build(self, input_shape: Any) -> None:
        self.bias = self.add_weight(name="bias", shape=(input_shape[-1],), initializer="zeros")

    def call(self, inputs: Any) -> Any:
        return inputs + self.multiplier * self.bias

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "multiplier": self.multiplier}


WHITENING_SIZE = 2
"""Side of the image patches the frozen first layer of :func:`build_resnet` whitens."""
WHITENING_FILTERS = 2 * 3 * WHITENING_SIZE**2
"""Filters of the whitening layer: each eigenvector of the patch covariance and its negative."""
BIAS_MULTIPLIER = 8.0
"""See :class:`ScaledBias`: batch-norm biases learn ``BIAS_MULTIPLIER**2`` = 64 times faster."""
BN_MOMENTUM = 0.6
"""Batch-norm moving-average momentum (Keras convention) of :func:`build_resnet`: short
runs need running statistics that follow the quickly changing weights."""


def whitening_kernel(images: Any, *, eps: float = 5e-4) -> np.ndarray:
    """Compute the filters of a patch-whitening convolution from training images.

    The 2x2x3 patches of the images have a 12x12 covariance matrix; projecting a patch
    on each eigenvector and dividing by the square root of its eigenvalue gives
    decorrelated features of unit variance (PCA whitening). Each filter is kept with its
    negative, so that the GELU after the layer loses no information. The first layer of
    the fast CIFAR-10 recipes (Page's ResNet-9, airbench) is this fixed convolution: the
    network starts from features that are already decorrelated, and learns faster.

    Args:
        images: Normalised float images, shape (N, H, W, 3), with H, W >= 2; a few
            thousand training images are plenty (never validation or test images).
        eps: Added to each eigenvalue, so that near-constant directions are not blown up.

    Returns:
        float32 kernel of shape (2, 2, 3, 24), for a ``Conv2D(24, 2)`` layer.
    """
    array = np.asarray(images, dtype=np.float64)
    if array.ndim != 4 or array.shape[-1] != 3 or min(array.shape[1:3]) < WHITENING_SIZE:
        raise ValueError(
            f"images must have shape (N, H, W, 3) with H, W >= {WHITENING_SIZE}, got {array.shape}."
        )
    if not len(array) or not np.isfinite(array).all():
        raise ValueError("images must be a non-empty array of finite, normalised pixels.")
    if not eps > 0:
        raise ValueError(f"eps must be positive, got {eps!r}.")
    windows = np.lib.stride_tricks.sliding_window_view(
        array, (WHITENING_SIZE, WHITENING_SIZE), axis=(1, 2)
    )  # (N, H-1, W-1, 3, 2, 2)
    patches = windows.transpose(0, 1, 2, 4, 5, 3).reshape(-1, WHITENING_FILTERS // 2)
    covariance = patches.T @ patches / len(patches)
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    order = np.argsort(eigenvalues)[::-1]  # strongest direction first
    filters = eigenvectors[:, order] / np.sqrt(eigenvalues[order] + eps)
    filters = np.concatenate([filters, -filters], axis=1)
    return filters.reshape(WHITENING_SIZE, WHITENING_SIZE, 3, WHITENING_FILTERS).astype(np.float32)


def _bn_gelu(x, name: str, bias_multiplier: float):
    x = layers.BatchNormalization(
        momentum=BN_MOMENTUM, epsilon=1e-5, center=False, scale=False, name=f"{name}_bn"
    )(x)
    x = ScaledBias(bias_multiplier, name=f"{name}_bias")(x)
    return layers.Activation("gelu", name=f"{name}_gelu")(x)


def build_resnet(
    *,
    num_classes: int = 10,
    widths: Sequence[int] = (64, 128, 128),
    whitening_images: Any = None,
    bias_multiplier: float = BIAS_MULTIPLIER,
    name: str = "resnet",
) -> keras.Model:
    """Build the residual network of ``03_resnet``.

    A wide, shallow ResNet in the style of the fast CIFAR-10 recipes (David Page's
    ResNet-9, Keller Jordan's airbench):

    - a frozen 2x2 **patch-whitening** convolution (see :func:`whitening_kernel`), a
      learnable bias and GELU;
    - per stage, a 3x3 convolution, 2x2 max pooling, batch norm and GELU, then a
      residual block: a 3x3 convolution, batch norm and GELU whose output is added to its
      input (the **skip connection**);
    - global max pooling, a dense layer whose outputs are scaled by ``LOGIT_SCALE``, and
      a float32 softmax.

    Batch norm has no learnable scale and its bias learns 64 times faster
    (:class:`ScaledBias`); its moving averages use momentum ``BN_MOMENTUM``. Pooling early
    and keeping the layers wide makes the matrix multiplications large and few, which is
    what a CPU (and a GPU) runs efficiently.

    Args:
        num_classes: Number of output classes.
        widths: Filters per stage; each stage halves the resolution (31 -> 15 -> 7 -> 3).
        whitening_images: Normalised training images to compute the whitening filters
            from (a few thousand are enough). ``None`` leaves the frozen layer at its random
            initial values: fine for tests and for loading saved weights, not for training.
        bias_multiplier: The batch-norm biases' :class:`ScaledBias` multiplier; 1 for an
            optimiser that gives biases their own learning rate
            (:class:`cifar_utils.optimizers.Muon`).
        name: Model name.

    Returns:
        An uncompiled model mapping float32 (N, 32, 32, 3) to probabilities (N, num_classes).
    """
    _check_positive("num_classes", num_classes)
    widths = _check_widths(widths)
    kernel = None if whitening_images is None else whitening_kernel(whitening_images)
    inputs = keras.Input(IMAGE_SHAPE, name="image")
    whiten = layers.Conv2D(
        WHITENING_FILTERS,
        WHITENING_SIZE,
        padding="valid",
        use_bias=False,
        trainable=False,
        name="whiten",
    )
    x = whiten(inputs)
    x = ScaledBias(1.0, name="whiten_bias")(x)
    x = layers.Activation("gelu", name="whiten_gelu")(x)
    for stage, width in enumerate(widths, start=1):
        x = layers.Conv2D(width, 3, padding="same", use_bias=False, name=f"stage{stage}_conv")(x)
        x = layers.MaxPooling2D(2, name=f"stage{stage}_pool")(x)
        x = _bn_gelu(x, f"stage{stage}", bias_multiplier)
        y = layers.Conv2D(width, 3, padding="same", use_bias=False, name=f"stage{stage}_res_conv")(
            x
        )
        y = _bn_gelu(y, f"stage{stage}_res", bias_multiplier)
        x = layers.Add(name=f"stage{stage}_skip")([x, y])
    x = layers.GlobalMaxPooling2D(name="pool")(x)
    x = layers.Dense(num_classes, use_bias=False, name="logits")(x)
    # Scaling the logits down (Page's ResNet-9 uses 1/8, airbench 1/9) keeps the large
    # learning rates of the fast recipes from blowing up the last layer.
    x = layers.Rescaling(LOGIT_SCALE, name="logit_scale")(x)
    outputs = layers.Activation("softmax", dtype="float32", name="probabilities")(x)
    model = keras.Model(inputs, outputs, name=name)
    if kernel is not None:
        whiten.kernel.assign(kernel)
    return model


def load_model(path: str | os.PathLike[str], *, made_by: str = "03_resnet") -> keras.Model:
    """Load a model that a notebook of the series saved, for predictions.

    Loads without the training configuration (``compile=False``): the optimiser and its
    schedule are not needed to predict. Importing this module registers the project's own
    layers (:class:`ScaledBias`), which the saved file refers to.

    Args:
        path: The ``.keras`` file, for example ``"../models/resnet.keras"``.
        made_by: The notebook that saves this file, named in the error message.

    Returns:
        The model.

    Raises:
        FileNotFoundError: There is no such file: the message says which notebook to run
            (or ``make run``) to make it.
        ValueError: The file exists but is not a usable Keras model (half-written, from
            another project, or from an incompatible version); the message says to
            re-run that notebook.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"no trained model at {path}: run notebook {made_by}.ipynb first (or `make run` "
            "in the project folder), then run this notebook again."
        )
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as error:  # Keras raises many types for a file that is not a model
        raise ValueError(
            f"{path} is not a usable Keras model ({type(error).__name__}: {error}); run "
            f"notebook {made_by}.ipynb again to rewrite it."
        ) from None
