"""Training helpers shared by the notebooks: seeding, precision, where models live, and
test-time augmentation (the Keras callbacks and schedule are in :mod:`cifar_utils.callbacks`).

The notebooks keep ``compile`` and ``fit`` in plain sight; this module holds only what
more than one notebook needs. Nothing here runs on import.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from cifar_utils import files

MODEL_DIR_ENV_VAR = "CIFAR10_MODEL_DIR"
"""Environment variable that moves the folder of trained models (see :func:`default_model_dir`)."""

PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")


def set_seed(seed: int, *, deterministic: bool = False) -> None:
    """Seed Python, NumPy, TensorFlow and Keras with one number.

    Args:
        seed: A non-negative integer.
        deterministic: Also switch on TensorFlow's op determinism, so that two runs on the
            same machine give identical numbers (slower on some ops; it cannot be switched
            off again in the same process).
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}.")
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(int(seed))
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def _project_root() -> Path | None:
    root = Path(__file__).resolve().parent.parent
    return root if (root / "pyproject.toml").is_file() and (root / "notebooks").is_dir() else None


def default_model_dir() -> Path:
    """Return the folder where the notebooks save and load trained models.

    ``$CIFAR10_MODEL_DIR`` if set; else ``models/`` in the project checkout (git-ignored);
    else ``~/.cache/cifar_utils/models``. The folder is not created.
    """
    override = os.environ.get(MODEL_DIR_ENV_VAR)
    if override:
        return Path(override).expanduser()
    root = _project_root()
    if root is not None:
        return root / "models"
    return Path.home() / ".cache" / "cifar_utils" / "models"


def save_model(model: Any, path: str | os.PathLike[str]) -> Path:
    """Save a model to a ``.keras`` file atomically.

    The model is written to a temporary file beside ``path`` and then renamed over it, so
    an interruption never leaves a half-written model where a later notebook would load
    it. Missing folders are created.

    Args:
        model: A Keras model.
        path: Destination ending in ``.keras``.

    Returns:
        The destination path.
    """
    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"model files must end in .keras, got {str(path)!r}.")
    with files.atomic_path(path) as temporary:
        model.save(temporary)
    return path


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def choose_precision(precision: str = "auto") -> str:
    """Pick the Keras dtype policy for training on this machine, without setting it.

    ``"auto"`` picks ``mixed_float16`` on a GPU with tensor cores (compute capability 7.0
    or newer), ``mixed_bfloat16`` on a CPU with native bfloat16 instructions
    (AVX512_BF16 or AMX), and ``float32`` otherwise: without native support, bfloat16 is
    emulated and much slower.

    Args:
        precision: ``"auto"`` or one of ``"float32"``, ``"mixed_bfloat16"``,
            ``"mixed_float16"`` (returned as given).

    Returns:
        The policy name, for ``keras.config.set_dtype_policy``.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}.")
    if precision != "auto":
        return precision
    import tensorflow as tf

    for gpu in tf.config.list_physical_devices("GPU"):
        capability = tf.config.experimental.get_device_details(gpu).get("compute_capability")
        if capability and capability >= (7, 0):
            return "mixed_float16"
    if tf.config.list_physical_devices("GPU"):
        return "float32"
    if _cpu_flags() & {"avx512_bf16", "amx_bf16"}:
        return "mixed_bfloat16"
    return "float32"


def predict_tta(
    model: Any, images: np.ndarray, *, translate: bool = True, batch_size: int = 1000
) -> np.ndarray:
    """Predict class probabilities with test-time augmentation (TTA).

    The model sees each image and its mirror image; with ``translate``, also both of
    them shifted by one pixel up-left and down-right (edges reflected). The predictions
    are averaged with airbench's weights: 1/2 for the unshifted pair, 1/4 for each
    shifted pair. The views are the kind of change the model was trained to ignore, so
    their average is a steadier prediction than any single one.

    Args:
        model: A trained model mapping normalised images to probabilities.
        images: Normalised float32 images, shape (N, 32, 32, 3) (see ``data.normalize``).
        translate: Also average the shifted views (6 views instead of 2).
        batch_size: Images per prediction batch.

    Returns:
        float32 probabilities, shape (N, num_classes), in the order of ``images``.
    """
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must have shape (N, H, W, 3), got {images.shape}.")

    def mirror_pair(views: np.ndarray) -> np.ndarray:
        plain = model.predict(views, batch_size=batch_size, verbose=0)
        mirrored = model.predict(views[:, :, ::-1], batch_size=batch_size, verbose=0)
        return (plain + mirrored) / 2

    probabilities = mirror_pair(images)
    if translate:
        height, width = images.shape[1:3]
        padded = np.pad(images, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
        up_left = mirror_pair(padded[:, :height, :width])
        down_right = mirror_pair(padded[:, 2:, 2:])
        probabilities = probabilities / 2 + (up_left + down_right) / 4
    return probabilities.astype(np.float32)


STRATEGIES = ("auto", "none", "mirrored", "multi_worker")


def distribution_strategy(kind: str = "auto") -> Any:
    """Return the ``tf.distribute`` strategy to build and train a model under.

    Build and compile the model inside ``with strategy.scope():``; ``fit`` then splits
    every batch over the devices and adds up their gradients, with no other change to
    the notebook (``BATCH_SIZE`` stays the global batch size).

    Args:
        kind: ``"auto"``: ``MultiWorkerMirroredStrategy`` when ``$TF_CONFIG`` describes a
            cluster of machines, ``MirroredStrategy`` when this machine has several GPUs,
            otherwise TensorFlow's default (one device). ``"none"``, ``"mirrored"`` and
            ``"multi_worker"`` force one of those.

    Returns:
        A ``tf.distribute.Strategy``.
    """
    if kind not in STRATEGIES:
        raise ValueError(f"kind must be one of {STRATEGIES}, got {kind!r}.")
    import tensorflow as tf

    if kind == "auto":
        if os.environ.get("TF_CONFIG"):
            kind = "multi_worker"
        elif len(tf.config.list_physical_devices("GPU")) > 1:
            kind = "mirrored"
        else:
            kind = "none"
    if kind == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if kind == "mirrored":
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()
