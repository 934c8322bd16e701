"""Benchmarks of this machine for the notebook series: ``python -m cifar_utils.bench``.

Each section prints a small table; with no section flag every section runs (``make bench``)::

    python -m cifar_utils.bench                 # everything, a few minutes on a laptop CPU
    python -m cifar_utils.bench --quick         # smaller, fewer steps: aims at < 2 min (idle CPU)
    python -m cifar_utils.bench --peak          # matrix-multiply GFLOP/s: the practical peak
    python -m cifar_utils.bench --models        # training and inference images/s per model
    python -m cifar_utils.bench --budget        # minutes per notebook run (runs --models)
    python -m cifar_utils.bench --load          # how long loading CIFAR-10 takes
    python -m cifar_utils.bench --phases        # where one epoch of 02, 03 and 06 goes
    python -m cifar_utils.bench --json bench.json   # also write every figure to a file

- ``--peak``: dense ``n x n`` matrix multiplications (:func:`compute_matmul_gflops`) in
  float32 and bfloat16 (and float16 on a GPU): about the best a model can reach here.
- ``--models``: for the models the notebooks train (``02_baseline_cnn``: the baseline CNN
  at batch 256; ``03_resnet``: the ResNet at batch 512), the forward FLOPs per image
  (:func:`compute_model_flops`), the training throughput fed by the real input pipeline
  (:func:`cifar_utils.data.make_dataset`, augmentation included) and by one batch held in
  memory (the model alone), the pipeline's overhead, the CPU time the pipeline alone takes
  per image (:func:`compute_pipeline_cpu`) as a share of the CPU time training takes, the
  achieved GFLOP/s and their share of the peak, and the inference throughput; in float32
  and in the mixed precision the notebooks would choose
  (:func:`cifar_utils.training.choose_precision`).
- ``--phases``: for notebooks 02, 03 and 06, built from their full-profile parameters
  (model, optimiser, batch, augmentation, callbacks), where one epoch's time goes
  (:func:`compute_epoch_phases`): forward pass, backward pass, optimiser update, input
  pipeline, validation, each callback (Lookahead, the backup, the progress line), the
  rest of Keras's loop; how busy the cores are during training steps and validation; and
  the six-view test-time augmentation of the test set, once per run.
- ``--load``: :func:`compute_load_times`.
- ``--budget``: from the pipeline-fed throughput, seconds per epoch and minutes of training
  per notebook run in the full and quick profiles (:func:`compute_budget`).

Sections are registered in :data:`SECTIONS` (name -> help text, function taking the parsed
arguments and the report to fill); adding one adds its ``--name`` flag. Every section stores
its figures in the report, which ``--json PATH`` writes. The numbers are for reading, not
asserted by any test: they move with whatever else the machine is doing.

Importing this module imports neither TensorFlow nor Keras and changes no global state;
the sections set a Keras dtype policy only while they measure, and restore it.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cifar_utils import data, doctor, files, training

# Targets from the design card (a laptop CPU): shown beside the measured times.
LOAD_TARGETS_S = {"archive": 15.0, "cache": 2.0, "folder": 2.0}

MATMUL_DTYPES = ("float32", "bfloat16", "float16")
"""Data types :func:`compute_matmul_gflops` accepts (float16 is measured only on a GPU)."""

PEAK_DTYPE = {"float32": "float32", "mixed_bfloat16": "bfloat16", "mixed_float16": "float16"}
"""The matrix-multiply data type a Keras dtype policy computes in."""

TRAINING_IMAGES = 45_000
"""Training images of a full-profile epoch: 50,000 minus the 5,000 held out for validation."""

TRAINING_FLOPS_FACTOR = 3
"""Training FLOPs per forward FLOP: the backward pass costs about twice the forward pass
(one product for the gradient of the inputs, one for the gradient of the weights)."""


@dataclasses.dataclass(frozen=True)
class _ModelSpec:
    notebook: str  # the two-digit prefix of the notebook that trains it
    batch_size: int  # the batch size of that notebook's full profile
    build: Callable[[], Any]


def _build_baseline() -> Any:
    from cifar_utils import models

    return models.build_baseline_cnn()


def _build_resnet() -> Any:
    from cifar_utils import models

    # Random whitening filters: the same cost as the fitted ones.
    return models.build_resnet(whitening_images=None)


MODELS = {
    "baseline_cnn": _ModelSpec("02", 256, _build_baseline),
    "resnet": _ModelSpec("03", 512, _build_resnet),
}
"""The models the notebooks train, by the name of their builder's ``name=``."""

# Settings of a full run and of a --quick run.
_SETTINGS = {
    False: {
        "matmul_size": 2048,
        "matmul_repeats": 5,
        "warmup_steps": 2,
        "steps": 10,
        "predict_images": 1024,
        "tta_images": 10_000,
        "load_repeats": 3,
    },
    True: {
        "matmul_size": 1024,
        "matmul_repeats": 3,
        "warmup_steps": 1,
        "steps": 3,
        "predict_images": 512,
        "tta_images": 2_000,
        "load_repeats": 1,
    },
}


# --------------------------------------------------------------------------------------
# Load
# --------------------------------------------------------------------------------------


@contextlib.contextmanager
def _environment(name: str, value: str) -> Iterator[None]:
    """Set an environment variable for the duration of the block, then restore it."""
    previous = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if previous is None:
            del os.environ[name]
        else:
            os.environ[name] = previous


def _time_load(path: Path) -> float:
    start = time.perf_counter()
    data.load_cifar10(path, download=False)
    return time.perf_counter() - start


def compute_load_times(
    path: str | os.PathLike[str] | None = None, *, repeats: int = 3
) -> dict[str, float]:
    """Time :func:`cifar_utils.data.load_cifar10` on this machine.

    For an archive: (a) the first load into an empty temporary cache (extraction included),
    `repeats` times, each into a fresh cache; (b) loads from the extracted cache,
    ``repeats + 2`` times. For an extracted folder: loads of the folder. Nothing is written
    outside a temporary folder, and nothing is downloaded.

    Args:
        path: The data, as for :func:`cifar_utils.data.find_cifar10` (``None`` searches).
        repeats: Number of timed runs of the slow case, >= 1.

    Returns:
        Seconds, keyed ``"<case>_best_s"`` and ``"<case>_median_s"`` with case ``archive``
        and ``cache`` (for an archive) or ``folder`` (for an extracted folder).

    Raises:
        ValueError: `repeats` is below 1.
        FileNotFoundError: No data was found.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}.")
    source = data.find_cifar10(path)
    runs: dict[str, list[float]] = {}
    if source.is_dir():
        runs["folder"] = [_time_load(source) for _ in range(repeats + 2)]
    else:
        with tempfile.TemporaryDirectory(prefix="cifar_utils_bench_") as scratch:
            cache = Path(scratch) / "cache"
            with _environment(data.DATA_DIR_ENV_VAR, str(cache)):
                runs["archive"] = []
                for _ in range(repeats):
                    shutil.rmtree(cache, ignore_errors=True)  # empty cache: extraction included
                    runs["archive"].append(_time_load(source))
                runs["cache"] = [_time_load(source) for _ in range(repeats + 2)]
    times: dict[str, float] = {}
    for case, seconds in runs.items():
        times[f"{case}_best_s"] = min(seconds)
        times[f"{case}_median_s"] = statistics.median(seconds)
    return times


_CASE_LABELS = {
    "archive": "first load from the archive (extracts)",
    "cache": "load from the extracted cache",
    "folder": "load from the extracted folder",
}


# --------------------------------------------------------------------------------------
# Peak: matrix multiplication
# --------------------------------------------------------------------------------------


def _check_positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")


def _matmul_seconds(
    dtype: str, *, n: int, repeats: int, min_seconds: float
) -> tuple[int, list[float]]:
    """Time chains of ``n x n`` products; return (products per timed call, seconds per call)."""
    import tensorflow as tf

    generator = tf.random.Generator.from_seed(0)  # no global seed is touched
    x = tf.cast(generator.normal((n, n)), dtype)
    # Entries of variance 1/n keep the products' scale; tanh (n**2 operations against the
    # product's 2 n**3) keeps it bounded, and makes each product depend on the last, so
    # that none can be hoisted out of the loop.
    b = tf.cast(generator.normal((n, n)) / math.sqrt(n), dtype)

    @tf.function
    def chain(x: Any, b: Any, count: Any) -> Any:
        for _ in tf.range(count):
            x = tf.tanh(tf.linalg.matmul(x, b))
        return tf.reduce_sum(tf.cast(x, tf.float32))  # one scalar: .numpy() waits for the end

    def timed(count: int) -> float:
        start = time.perf_counter()
        chain(x, b, tf.constant(count)).numpy()
        return time.perf_counter() - start

    timed(1)  # trace and warm up
    # A GPU finishes one product in microseconds: chain enough of them per call that the
    # call's fixed cost (launch, synchronisation) does not count.
    count = max(1, math.ceil(min_seconds / max(timed(1), 1e-9)))
    timed(count)
    return count, [timed(count) for _ in range(repeats)]


def compute_matmul_gflops(
    dtype: str = "float32", *, n: int = 2048, repeats: int = 5, min_seconds: float = 0.2
) -> float:
    """Measure dense matrix-multiply speed with TensorFlow: this machine's practical peak.

    ``tf.linalg.matmul`` of ``n x n`` matrices inside a ``tf.function``, on the default
    device (the GPU when there is one), after a warm-up; each timed call chains as many
    products as take about `min_seconds`, and waits for the result. A product counts
    ``2 n**3`` floating-point operations.

    Args:
        dtype: ``"float32"``, ``"bfloat16"`` or ``"float16"`` (float16 is slow on most CPUs;
            bfloat16 too, without AVX512_BF16 or AMX).
        n: Matrix side, >= 1 (2048 gives a CPU large enough products).
        repeats: Timed calls, >= 1; the fastest counts.
        min_seconds: Least duration of one timed call, > 0.

    Returns:
        GFLOP/s (1e9 floating-point operations per second) of the fastest call, > 0.

    Raises:
        ValueError: An argument is out of range.
    """
    if dtype not in MATMUL_DTYPES:
        raise ValueError(f"dtype must be one of {MATMUL_DTYPES}, got {dtype!r}.")
    _check_positive_int("n", n)
    _check_positive_int("repeats", repeats)
    if not min_seconds > 0:
        raise ValueError(f"min_seconds must be positive, got {min_seconds!r}.")
    count, seconds = _matmul_seconds(dtype, n=n, repeats=repeats, min_seconds=min_seconds)
    return 2 * n**3 * count / min(seconds) / 1e9


def _gpus() -> list[str]:
    import tensorflow as tf

    names = []
    for gpu in tf.config.list_physical_devices("GPU"):
        names.append(tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name))
    return names


def _peak_dtypes(args: argparse.Namespace) -> list[str]:
    dtypes = ["float32", "bfloat16"]
    if _gpus() or args.precision == "mixed_float16":
        dtypes.append("float16")
    return dtypes


def _run_peak(args: argparse.Namespace, report: dict[str, Any]) -> None:
    n, repeats = args.matmul_size, args.matmul_repeats
    print(
        f"== peak: tf.linalg.matmul of {n} x {n} matrices, best and median of {repeats}",
        flush=True,
    )
    results: dict[str, dict[str, float]] = {}
    rows = []
    for dtype in _peak_dtypes(args):
        count, seconds = _matmul_seconds(dtype, n=n, repeats=repeats, min_seconds=0.2)
        flops = 2 * n**3 * count
        best, median = flops / min(seconds) / 1e9, flops / statistics.median(seconds) / 1e9
        results[dtype] = {"best_gflops": best, "median_gflops": median}
        rows.append([dtype, f"{best:,.1f}", f"{median:,.1f}"])
    _print_table(["dtype", "best GFLOP/s", "median GFLOP/s"], rows)
    report["peak"] = {"n": n, "repeats": repeats, "dtypes": results}


# --------------------------------------------------------------------------------------
# Models: FLOPs and throughput
# --------------------------------------------------------------------------------------


def _sublayers(model: Any) -> Iterator[Any]:
    import keras

    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _sublayers(layer)
        else:
            yield layer


def compute_model_flops(model: Any) -> int:
    """Count the floating-point operations of one image's forward pass through a model.

    Each multiply-accumulate (MAC) counts 2 FLOPs. Only the layers that dominate a CNN are
    counted: ``Conv2D`` (``kernel_h * kernel_w * in_channels / groups * out_channels *
    out_h * out_w`` MACs) and ``Dense`` (``in * out`` MACs per position). Biases, batch
    norm, activations, pooling, additions and other layer types are ignored: they cost a
    few operations per activation, against hundreds per convolution output. Layers of
    nested models are included. The backward pass of training costs about twice the
    forward pass (see :data:`TRAINING_FLOPS_FACTOR`).

    Args:
        model: A built ``keras.Model`` (shapes known from ``keras.Input``), with each
            counted layer called once.

    Returns:
        Forward FLOPs per image (2 x MACs), an int >= 0.

    Raises:
        ValueError: The model is not built, or a counted layer is used at several places.
    """
    import keras

    if not getattr(model, "built", False) or not hasattr(model, "layers"):
        raise ValueError(
            "model must be a built keras.Model: build it from keras.Input(...) or call it "
            "on a batch first."
        )
    macs = 0
    for layer in _sublayers(model):
        if not isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)):
            continue
        try:
            output_shape = tuple(layer.output.shape)
        except (AttributeError, ValueError, RuntimeError) as error:
            raise ValueError(
                f"layer {layer.name!r} has no single output shape ({error}): "
                "compute_model_flops needs a built model whose layers are each called once."
            ) from error
        positions = math.prod(int(size) for size in output_shape[1:-1])
        # The kernel holds (kh, kw, in_channels / groups, out) or (in, out) weights, each
        # used once per output position.
        macs += math.prod(int(size) for size in layer.kernel.shape) * positions
    return 2 * macs


def _training_images(path: str | None, count: int) -> tuple[np.ndarray, np.ndarray, str, bool]:
    """uint8 images (count, 32, 32, 3) and int labels: CIFAR-10 when found, else random."""
    try:
        source = data.find_cifar10(path)
    except FileNotFoundError:
        generator = np.random.default_rng(0)
        images = generator.integers(0, 256, (count, 32, 32, 3), dtype=np.uint8)
        labels = generator.integers(0, data.NUM_CLASSES, count)
        note = f"random uint8 images ({count:,}): no CIFAR-10 found (--path or $CIFAR10_PATH)"
        return images, labels, note, True
    (x_train, y_train), _ = data.load_cifar10(source, download=False)
    x_train, y_train = x_train[:count], y_train[:count]
    return x_train, y_train, f"CIFAR-10 from {source} ({len(x_train):,} images)", False


def compute_training_speed(
    model: Any, dataset: Any, *, batch_size: int, warmup_steps: int = 2, steps: int = 5
) -> float:
    """Measure how many images per second ``model`` trains on, fed by ``dataset``.

    Runs one ``fit`` of ``warmup_steps + steps`` steps and times from the end of the last
    warm-up step (tracing and the first, slower steps excluded) to the end of the last
    step. The model is trained by those steps: measure a copy built for the purpose
    (``06_speedrun`` does) or a model that is thrown away afterwards.

    Args:
        model: A compiled Keras model.
        dataset: Training batches of ``batch_size`` images; at least ``warmup_steps +
            steps`` of them (``dataset.repeat()`` for a short one).
        batch_size: Images per batch of ``dataset``.
        warmup_steps: Steps run before the clock starts (>= 1).
        steps: Steps timed (>= 1).

    Returns:
        Training images per second.
    """
    import keras

    for name, value in (
        ("batch_size", batch_size),
        ("warmup_steps", warmup_steps),
        ("steps", steps),
    ):
        _check_positive_int(name, value)

    ends: list[float] = []

    class StepEnds(keras.callbacks.Callback):
        # A callback with on_train_batch_end runs synchronously after each step, once its
        # results are computed.
        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            ends.append(time.perf_counter())

    model.fit(
        dataset,
        epochs=1,
        steps_per_epoch=warmup_steps + steps,
        verbose=0,
        shuffle=False,  # the dataset shuffles itself
        callbacks=[StepEnds()],
    )
    return steps * batch_size / (ends[-1] - ends[warmup_steps - 1])


def compute_pipeline_cpu(dataset: Any, *, batch_size: int, batches: int = 20) -> float:
    """Measure the CPU time an input pipeline spends per image, running alone (no model).

    Takes one batch (shuffle buffer, tracing), then times ``batches`` more with
    :func:`time.process_time` (the CPU time of all this process's threads, so the parallel
    ``map`` calls count in full). On a machine whose cores training keeps busy, this is the
    CPU time the pipeline takes away from training for every image.

    Args:
        dataset: Batches of ``batch_size`` images; at least ``batches + 1`` of them.
        batch_size: Images per batch of ``dataset``.
        batches: Batches timed (>= 1).

    Returns:
        CPU seconds per image.
    """
    _check_positive_int("batch_size", batch_size)
    _check_positive_int("batches", batches)
    iterator = iter(dataset)
    next(iterator)
    start = time.process_time()
    for _ in range(batches):
        next(iterator)
    return (time.process_time() - start) / (batches * batch_size)


def compute_predict_speed(model: Any, images: np.ndarray, *, batch_size: int = 512) -> float:
    """Measure how many images per second ``model.predict`` handles.

    Args:
        model: A Keras model.
        images: The model's input, shape (N, ...): predicted twice, the first time to
            trace and warm up, the second time timed.
        batch_size: Images per prediction batch.

    Returns:
        Images per second.
    """
    _check_positive_int("batch_size", batch_size)
    model.predict(images, batch_size=batch_size, verbose=0)  # trace and warm up
    start = time.perf_counter()
    model.predict(images, batch_size=batch_size, verbose=0)
    return len(images) / (time.perf_counter() - start)


@contextlib.contextmanager
def _dtype_policy(name: str) -> Iterator[None]:
    """Set Keras's global dtype policy inside the block, and restore the previous one."""
    import keras

    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def _measure_model(
    name: str,
    precision: str,
    *,
    batch_size: int,
    x: np.ndarray,
    y: np.ndarray,
    args: argparse.Namespace,
) -> tuple[int, dict[str, float]]:
    """Build, compile and time one model in one precision; return its FLOPs and figures."""
    import keras
    import tensorflow as tf

    with _dtype_policy(precision):
        model = MODELS[name].build()
        # As the notebooks compile (the optimiser's update is a few operations per weight:
        # its choice does not change the throughput).
        model.compile(
            optimizer=keras.optimizers.SGD(learning_rate=0.01, momentum=0.9, nesterov=True),
            loss=keras.losses.CategoricalCrossentropy(label_smoothing=0.1),
            metrics=["accuracy"],
            jit_compile=args.xla,  # XLA as 03 and 06 train; Keras's default on a CPU is off
        )
        flops = compute_model_flops(model)
        steps = {"batch_size": batch_size, "warmup_steps": args.warmup_steps, "steps": args.steps}
        pipeline = data.make_dataset(x, y, batch_size=batch_size, training=True, one_hot=True)
        pipeline_ips = compute_training_speed(model, pipeline.repeat(), **steps)
        batch = (
            data.normalize(x[:batch_size]),
            np.eye(data.NUM_CLASSES, dtype=np.float32)[y[:batch_size]],
        )
        synthetic = tf.data.Dataset.from_tensors(batch).repeat()
        synthetic_ips = compute_training_speed(model, synthetic, **steps)
        pipeline_cpu = compute_pipeline_cpu(pipeline.repeat(), batch_size=batch_size)
        predict_images = data.normalize(np.resize(x, (args.predict_images, *x.shape[1:])))
        predict_ips = compute_predict_speed(model, predict_images, batch_size=batch_size)
    return flops, {
        "pipeline_images_per_s": pipeline_ips,
        "synthetic_images_per_s": synthetic_ips,
        "pipeline_overhead_percent": 100 * (1 - pipeline_ips / synthetic_ips),
        "pipeline_cpu_us_per_image": 1e6 * pipeline_cpu,
        # The cores' time per trained image is cores / (images per second).
        "pipeline_cpu_percent": 100 * pipeline_cpu * synthetic_ips / (doctor.usable_cores() or 1),
        "achieved_gflops": TRAINING_FLOPS_FACTOR * flops * synthetic_ips / 1e9,
        "predict_images_per_s": predict_ips,
    }


def _precisions(args: argparse.Namespace) -> tuple[str, list[str], str | None]:
    """(the precision "auto" chooses, the precisions to measure, a note or None)."""

    chosen = training.choose_precision("auto")
    wanted = chosen if args.precision == "auto" else args.precision
    if wanted == "float32":
        note = None
        if args.precision == "auto":
            note = (
                "the chosen precision on this machine is float32: mixed precision not measured "
                "(--precision mixed_bfloat16 measures it anyway)"
            )
        return chosen, ["float32"], note
    return chosen, ["float32", wanted], None


def _run_models(args: argparse.Namespace, report: dict[str, Any]) -> None:
    x, y, source, random_images = _training_images(args.path, args.images)
    chosen, precisions, note = _precisions(args)
    print(
        f"== models: training throughput, {args.steps} timed steps after {args.warmup_steps} "
        "warm-up",
        flush=True,
    )
    print(f"data: {source}")
    print(f"precision chosen by training.choose_precision('auto'): {chosen}")
    print(
        "compiled with XLA (jit_compile=True), as 03 and 06 train"
        if args.xla
        else "compiled without XLA, as 02 trains (--xla: as 03 and 06 do)"
    )
    if note:
        print(f"note: {note}")
    peaks = report.get("peak", {}).get("dtypes", {})
    results: dict[str, Any] = {}
    for name in args.model:
        batch_size = args.batch_size or MODELS[name].batch_size
        entry: dict[str, Any] = {"batch_size": batch_size, "forward_flops": 0, "precisions": {}}
        for precision in precisions:
            flops, figures = _measure_model(
                name, precision, batch_size=batch_size, x=x, y=y, args=args
            )
            peak = peaks.get(PEAK_DTYPE[precision], {}).get("best_gflops")
            figures["peak_share_percent"] = (
                100 * figures["achieved_gflops"] / peak if peak else None
            )
            entry["forward_flops"] = flops
            entry["precisions"][precision] = figures
        results[name] = entry

    _print_table(
        ["model", "batch", "forward MFLOP/image", "training MFLOP/image"],
        [
            [
                name,
                str(entry["batch_size"]),
                f"{entry['forward_flops'] / 1e6:,.1f}",
                f"{TRAINING_FLOPS_FACTOR * entry['forward_flops'] / 1e6:,.1f}",
            ]
            for name, entry in results.items()
        ],
    )
    print()
    rows = []
    for name, entry in results.items():
        for precision, figures in entry["precisions"].items():
            share = figures["peak_share_percent"]
            rows.append(
                [
                    name,
                    precision,
                    f"{figures['pipeline_images_per_s']:,.1f}",
                    f"{figures['synthetic_images_per_s']:,.1f}",
                    f"{figures['pipeline_overhead_percent']:.1f} %",
                    f"{figures['pipeline_cpu_percent']:.1f} %",
                    f"{figures['achieved_gflops']:,.1f}",
                    "-" if share is None else f"{share:.1f} %",
                    f"{figures['predict_images_per_s']:,.1f}",
                ]
            )
    _print_table(
        [
            "model",
            "precision",
            "pipeline img/s",
            "in-memory img/s",
            "overhead",
            "pipeline CPU",
            "GFLOP/s",
            "of peak",
            "predict img/s",
        ],
        rows,
        text=2,
    )
    print(
        "pipeline: data.make_dataset (shuffle, augmentation, normalisation); in-memory: one\n"
        "normalised batch repeated (the model alone); overhead = 1 - pipeline / in-memory (noisy:\n"
        "two short runs); pipeline CPU = the pipeline's CPU time per image, measured alone, over\n"
        "the cores' time per image trained from memory.\n"
        f"GFLOP/s = {TRAINING_FLOPS_FACTOR} x forward FLOPs x in-memory img/s (backward ~ 2 x "
        "forward); of peak: against --peak's best\nmatmul in the same precision. "
        f"predict: model.predict of {args.predict_images} images."
    )
    report["models"] = {
        "data": source,
        "random_images": random_images,
        "images": len(x),
        "chosen_precision": chosen,
        "warmup_steps": args.warmup_steps,
        "steps": args.steps,
        "predict_images": args.predict_images,
        "xla": args.xla,
        "results": results,
    }


# --------------------------------------------------------------------------------------
# Budget
# --------------------------------------------------------------------------------------


def compute_budget(
    images_per_second: Mapping[str, float], plans: Mapping[str, Mapping[str, int]]
) -> dict[str, dict[str, float]]:
    """Compute the training time of notebook runs from a measured training throughput.

    Like :func:`cifar_utils.data.make_dataset` for training, an epoch is
    ``train_images // batch_size`` full batches (the last partial batch is dropped).

    Args:
        images_per_second: Training images per second (> 0), by run name (for example
            ``"03_resnet/full"``).
        plans: By run name, ``{"epochs": int >= 0, "train_images": int >= 1, "batch_size":
            int >= 1}``, with ``train_images >= batch_size``. Runs without a throughput in
            `images_per_second` are left out.

    Returns:
        By run name: ``steps_per_epoch``, ``images_per_epoch``, ``epoch_s`` (seconds per
        epoch), ``training_s`` and ``training_min`` (all epochs; training only).

    Raises:
        ValueError: A throughput is not positive, or a plan misses a key or is out of range.
    """
    budget: dict[str, dict[str, float]] = {}
    for run, plan in plans.items():
        if run not in images_per_second:
            continue
        speed = images_per_second[run]
        if not (isinstance(speed, (int, float)) and math.isfinite(speed) and speed > 0):
            raise ValueError(
                f"images_per_second[{run!r}] must be a positive number, got {speed!r}."
            )
        missing = {"epochs", "train_images", "batch_size"} - set(plan)
        if missing:
            raise ValueError(
                f"plans[{run!r}] misses {sorted(missing)}: give epochs, train_images and "
                "batch_size."
            )
        epochs, train_images, batch_size = plan["epochs"], plan["train_images"], plan["batch_size"]
        for key in ("train_images", "batch_size"):
            _check_positive_int(f"plans[{run!r}][{key!r}]", plan[key])
        if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
            raise ValueError(f"plans[{run!r}]['epochs'] must be an integer >= 0, got {epochs!r}.")
        if train_images < batch_size:
            raise ValueError(
                f"plans[{run!r}]: {train_images} training images make no full batch of "
                f"{batch_size}; every batch would be dropped. Use fewer per batch or more images."
            )
        steps = train_images // batch_size
        epoch_s = steps * batch_size / speed
        budget[run] = {
            "steps_per_epoch": steps,
            "images_per_epoch": steps * batch_size,
            "epoch_s": epoch_s,
            "training_s": epochs * epoch_s,
            "training_min": epochs * epoch_s / 60,
        }
    return budget


def _default_notebook_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "notebooks"


def _read_plans(
    notebook_dir: Path, precision_of_auto: str
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Read each model's notebook run per profile; return (plans by run name, notes).

    A plan holds epochs, train_images, batch_size, plus model, precision and xla (the
    notebook's ``XLA`` parameter; False where it has none). A run whose notebook or
    parameters are missing is left out with a note."""
    from cifar_utils import series

    notebooks = {path.name[:2]: path for path in series.find_notebooks(notebook_dir)}
    profiles = {name: series.load_profile(name, notebook_dir) for name in ("full", "quick")}
    plans: dict[str, dict[str, Any]] = {}
    notes = []
    for model, spec in MODELS.items():
        notebook = notebooks.get(spec.notebook)
        if notebook is None:
            notes.append(f"no notebook {spec.notebook}_*.ipynb in {notebook_dir}: {model} skipped")
            continue
        defaults = series.read_parameters(notebook)
        for profile, values_by_stem in profiles.items():
            run = f"{notebook.stem}/{profile}"
            values = {**defaults, **values_by_stem.get(notebook.stem, {})}
            needed = [values.get(key) for key in ("EPOCHS", "TRAIN_SIZE", "BATCH_SIZE")]
            if not all(isinstance(value, int) and not isinstance(value, bool) for value in needed):
                notes.append(f"{run}: EPOCHS, TRAIN_SIZE or BATCH_SIZE missing; skipped")
                continue
            epochs, train_size, batch_size = needed
            val_size = values.get("VAL_SIZE", 5000)
            available = 50_000 - (val_size if isinstance(val_size, int) else 5000)
            precision = values.get("PRECISION", "float32")
            if precision == "auto":
                precision = precision_of_auto
            elif precision not in training.PRECISIONS:
                notes.append(f"{run}: unknown PRECISION {precision!r}, float32 assumed")
                precision = "float32"
            plans[run] = {
                "model": model,
                "precision": precision,
                "epochs": epochs,
                "train_images": min(train_size, available) if train_size else available,
                "batch_size": batch_size,
                "xla": values.get("XLA") is True,
            }
    return plans, notes


def _run_budget(args: argparse.Namespace, report: dict[str, Any]) -> None:
    print("== budget: training time per notebook run, from the pipeline-fed throughput", flush=True)
    measured = report.get("models", {}).get("results", {})
    chosen = report.get("models", {}).get("chosen_precision", "float32")
    notebook_dir = Path(args.notebooks_dir) if args.notebooks_dir else _default_notebook_dir()
    try:
        plans, notes = _read_plans(notebook_dir, chosen)
    except (FileNotFoundError, ValueError) as error:
        print(f"skipped: cannot read the notebooks' parameters in {notebook_dir}: {error}")
        report["budget"] = {"skipped": str(error)}
        return
    speeds: dict[str, float] = {}
    for run, plan in list(plans.items()):
        figures = measured.get(plan["model"], {}).get("precisions", {})
        if plan["precision"] not in figures and "float32" in figures:
            notes.append(f"{run}: {plan['precision']} not measured, float32 throughput used")
            plan["precision"] = "float32"
        if plan["precision"] in figures:
            speeds[run] = figures[plan["precision"]]["pipeline_images_per_s"]
            measured_xla = report["models"].get("xla", False)
            if plan["xla"] != measured_xla:
                notes.append(
                    f"{run}: the notebook trains {'with' if plan['xla'] else 'without'} XLA, "
                    f"the throughput was measured {'with' if measured_xla else 'without'} it"
                    + ("" if measured_xla else " (--xla measures it with)")
                )
            measured_batch = measured[plan["model"]]["batch_size"]
            if measured_batch != plan["batch_size"]:
                notes.append(
                    f"{run}: batch {plan['batch_size']}, throughput measured at batch "
                    f"{measured_batch}"
                )
        else:
            notes.append(f"{run}: {plan['model']} not measured (--model); skipped")
    budget: dict[str, dict[str, Any]] = {}
    for run, plan in plans.items():
        try:
            keys = ("epochs", "train_images", "batch_size")
            figures = compute_budget(speeds, {run: {key: plan[key] for key in keys}})
        except ValueError as error:
            notes.append(f"{run}: {error}")
            continue
        if run in figures:
            budget[run] = {**plan, "images_per_second": speeds[run], **figures[run]}
    rows = [
        [
            run.split("/")[0],
            run.split("/")[1],
            entry["precision"],
            str(entry["epochs"]),
            f"{entry['images_per_epoch']:,}",
            f"{entry['images_per_second']:,.1f}",
            _format_seconds(entry["epoch_s"]),
            f"{entry['training_min']:,.1f} min",
        ]
        for run, entry in budget.items()
    ]
    if rows:
        _print_table(
            [
                "notebook",
                "profile",
                "precision",
                "epochs",
                "images/epoch",
                "img/s",
                "per epoch",
                "training",
            ],
            rows,
            text=3,
        )
        print(
            "training (fit) only: the notebooks also load the data, evaluate, draw figures, "
            "and 03 trains small\ndemonstration networks first; a whole run takes longer."
        )
    for note in notes:
        print(f"note: {note}")
    report["budget"] = {"notebook_dir": str(notebook_dir), "runs": budget, "notes": notes}


def _format_seconds(seconds: float) -> str:
    return f"{seconds:,.1f} s" if seconds < 600 else f"{seconds / 60:,.1f} min"


# --------------------------------------------------------------------------------------
# Phases: where one epoch's time goes
# --------------------------------------------------------------------------------------

PHASE_NOTEBOOKS = ("02", "03", "06")
"""The notebooks whose epoch ``--phases`` profiles (the ones that train a model for long)."""


class _Clock:
    """Wall-clock and CPU time (all of this process's threads) read together."""

    def __init__(self) -> None:
        self.wall = time.perf_counter()
        self.cpu = time.process_time()

    def since(self, start: _Clock) -> tuple[float, float]:
        return self.wall - start.wall, self.cpu - start.cpu


def _phase_callbacks() -> tuple[type, type, type]:
    """Two Keras callback classes, built on first use (importing Keras is slow): one that
    notes the time at the edges of every step and validation pass, and a wrapper that
    times another callback's hooks."""
    import keras

    class StepClock(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.steps: list[tuple[float, float]] = []  # (wall, cpu) of every step
            # (wall, cpu) from one step's start to the next one's, callbacks and the wait
            # for data included, from the second step on
            self.cycles: list[tuple[float, float]] = []
            self.validation = (0.0, 0.0)
            self.epoch = (0.0, 0.0)
            self._start: _Clock | None = None
            self._epoch_start: _Clock | None = None

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self._epoch_start = _Clock()

        def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
            now = _Clock()
            if len(self.steps) >= 2 and self._start is not None:
                self.cycles.append(now.since(self._start))
            self._start = now

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            assert self._start is not None
            self.steps.append(_Clock().since(self._start))

        def on_test_begin(self, logs: Any = None) -> None:
            self._start = _Clock()

        def on_test_end(self, logs: Any = None) -> None:
            assert self._start is not None
            self.validation = _Clock().since(self._start)

        def end_epoch(self) -> None:  # called by the last callback of the list
            assert self._epoch_start is not None
            self.epoch = _Clock().since(self._epoch_start)

    class EpochEnd(keras.callbacks.Callback):
        def __init__(self, clock: StepClock) -> None:
            super().__init__()
            self.clock = clock

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            self.clock.end_epoch()

    class Timed(keras.callbacks.Callback):
        """Runs ``inner``'s hooks and adds up the seconds they take, per step and per
        epoch (the hooks of fit's start and end are run, not counted)."""

        _STEP_HOOKS = ("on_train_batch_begin", "on_train_batch_end")
        _EPOCH_HOOKS = ("on_epoch_begin", "on_epoch_end", "on_test_begin", "on_test_end")
        _OTHER_HOOKS = (
            "on_train_begin",
            "on_train_end",
            "on_test_batch_begin",
            "on_test_batch_end",
        )

        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner
            self.step_seconds = 0.0
            self.epoch_seconds = 0.0
            self.epoch_cpu_seconds = 0.0
            for hook in self._STEP_HOOKS + self._EPOCH_HOOKS + self._OTHER_HOOKS:
                setattr(self, hook, self._timed(hook))

        def _timed(self, hook: str) -> Callable[..., None]:
            method = getattr(self.inner, hook)

            def run(*args: Any, **kwargs: Any) -> None:
                start = _Clock()
                method(*args, **kwargs)
                elapsed, cpu = _Clock().since(start)
                if hook in self._STEP_HOOKS:
                    self.step_seconds += elapsed
                elif hook in self._EPOCH_HOOKS:
                    self.epoch_seconds += elapsed
                    self.epoch_cpu_seconds += cpu

            return run

        def set_model(self, model: Any) -> None:
            super().set_model(model)
            self.inner.set_model(model)

        def set_params(self, params: Any) -> None:
            super().set_params(params)
            self.inner.set_params(params)

    return StepClock, Timed, EpochEnd


def compute_epoch_phases(
    model: Any,
    train_ds: Any,
    val_ds: Any,
    *,
    batch_size: int,
    steps_per_epoch: int,
    loss: Any,
    callbacks: Sequence[Any] = (),
    steps: int = 10,
    tta_images: np.ndarray | None = None,
) -> dict[str, Any]:
    """Measure where the time of one training epoch goes, as a notebook trains it.

    Runs a short ``fit`` (``steps`` steps of ``train_ds``, then a validation pass over
    ``val_ds``, with the notebook's ``callbacks``, each timed), after a warm-up that traces
    the training and validation steps, and scales the steps to ``steps_per_epoch``. The
    training step is taken apart on one batch held in memory: the forward pass (training
    mode), the forward and backward pass (the gradients), and the whole step (the
    optimiser's update and the metrics on top). The input pipeline's share is what a
    pipeline-fed step takes beyond a step from memory. CPU time is read with
    :func:`time.process_time` (all threads), so ``cores busy`` is the share of the
    machine's cores the process kept busy.

    The model is trained by these steps: profile a copy made for the purpose.

    Args:
        model: A compiled Keras model (the notebook's optimiser, loss and precision).
        train_ds: The notebook's training pipeline (``data.make_dataset``), repeated or
            long enough for ``steps + 3`` batches.
        val_ds: The notebook's validation dataset (measured whole: one pass).
        batch_size: Images per training batch.
        steps_per_epoch: Training steps of one full epoch.
        loss: The loss function the model was compiled with (called on labels and
            predictions for the gradients).
        callbacks: The notebook's callbacks (fresh ones: they see this short ``fit``).
        steps: Training steps timed (>= 2).
        tta_images: Normalised images to time ``training.predict_tta`` on, once per run
            (notebooks 03 and 06 evaluate the test set so); None to skip.

    Returns:
        Seconds per epoch by phase (``phases``: forward, backward, optimizer and metrics,
        input pipeline, validation, one entry per callback, other: the Keras loop), the
        whole ``epoch_s``, the per-step figures, ``cores_busy`` (training steps from
        memory, fed by the pipeline, validation, and the epoch they make up: shares of
        ``doctor.usable_cores()``), and ``tta_s`` (None without ``tta_images``).
    """
    import keras
    import tensorflow as tf

    _check_positive_int("batch_size", batch_size)
    _check_positive_int("steps_per_epoch", steps_per_epoch)
    _check_positive_int("steps", steps)
    if steps < 2:
        raise ValueError(f"steps must be at least 2 (the first step is timed apart), got {steps}.")
    cores = doctor.usable_cores() or 1
    step_clock_type, timed_type, epoch_end_type = _phase_callbacks()
    quiet = {"verbose": 0, "shuffle": False}

    # Warm-up: trace the training and the validation step (Keras keeps both for later fits).
    model.fit(train_ds, epochs=1, steps_per_epoch=2, validation_data=val_ds.take(1), **quiet)

    # One batch in memory: the model alone.
    images, labels = next(iter(train_ds))
    memory = tf.data.Dataset.from_tensors((images, labels)).repeat()
    memory_clock = step_clock_type()
    model.fit(memory, epochs=1, steps_per_epoch=steps + 1, callbacks=[memory_clock], **quiet)
    memory_steps = memory_clock.steps[1:]
    step_s = statistics.median(wall for wall, _ in memory_steps)
    memory_busy = sum(cpu for _, cpu in memory_steps) / sum(w for w, _ in memory_steps) / cores

    forward = tf.function(lambda x: model(x, training=True))

    @tf.function
    def gradients(x: Any, y: Any) -> Any:
        with tf.GradientTape() as tape:
            value = loss(y, model(x, training=True))
        return tape.gradient(value, model.trainable_variables)

    def median_seconds(function: Callable[[], Any]) -> float:
        function()  # trace
        times = []
        for _ in range(max(3, steps // 2)):
            start = time.perf_counter()
            keras.tree.map_structure(lambda t: t.numpy() if hasattr(t, "numpy") else t, function())
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    forward_s = median_seconds(lambda: forward(images))
    gradients_s = max(median_seconds(lambda: gradients(images, labels)), forward_s)

    # The notebook's epoch: pipeline, callbacks, validation.
    clock = step_clock_type()
    timed = [timed_type(callback) for callback in callbacks]
    model.fit(
        train_ds,
        epochs=1,
        steps_per_epoch=steps,
        validation_data=val_ds,
        callbacks=[clock, *timed, epoch_end_type(clock)],
        **quiet,
    )
    first_s = clock.steps[0][0]
    fed = clock.steps[1:]
    fed_s = statistics.median(wall for wall, _ in fed)
    fed_busy = sum(cpu for _, cpu in fed) / sum(wall for wall, _ in fed) / cores
    validation_s, validation_cpu = clock.validation
    # The steady epoch: its steps from one start to the next (callbacks and the wait for
    # data included; the first step's one-off start, the shuffle buffer, left out) scaled
    # to the epoch's steps, then validation and the callbacks' once-an-epoch hooks (a
    # backup's save) once.
    cycles = clock.cycles or fed
    cycle_scale = steps_per_epoch / len(cycles)
    once_wall = validation_s + sum(callback.epoch_seconds for callback in timed)
    once_cpu = validation_cpu + sum(callback.epoch_cpu_seconds for callback in timed)
    epoch_wall = sum(wall for wall, _ in cycles) * cycle_scale + once_wall
    epoch_cpu = sum(cpu for _, cpu in cycles) * cycle_scale + once_cpu

    scale = steps_per_epoch / steps
    phases = {
        "forward": forward_s * steps_per_epoch,
        "backward": (gradients_s - forward_s) * steps_per_epoch,
        "optimizer and metrics": max(step_s - gradients_s, 0.0) * steps_per_epoch,
        "input pipeline": max(fed_s - step_s, 0.0) * steps_per_epoch + max(first_s - fed_s, 0.0),
        "validation": validation_s,
    }
    for callback in timed:
        name = type(callback.inner).__name__
        phases[name] = callback.step_seconds * scale + callback.epoch_seconds
    measured_epoch = clock.epoch[0] + (steps_per_epoch - steps) * fed_s
    epoch_s = max(measured_epoch, sum(phases.values()))
    phases["other (Keras loop)"] = epoch_s - sum(phases.values())

    tta_s = None
    if tta_images is not None:
        training.predict_tta(model, tta_images[:batch_size])  # trace
        tta_start = time.perf_counter()
        training.predict_tta(model, tta_images)
        tta_s = time.perf_counter() - tta_start
    return {
        "batch_size": batch_size,
        "steps_per_epoch": steps_per_epoch,
        "steps": steps,
        "epoch_s": epoch_s,
        "phases": phases,
        "step_s": {"forward": forward_s, "gradients": gradients_s, "memory": step_s, "fed": fed_s},
        "cores_busy": {
            "training steps (memory)": memory_busy,
            "training steps (pipeline)": fed_busy,
            "validation": validation_cpu / validation_s / cores if validation_s else 0.0,
            "epoch (steady)": epoch_cpu / epoch_wall / cores,
        },
        "cores": cores,
        "tta_s": tta_s,
        "tta_images": 0 if tta_images is None else len(tta_images),
    }


def _notebook_values(notebook_dir: Path) -> dict[str, dict[str, Any]]:
    """The full-profile parameters of the notebooks ``--phases`` profiles, by two-digit
    prefix (a notebook that is missing is left out)."""
    from cifar_utils import series

    notebooks = {path.name[:2]: path for path in series.find_notebooks(notebook_dir)}
    profile = series.load_profile("full", notebook_dir)
    values = {}
    for prefix in PHASE_NOTEBOOKS:
        if prefix in notebooks:
            stem = notebooks[prefix].stem
            values[prefix] = {**series.read_parameters(notebooks[prefix]), **profile.get(stem, {})}
    return values


def _phase_run(
    prefix: str, values: Mapping[str, Any], x: np.ndarray, y: np.ndarray, scratch: Path
) -> dict[str, Any]:
    """The model, datasets, loss and callbacks of one notebook's epoch, built as the
    notebook builds them from its parameters (its full profile)."""
    import keras

    from cifar_utils import callbacks, models, optimizers

    batch_size = int(values["BATCH_SIZE"])
    val_size = int(values.get("VAL_SIZE", 5000))
    x_val, y_val = x[:val_size], y[:val_size]
    x_train, y_train = x[val_size:], y[val_size:]
    steps_per_epoch = max(1, TRAINING_IMAGES // batch_size)
    loss = keras.losses.CategoricalCrossentropy(label_smoothing=values["LABEL_SMOOTHING"])
    flip = {"flip": values["FLIP"], "pad": 2, "epochs": 2} if "FLIP" in values else {}
    params = {"notebook": prefix}  # the backup only needs something to hash
    callback_list: list[Any] = [callbacks.EpochProgress()]
    if prefix == "02":
        model = models.build_baseline_cnn(dropout=values["DROPOUT"])
        optimizer = keras.optimizers.SGD(
            keras.optimizers.schedules.CosineDecay(
                values["LEARNING_RATE"] / 10, steps_per_epoch * 10, warmup_steps=steps_per_epoch
            ),
            momentum=values["MOMENTUM"],
            nesterov=True,
            weight_decay=values["WEIGHT_DECAY"],
        )
    elif prefix == "03":
        model = models.build_resnet(widths=values["WIDTHS"])
        total_steps = int(values["EPOCHS"]) * steps_per_epoch
        optimizer = keras.optimizers.SGD(
            callbacks.TriangularSchedule(values["LEARNING_RATE"], total_steps),
            momentum=values["MOMENTUM"],
            nesterov=True,
            weight_decay=values["WEIGHT_DECAY"],
        )
        if values.get("LOOKAHEAD"):
            callback_list.append(callbacks.Lookahead(total_steps))
    else:
        widths = values["WIDTHS"] or [64, 256, 256]  # []: the wide network where it pays
        model = models.build_resnet(widths=widths, bias_multiplier=1.0)
        head_scale = (models.LOGIT_SCALE * widths[-1]) ** 2
        optimizer = optimizers.Muon(
            callbacks.LinearDecay(values["LEARNING_RATE"], 20 * steps_per_epoch),
            momentum=values["MOMENTUM"],
            bias_learning_rate=values["BIAS_LEARNING_RATE"] * batch_size,
            head_learning_rate=values["HEAD_LEARNING_RATE"] * batch_size / head_scale,
            sgd_momentum=values["SGD_MOMENTUM"],
            sgd_weight_decay=values["WEIGHT_DECAY"] * batch_size,
        )
    callback_list.append(callbacks.TrainingBackup(scratch / f"backup-{prefix}", params))
    model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])
    train_ds = data.make_dataset(
        x_train, y_train, batch_size=batch_size, training=True, one_hot=True, **flip
    ).repeat()
    val_ds = data.make_dataset(x_val, y_val, batch_size=batch_size, one_hot=True)
    return {
        "model": model,
        "train_ds": train_ds,
        "val_ds": val_ds,
        "loss": loss,
        "callbacks": callback_list,
        "batch_size": batch_size,
        "steps_per_epoch": steps_per_epoch,
        "tta": prefix != "02",
    }


def _run_phases(args: argparse.Namespace, report: dict[str, Any]) -> None:
    import io

    precision = training.choose_precision("auto") if args.precision == "auto" else args.precision
    notebook_dir = Path(args.notebooks_dir) if args.notebooks_dir else _default_notebook_dir()
    values = _notebook_values(notebook_dir)
    x, y, source, random_images = _training_images(args.path, args.images)
    print(
        f"== phases: one full-profile epoch of notebooks {', '.join(values)}, from "
        f"{args.steps} timed steps scaled to the epoch ({precision}, "
        f"{'with' if args.xla else 'without'} XLA)",
        flush=True,
    )
    print(f"data: {source}")
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as scratch, _dtype_policy(precision):
        for prefix, notebook_values in values.items():
            if args.batch_size:
                notebook_values = {**notebook_values, "BATCH_SIZE": args.batch_size}
            if len(x) < 2 * notebook_values.get("VAL_SIZE", 5000):  # tiny test settings
                notebook_values = {**notebook_values, "VAL_SIZE": max(1, len(x) // 10)}
            run = _phase_run(prefix, notebook_values, x, y, Path(scratch))
            run["model"].compile(
                optimizer=run["model"].optimizer,
                loss=run["loss"],
                metrics=["accuracy"],
                jit_compile=args.xla,
            )
            tta_images = data.normalize(x[: args.tta_images]) if run["tta"] else None
            with contextlib.redirect_stdout(io.StringIO()):  # EpochProgress's line
                results[prefix] = compute_epoch_phases(
                    run["model"],
                    run["train_ds"],
                    run["val_ds"],
                    batch_size=run["batch_size"],
                    steps_per_epoch=run["steps_per_epoch"],
                    loss=run["loss"],
                    callbacks=run["callbacks"],
                    steps=max(2, args.steps),
                    tta_images=tta_images,
                )
            results[prefix]["precision"] = precision
            results[prefix]["xla"] = args.xla
    other = "other (Keras loop)"
    names = [
        n for n in dict.fromkeys(n for r in results.values() for n in r["phases"]) if n != other
    ]
    names.append(other)
    rows = []
    for name in names:
        row = [name]
        for result in results.values():
            seconds = result["phases"].get(name)
            row.append(
                "-"
                if seconds is None
                else f"{seconds:6.1f} s {100 * seconds / result['epoch_s']:3.0f}%"
            )
        rows.append(row)
    rows.append(["epoch", *[f"{r['epoch_s']:6.1f} s" for r in results.values()]])
    header = ["phase", *[f"{p} (batch {r['batch_size']})" for p, r in results.items()]]
    _print_table(header, rows)
    print()
    busy_names = list(next(iter(results.values()))["cores_busy"]) if results else []
    _print_table(
        ["cores busy", *results],
        [
            [name, *[f"{100 * r['cores_busy'][name]:.0f}%" for r in results.values()]]
            for name in busy_names
        ]
        + [
            [
                "TTA of the test set (once)",
                *[
                    "-"
                    if r["tta_s"] is None
                    else f"{r['tta_s']:.1f} s ({r['tta_images']:,} images)"
                    for r in results.values()
                ],
            ]
        ],
    )
    print(
        "forward: the model in training mode on one batch held in memory; backward: the\n"
        "gradients minus the forward pass; optimizer and metrics: the whole step from memory\n"
        "minus the gradients; input pipeline: a pipeline-fed step minus a step from memory,\n"
        "plus the first step's start (shuffle buffer); callbacks: the seconds inside their\n"
        "hooks; other: the rest of the measured epoch. cores busy: CPU time (all threads)\n"
        f"over wall time and {doctor.usable_cores() or 1} cores."
    )
    report["phases"] = {
        "data": source,
        "random_images": random_images,
        "steps": args.steps,
        "results": results,
    }


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------


def _print_table(header: Sequence[str], rows: Sequence[Sequence[str]], *, text: int = 1) -> None:
    """Print columns aligned: the first `text` columns to the left, the numbers to the right."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        cells = [
            cell.ljust(width) if i < text else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        print("  ".join(cells).rstrip(), flush=True)


def _run_load(args: argparse.Namespace, report: dict[str, Any]) -> None:
    source = data.find_cifar10(args.path)
    print(f"== load: {source}", flush=True)
    times = compute_load_times(args.path, repeats=args.repeats)
    rows = []
    for case, label in _CASE_LABELS.items():
        if f"{case}_best_s" in times:
            best, median = times[f"{case}_best_s"], times[f"{case}_median_s"]
            rows.append(
                [label, f"{best:.2f} s", f"{median:.2f} s", f"< {LOAD_TARGETS_S[case]:g} s"]
            )
    _print_table(["case", "best", "median", "target"], rows)
    report["load"] = {"source": str(source), "repeats": args.repeats, **times}


def _run_setup(args: argparse.Namespace, report: dict[str, Any]) -> None:
    """What the notebooks' PRECISION = XLA = "auto" choose here, measured afresh."""
    import tempfile

    import keras

    names = args.model or list(MODELS)
    print(
        '== setup: what PRECISION = XLA = "auto" choose here (training.choose_setup, '
        f"{args.steps} timed steps from memory, measured afresh)",
        flush=True,
    )
    rng = np.random.default_rng(0)
    results: dict[str, dict[str, Any]] = {}
    for name in names:
        spec = MODELS[name]
        batch_size = args.batch_size or spec.batch_size
        images = rng.normal(size=(batch_size, 32, 32, 3)).astype(np.float32)
        labels = np.eye(data.NUM_CLASSES, dtype=np.float32)[rng.integers(0, 10, batch_size)]

        def build(xla: bool, spec: _ModelSpec = spec) -> Any:
            model = spec.build()
            model.compile(
                optimizer=keras.optimizers.SGD(learning_rate=0.01, momentum=0.9, nesterov=True),
                loss=keras.losses.CategoricalCrossentropy(label_smoothing=0.1),
                jit_compile=xla,
            )
            return model

        with tempfile.TemporaryDirectory() as scratch:
            setup = training.choose_setup(
                build,
                images,
                labels,
                name=f"bench {name}",
                steps=args.steps,
                cache=Path(scratch) / "setups.json",
            )
        results[name] = {
            "batch_size": batch_size,
            "precision": setup.precision,
            "xla": setup.xla,
            "images_per_s": setup.speeds,
        }
    candidates = list(dict.fromkeys(c for r in results.values() for c in r["images_per_s"]))
    rows = [
        [
            name,
            str(result["batch_size"]),
            *[
                f"{result['images_per_s'][c]:,.1f}" if c in result["images_per_s"] else "-"
                for c in candidates
            ],
            f"{result['precision']}{'+XLA' if result['xla'] else ''}",
        ]
        for name, result in results.items()
    ]
    _print_table(["model", "batch", *(f"{c} img/s" for c in candidates), "choice"], rows)
    print(
        "The notebooks measure the same way with their own model, optimiser and batch, and\n"
        "cache the choice per machine (training.default_setup_cache())."
    )
    report["setup"] = {"results": results}


SECTIONS: dict[str, tuple[str, Callable[[argparse.Namespace, dict[str, Any]], None]]] = {
    "peak": ("matrix-multiply GFLOP/s in float32 and bfloat16: the practical peak", _run_peak),
    "models": (
        "FLOPs, training (real pipeline and in-memory) and inference images/s of the models",
        _run_models,
    ),
    "setup": (
        'the precision and XLA setting PRECISION = XLA = "auto" choose, with every '
        "candidate's images/s",
        _run_setup,
    ),
    "load": ("time loading CIFAR-10 (from the archive, then from the cache)", _run_load),
    "budget": ("minutes of training per notebook run, full and quick (runs --models)", _run_budget),
    "phases": (
        "where one epoch of notebooks 02, 03 and 06 spends its time, and how busy the cores are",
        _run_phases,
    ),
}
"""Benchmark sections in the order they run: name -> (help text, function)."""

_SECTIONS_NEEDING = {"budget": "models"}  # a section -> the section whose figures it reads


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:

    parser = argparse.ArgumentParser(
        prog="python -m cifar_utils.bench",
        description="Benchmarks of this machine for the CIFAR-10 notebook series. With no "
        "section flag every section runs.",
    )
    for name, (help_text, _) in SECTIONS.items():
        parser.add_argument(f"--{name}", action="store_true", help=help_text)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smaller matrices, fewer steps and repeats (aims at under 2 minutes on an idle "
        "2-core CPU)",
    )
    parser.add_argument("--json", metavar="PATH", help="also write every figure to this file")
    parser.add_argument(
        "--xla",
        action="store_true",
        help="--models: compile the training step with XLA (jit_compile=True), as notebooks 03 "
        "and 06 do (default: without, as 02 does)",
    )
    parser.add_argument(
        "--path",
        default=None,
        help="CIFAR-10 archive or folder (default: $CIFAR10_PATH, the cache, Keras's cache)",
    )
    parser.add_argument(
        "--precision",
        choices=training.PRECISIONS,
        default="auto",
        help="--models: measure float32 and this mixed precision (default: auto, the one the "
        "notebooks choose here; float32: float32 only)",
    )
    parser.add_argument(
        "--model",
        action="append",
        choices=list(MODELS),
        help="--models: measure only this model (repeatable; default: all)",
    )
    parser.add_argument(
        "--steps",
        type=_positive_int,
        help="--models, --phases: timed training steps per measurement (default: 10, 3 with "
        "--quick)",
    )
    parser.add_argument(
        "--matmul-size",
        type=_positive_int,
        help="--peak: side n of the n x n matrices (default: 2048, 1024 with --quick)",
    )
    parser.add_argument(
        "--repeats",
        type=_positive_int,
        help="--load: timed runs of the slowest case (default: 3, 1 with --quick)",
    )
    parser.add_argument(
        "--notebooks-dir",
        help="--budget: folder holding the notebooks and profiles/ (default: this checkout's)",
    )
    # For tests and experiments: sizes that make the measurements small.
    hidden = argparse.SUPPRESS
    parser.add_argument("--warmup-steps", type=_positive_int, help=hidden)
    parser.add_argument("--batch-size", type=_positive_int, help=hidden)
    parser.add_argument("--images", type=_positive_int, default=TRAINING_IMAGES, help=hidden)
    parser.add_argument("--predict-images", type=_positive_int, help=hidden)
    parser.add_argument("--tta-images", type=_positive_int, help=hidden)
    parser.add_argument("--matmul-repeats", type=_positive_int, help=hidden)
    args = parser.parse_args(argv)
    defaults = _SETTINGS[args.quick]
    for key in (
        "steps",
        "warmup_steps",
        "matmul_size",
        "matmul_repeats",
        "predict_images",
        "tta_images",
    ):
        if getattr(args, key) is None:
            setattr(args, key, defaults[key])
    if args.repeats is None:
        args.repeats = defaults["load_repeats"]
    args.model = list(dict.fromkeys(args.model or MODELS))
    return args


_ONEDNN_WORDS = {True: "on", False: "off", None: "unknown"}


def _machine() -> dict[str, Any]:
    import keras
    import tensorflow as tf

    return {
        "cpu": doctor.cpu_model(),
        "cores": doctor.usable_cores(),
        "gpus": _gpus(),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "onednn": training.onednn_enabled(),
    }


def _write_json(report: Mapping[str, Any], path: Path) -> None:
    """Write the report next to `path`, then move it over `path` in one step."""
    with files.atomic_path(path) as temporary:
        temporary.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark sections named on the command line (all of them by default).

    Returns:
        The exit status: 0, or 1 when a section named on the command line failed (no data
        for ``--load``, corrupt data). Without section flags, a section whose data is
        missing is skipped with a message.
    """
    args = _parse_args(argv)
    named = [name for name in SECTIONS if getattr(args, name)]
    wanted = set(named or SECTIONS)
    for name, needed in _SECTIONS_NEEDING.items():
        if name in wanted:
            wanted.add(needed)
    chosen = [name for name in SECTIONS if name in wanted]
    report: dict[str, Any] = {
        "settings": {
            "quick": args.quick,
            "sections": chosen,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
    }
    if wanted & {"peak", "models"}:
        report["machine"] = _machine()
        machine = report["machine"]
        print(
            f"machine: {machine['cpu']}, {machine['cores']} cores; "
            f"GPU: {', '.join(machine['gpus']) or 'none'}; TensorFlow {machine['tensorflow']}, "
            f"Keras {machine['keras']}; oneDNN {_ONEDNN_WORDS[machine['onednn']]}",
            flush=True,
        )
    status = 0
    for index, name in enumerate(chosen):
        if index or "machine" in report:
            print()
        try:
            SECTIONS[name][1](args, report)
        except FileNotFoundError as exc:
            if name in named:
                print(f"{name}: {exc}", file=sys.stderr)
                status = 1
            else:
                print(f"== {name}: skipped, no data: {exc}")
            report[name] = {"skipped": str(exc)}
        except data.CifarDataError as exc:
            print(f"{name}: {exc}", file=sys.stderr)
            report[name] = {"error": str(exc)}
            status = 1
    if args.json:
        _write_json(report, Path(args.json))
        print(f"\n(figures written to {args.json})")
    return status


if __name__ == "__main__":
    # Measure what the notebooks run: their first cell asks for oneDNN the same way
    # (TF_ENABLE_ONEDNN_OPTS=0 in the environment measures without it).
    training.prefer_onednn()
    raise SystemExit(main())
