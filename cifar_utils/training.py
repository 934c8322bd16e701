"""Training helpers shared by the notebooks: seeding, precision, where models live, and
test-time augmentation (the Keras callbacks and schedule are in :mod:`cifar_utils.callbacks`).

The notebooks keep ``compile`` and ``fit`` in plain sight; this module holds only what
more than one notebook needs. Nothing here runs on import.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cifar_utils import files

MODEL_DIR_ENV_VAR = "CIFAR10_MODEL_DIR"
"""Environment variable that moves the folder of trained models (see :func:`default_model_dir`)."""

PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")

ONEDNN_ENV_VAR = "TF_ENABLE_ONEDNN_OPTS"
"""TensorFlow's switch for its oneDNN CPU kernels: read once, when TensorFlow is imported."""


def prefer_onednn() -> bool:
    """Ask TensorFlow for its oneDNN CPU kernels, unless the user already decided.

    TensorFlow switches oneDNN on by itself only on CPUs with AVX-512 VNNI, AVX-VNNI,
    AVX512_BF16 or AMX. On AVX2-only CPUs (AMD Zen 1-3, Intel laptops before Alder Lake)
    it uses its older Eigen kernels, which trained this project's ResNet at half the
    speed (see the README). This sets ``TF_ENABLE_ONEDNN_OPTS=1`` when the variable is
    unset; the notebooks do the same in their first cell. It must run before TensorFlow
    is imported: TensorFlow reads the variable once.

    Returns:
        Whether the variable was set here (``False``: the user set it, to ``0`` or ``1``).

    Raises:
        RuntimeError: TensorFlow is already imported and the variable was unset, so the
            request would silently do nothing.
    """
    if os.environ.get(ONEDNN_ENV_VAR) is not None:
        return False
    if "tensorflow" in sys.modules:
        raise RuntimeError(
            f"prefer_onednn() must run before TensorFlow is imported: TensorFlow reads "
            f"{ONEDNN_ENV_VAR} once, at import. Call it first, or set {ONEDNN_ENV_VAR}=1 "
            "in the environment."
        )
    os.environ[ONEDNN_ENV_VAR] = "1"
    return True


def onednn_enabled() -> bool | None:
    """Whether this TensorFlow process uses oneDNN kernels (``None``: cannot tell).

    Imports TensorFlow.
    """
    try:
        from tensorflow.python.util import _pywrap_util_port
    except ImportError:  # a TensorFlow build without the query
        return None
    return bool(_pywrap_util_port.IsMklEnabled())


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


def default_model_dir() -> Path:
    """Return the folder where the notebooks save and load trained models.

    ``$CIFAR10_MODEL_DIR`` if set; else ``models/`` in the project checkout (git-ignored);
    else ``~/.cache/cifar_utils/models``. The folder is not created.
    """
    override = os.environ.get(MODEL_DIR_ENV_VAR)
    if override:
        return Path(override).expanduser()
    root = files.project_root()
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


NATIVE_BFLOAT16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
"""CPU flags (``/proc/cpuinfo``) of native bfloat16 arithmetic; without them it is emulated."""


def choose_precision(precision: str = "auto") -> str:
    """Pick the Keras dtype policy for training on this machine by its hardware alone.

    ``"auto"`` picks ``mixed_float16`` on a GPU with tensor cores (compute capability 7.0
    or newer), ``mixed_bfloat16`` on a CPU with native bfloat16 instructions
    (AVX512_BF16 or AMX), and ``float32`` otherwise: without native support, bfloat16 is
    emulated and much slower. This is a guess from the hardware; the notebooks that train
    decide by measuring with :func:`choose_setup`, which uses this only to pick the
    candidates worth measuring.

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
    if _cpu_flags() & NATIVE_BFLOAT16_FLAGS:
        return "mixed_bfloat16"
    return "float32"


SETUP_CACHE_ENV_VAR = "CIFAR10_SETUP_CACHE"
"""Environment variable naming the JSON file where :func:`choose_setup` keeps its measurements."""


def default_setup_cache() -> Path:
    """Return the file where :func:`choose_setup` caches its decisions.

    ``$CIFAR10_SETUP_CACHE`` if set, else ``~/.cache/cifar_utils/training_setups.json``.
    """
    override = os.environ.get(SETUP_CACHE_ENV_VAR)
    if override:
        return Path(override).expanduser()
    return Path.home() / ".cache" / "cifar_utils" / "training_setups.json"


@dataclass(frozen=True)
class TrainingSetup:
    """The precision and compiler :func:`choose_setup` picked, and what it measured.

    Attributes:
        precision: Keras dtype policy name (``"float32"``, ``"mixed_bfloat16"``, ...).
        xla: Whether to compile the training step with XLA (``jit_compile``).
        speeds: Training images/s of each measured candidate, keyed ``"float32"``,
            ``"float32+XLA"``, ...; empty when nothing needed measuring.
        skipped: Candidates left out, with the reason (e.g. not reproducible here).
        machine: The CPU (and GPUs) the speeds were measured on.
        cached: Whether the decision was read from an earlier run's measurement.
    """

    precision: str
    xla: bool
    speeds: dict[str, float] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    machine: str = ""
    cached: bool = False

    @property
    def choice(self) -> str:
        """The choice in words, e.g. ``"mixed_bfloat16, without XLA"``."""
        return f"{self.precision}, {'with' if self.xla else 'without'} XLA"

    def __str__(self) -> str:
        choice = self.choice
        if not self.speeds:
            text = f"training setup: {choice}"
            if not self.skipped:
                return text + " (as set in the parameters, nothing measured)"
        else:
            measured = ", ".join(f"{name} {speed:,.0f}" for name, speed in self.speeds.items())
            text = f"training setup: {choice}; measured on {self.machine}, images/s: {measured}"
        if self.skipped:
            text += "; " + "; ".join(f"{name} {why}" for name, why in self.skipped.items())
        return text + (" (measured by an earlier run)" if self.cached else "")


def _candidate_name(precision: str, xla: bool) -> str:
    return precision + ("+XLA" if xla else "")


def _candidates(
    precision: str, xla: bool | str, deterministic: bool
) -> tuple[list[tuple[str, bool]], dict[str, str]]:
    """The (precision, xla) pairs worth measuring, and the ones left out with the reason."""
    left_out: dict[str, str] = {}
    if precision != "auto":
        precisions = [precision]
    elif deterministic:
        precisions = ["float32"]
        guess = choose_precision("auto")
        if guess != "float32":
            left_out[guess] = (
                "left out for DETERMINISTIC: its reruns are not identical (measured: they "
                "depend on what ran before in the process here, and differ between "
                "processes on Intel's AMX)"
            )
    else:
        guess = choose_precision("auto")
        precisions = ["float32"] if guess == "float32" else ["float32", guess]
    if deterministic and xla is not False:
        # Keras compiles without XLA whenever TensorFlow's op determinism is on
        # (keras/src/trainers/trainer.py, model_supports_jit).
        xlas = [False]
        left_out["XLA"] = "off for DETERMINISTIC: Keras does not compile with XLA then"
    else:
        xlas = [False, True] if xla == "auto" else [bool(xla)]
    return [(p, x) for p in precisions for x in xlas], left_out


def _measure_candidate(
    build_model: Callable[[bool], Any],
    images: np.ndarray,
    labels: np.ndarray,
    precision: str,
    xla: bool,
    *,
    steps: int,
    seed: int,
) -> float:
    """Images/s of ``steps`` training steps (after two warm-up steps) of a new model."""
    import keras
    import tensorflow as tf

    from cifar_utils import bench

    previous = keras.config.dtype_policy()
    dataset = tf.data.Dataset.from_tensors((images, labels)).repeat()
    try:
        keras.config.set_dtype_policy(precision)
        keras.utils.set_random_seed(seed)
        model = build_model(xla)
        return bench.compute_training_speed(
            model, dataset, batch_size=len(images), warmup_steps=2, steps=steps
        )
    finally:
        keras.config.set_dtype_policy(previous)
        keras.backend.clear_session()


def _onednn_word(enabled: bool | None) -> str:
    return {True: "on", False: "off", None: "unknown"}[enabled]


def choose_setup(
    build_model: Callable[[bool], Any],
    images: np.ndarray,
    labels: np.ndarray,
    *,
    name: str,
    precision: str = "auto",
    xla: bool | str = "auto",
    deterministic: bool = False,
    steps: int = 6,
    seed: int = 0,
    cache: str | os.PathLike[str] | None = None,
) -> TrainingSetup:
    """Choose the precision and compiler a model trains fastest with here, by measuring.

    Which of float32 or mixed precision, with or without XLA, trains a model fastest
    depends on the CPU (native bfloat16 or not, AMX or not), the GPU, the model and the
    TensorFlow version, by factors of two in either direction. So every candidate is
    measured: a model from ``build_model`` trains ``2 + steps`` steps on one batch
    (``images``, ``labels``) under each dtype policy and ``jit_compile`` setting, and the
    fastest wins. The candidates are float32 and, where the hardware has it natively, the
    mixed precision of :func:`choose_precision`; each with and without XLA. An explicit
    ``precision`` or ``xla`` fixes that half of the choice.

    With ``deterministic`` and ``precision="auto"`` only float32 is a candidate: bfloat16
    training is not reproducible on the CPUs measured (on an AMD Zen 4 its result depends
    on what trained before in the same process, with one thread and without oneDNN too;
    on an Intel Xeon with AMX two runs differ), and identical reruns come first. Keras
    compiles without XLA under op determinism, so XLA is off too. The returned setup
    names what was left out and why.

    The decision is cached (in :func:`default_setup_cache`, or ``cache``) per machine,
    TensorFlow and Keras version, ``name``, batch size and candidates, so the next run
    decides at once. The global dtype policy is restored afterwards: set it yourself with
    ``keras.config.set_dtype_policy(setup.precision)`` before building the real model.

    Args:
        build_model: Called with ``xla`` (bool); returns a freshly built model, compiled
            with ``jit_compile=xla``, under the current dtype policy.
        images: One training batch as the model takes it, float32, shape (B, 32, 32, 3).
        labels: Its labels as the model's loss takes them, first dimension B.
        name: What the model is (e.g. ``"03_resnet"``): part of the cache key.
        precision: ``"auto"`` or a policy name from :data:`PRECISIONS`.
        xla: ``"auto"``, ``True`` or ``False``.
        deterministic: Whether the run will use TensorFlow's op determinism.
        steps: Timed training steps per candidate (>= 1).
        seed: The run's seed: the measurement's models start from it, and Python, NumPy,
            TensorFlow and Keras are seeded with it again on return, so what follows
            draws the same random numbers whether the decision was measured or cached.
        cache: JSON file of cached decisions; ``None``: :func:`default_setup_cache`.

    Returns:
        The :class:`TrainingSetup`; ``print`` it for one line naming the choice and every
        candidate's images/s.
    """
    import json

    import keras
    import tensorflow as tf

    from cifar_utils import doctor

    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}.")
    if xla not in ("auto", True, False):
        raise ValueError(f"xla must be 'auto', True or False, got {xla!r}.")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}.")
    images = np.asarray(images)
    if images.ndim != 4 or len(images) != len(labels) or len(images) == 0:
        raise ValueError(
            f"images must be one batch of shape (B, H, W, C) with B labels, got images of "
            f"shape {images.shape} and {len(labels)} labels."
        )
    candidates, left_out = _candidates(precision, xla, deterministic)
    if len(candidates) == 1:
        only_precision, only_xla = candidates[0]
        keras.utils.set_random_seed(seed)
        return TrainingSetup(only_precision, only_xla, skipped=left_out)

    gpus = [
        tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name)
        for gpu in tf.config.list_physical_devices("GPU")
    ]
    machine = doctor.cpu_model() + (f" + {', '.join(gpus)}" if gpus else "")
    key = " | ".join(
        [
            machine,
            f"TensorFlow {tf.__version__}",
            f"Keras {keras.__version__}",
            f"oneDNN {_onednn_word(onednn_enabled())}",
            name,
            f"batch {len(images)}",
            ", ".join(_candidate_name(*c) for c in candidates),
        ]
    )
    cache_path = Path(cache) if cache is not None else default_setup_cache()
    try:
        known = json.loads(cache_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        known = {}  # no cache yet, or a damaged one: measure and write it anew
    if not isinstance(known, dict):
        known = {}
    entry = known.get(key)
    if isinstance(entry, dict) and entry.keys() == {"precision", "xla", "speeds", "skipped"}:
        keras.utils.set_random_seed(seed)
        return TrainingSetup(
            entry["precision"],
            bool(entry["xla"]),
            dict(entry["speeds"]),
            dict(entry["skipped"]),
            machine,
            cached=True,
        )

    speeds = {
        _candidate_name(*candidate): _measure_candidate(
            build_model, images, labels, *candidate, steps=steps, seed=seed
        )
        for candidate in candidates
    }
    best_precision, best_xla = max(candidates, key=lambda c: speeds[_candidate_name(*c)])
    setup = TrainingSetup(best_precision, best_xla, speeds, left_out, machine)
    known[key] = {
        "precision": best_precision,
        "xla": best_xla,
        "speeds": speeds,
        "skipped": left_out,
    }
    try:
        with files.atomic_path(cache_path) as temporary:
            temporary.write_text(json.dumps(known, indent=1, sort_keys=True), encoding="utf-8")
    except OSError:
        pass  # a read-only home only costs the next run another measurement
    keras.utils.set_random_seed(seed)  # the same state whether measured or read from the cache
    return setup


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

    With a ``$TF_CONFIG`` (several machines, see :mod:`cifar_utils.cluster`), the text is
    checked and the other workers are waited for (at most ``$CIFAR10_WORKER_TIMEOUT``
    seconds, default 120) before the strategy is made; the strategy is one that Keras 3's
    ``fit`` can train under (:func:`cifar_utils.cluster.multi_worker_strategy`).

    Args:
        kind: ``"auto"``: ``MultiWorkerMirroredStrategy`` when ``$TF_CONFIG`` describes a
            cluster of machines, ``MirroredStrategy`` when this machine has several GPUs,
            otherwise TensorFlow's default (one device). ``"none"``, ``"mirrored"`` and
            ``"multi_worker"`` force one of those.

    Returns:
        A ``tf.distribute.Strategy``.

    Raises:
        ValueError: If ``kind`` is unknown or ``$TF_CONFIG`` is malformed.
        TimeoutError: If another worker of ``$TF_CONFIG`` cannot be reached in time.
    """
    if kind not in STRATEGIES:
        raise ValueError(f"kind must be one of {STRATEGIES}, got {kind!r}.")
    from cifar_utils import cluster

    tf_config = os.environ.get(cluster.TF_CONFIG_ENV_VAR)
    if tf_config and kind in ("auto", "multi_worker"):
        # Before the strategy (and here before TensorFlow is imported): a malformed TF_CONFIG
        # is refused, and a worker that does not come is reported, not waited for forever.
        cluster.wait_for_peers(cluster.parse_tf_config(tf_config))
        kind = "multi_worker"
    import tensorflow as tf

    if kind == "auto":
        kind = "mirrored" if len(tf.config.list_physical_devices("GPU")) > 1 else "none"
    if kind == "multi_worker":
        return cluster.multi_worker_strategy()  # one that Keras 3's fit can train under
    if kind == "mirrored":
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()
