"""Tests of cifar_utils.bench: FLOP counts, the matmul peak, the budget arithmetic, and the
command line on tiny settings. Timings are printed by the benchmark, never asserted here."""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path
from typing import Any

import keras
import nbformat
import numpy as np
import pytest
import tensorflow as tf
from keras import layers

from cifar_utils import bench, data, training

# Settings that make a --models run take seconds: a small batch, two timed steps.
TINY = [
    "--quick",
    "--precision",
    "float32",
    "--batch-size",
    "4",
    "--warmup-steps",
    "1",
    "--steps",
    "2",
    "--images",
    "16",
    "--predict-images",
    "8",
]


@pytest.fixture(autouse=True)
def _isolated(cifar_env: Path) -> Path:
    """No CIFAR10_PATH and an empty cache: the benchmark finds no real data."""
    return cifar_env


# --------------------------------------------------------------------------------------
# compute_model_flops
# --------------------------------------------------------------------------------------


def _model(input_shape: tuple[int, ...], *stack: layers.Layer) -> keras.Model:
    inputs = keras.Input(input_shape)
    x = inputs
    for layer in stack:
        x = layer(x)
    return keras.Model(inputs, x)


def test_model_flops_conv_valid_padding() -> None:
    model = _model((8, 8, 3), layers.Conv2D(4, 3, padding="valid"))
    # output 6 x 6 x 4; each output: 3 x 3 x 3 multiply-adds
    assert bench.compute_model_flops(model) == 2 * (3 * 3 * 3) * (6 * 6 * 4)


def test_model_flops_conv_same_padding_and_strides() -> None:
    same = _model((8, 8, 3), layers.Conv2D(5, 3, padding="same"))
    assert bench.compute_model_flops(same) == 2 * (3 * 3 * 3) * (8 * 8 * 5)
    strided = _model((8, 8, 3), layers.Conv2D(5, 3, strides=2, padding="same"))
    assert bench.compute_model_flops(strided) == 2 * (3 * 3 * 3) * (4 * 4 * 5)
    rectangular = _model((9, 7, 2), layers.Conv2D(3, (3, 1), strides=(2, 1), padding="valid"))
    assert bench.compute_model_flops(rectangular) == 2 * (3 * 1 * 2) * (4 * 7 * 3)


def test_model_flops_grouped_conv() -> None:
    model = _model((6, 6, 4), layers.Conv2D(6, 3, groups=2, padding="valid"))
    # each output sees 3 x 3 x (4 / 2) inputs
    assert bench.compute_model_flops(model) == 2 * (3 * 3 * 2) * (4 * 4 * 6)


def test_model_flops_dense_and_ignored_layers() -> None:
    model = _model(
        (8, 8, 3),
        layers.Conv2D(4, 3, padding="valid"),  # 6 x 6 x 4
        layers.BatchNormalization(),
        layers.ReLU(),
        layers.MaxPooling2D(2),  # 3 x 3 x 4
        layers.Flatten(),  # 36
        layers.Dense(10),
        layers.Activation("softmax"),
    )
    conv = (3 * 3 * 3) * (6 * 6 * 4)
    dense = 36 * 10
    assert bench.compute_model_flops(model) == 2 * (conv + dense)


def test_model_flops_dense_per_position_and_nested_models() -> None:
    per_position = _model((5, 7), layers.Dense(3))  # applied to each of 5 positions
    assert bench.compute_model_flops(per_position) == 2 * 5 * 7 * 3
    inner = keras.Sequential([keras.Input((4,)), layers.Dense(6), layers.Dense(2)])
    outer = _model((4,), inner, layers.Dense(5))
    assert bench.compute_model_flops(outer) == 2 * (4 * 6 + 6 * 2 + 2 * 5)


def test_model_flops_of_the_baseline_cnn() -> None:
    model = bench.MODELS["baseline_cnn"].build()
    # (kernel inputs, filters, output pixels) of the six 3x3 convolutions, then the classifier
    convs = [
        (3, 32, 32 * 32),
        (32, 32, 32 * 32),
        (32, 64, 16 * 16),
        (64, 64, 16 * 16),
        (64, 128, 8 * 8),
        (128, 128, 8 * 8),
    ]
    macs = sum(9 * c_in * c_out * pixels for c_in, c_out, pixels in convs) + 128 * 10
    assert bench.compute_model_flops(model) == 2 * macs == 77_269_504


def test_model_flops_of_the_resnet() -> None:
    model = bench.MODELS["resnet"].build()
    # the 2x2 whitening convolution (32 -> 31 pixels), then per stage a 3x3 convolution
    # before pooling (31 -> 15 -> 7 -> 3) and one after it, then the classifier
    convs = [
        (2 * 2 * 3, 24, 31 * 31),
        (9 * 24, 64, 31 * 31),
        (9 * 64, 64, 15 * 15),
        (9 * 64, 128, 15 * 15),
        (9 * 128, 128, 7 * 7),
        (9 * 128, 128, 7 * 7),
        (9 * 128, 128, 3 * 3),
    ]
    macs = sum(inputs * filters * pixels for inputs, filters, pixels in convs) + 128 * 10
    assert bench.compute_model_flops(model) == 2 * macs == 108_447_808


def test_model_flops_needs_a_built_model() -> None:
    with pytest.raises(ValueError, match="built"):
        bench.compute_model_flops(keras.Sequential([layers.Dense(3)]))


# --------------------------------------------------------------------------------------
# compute_matmul_gflops
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_matmul_gflops_is_positive(dtype: str) -> None:
    gflops = bench.compute_matmul_gflops(dtype, n=32, repeats=2, min_seconds=0.01)
    assert math.isfinite(gflops) and gflops > 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"dtype": "int8"}, "dtype"),
        ({"n": 0}, "n must"),
        ({"repeats": 0}, "repeats"),
        ({"min_seconds": 0}, "min_seconds"),
    ],
)
def test_matmul_gflops_rejects_bad_arguments(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        bench.compute_matmul_gflops(**kwargs)


# --------------------------------------------------------------------------------------
# compute_budget
# --------------------------------------------------------------------------------------


def _tiny_compiled_model() -> keras.Model:
    model = keras.Sequential(
        [keras.Input((32, 32, 3)), layers.Flatten(), layers.Dense(10, activation="softmax")]
    )
    model.compile(optimizer="sgd", loss="categorical_crossentropy")
    return model


def test_training_and_predict_speeds_are_measured() -> None:
    import tensorflow as tf

    model = _tiny_compiled_model()
    before = [w.numpy().copy() for w in model.weights]
    batch = (np.zeros((8, 32, 32, 3), np.float32), np.eye(10, dtype=np.float32)[np.arange(8)])
    dataset = tf.data.Dataset.from_tensors(batch).repeat()
    speed = bench.compute_training_speed(model, dataset, batch_size=8, warmup_steps=1, steps=3)
    assert math.isfinite(speed) and speed > 0
    assert int(model.optimizer.iterations) == 4, "warm-up and timed steps train the model"
    assert any(not np.array_equal(w.numpy(), b) for w, b in zip(model.weights, before, strict=True))
    predict = bench.compute_predict_speed(model, batch[0], batch_size=4)
    assert math.isfinite(predict) and predict > 0


@pytest.mark.parametrize("name", ["batch_size", "warmup_steps", "steps"])
@pytest.mark.parametrize("value", [0, -1, 2.5, True])
def test_training_speed_rejects_bad_counts(name: str, value: object) -> None:
    kwargs = {"batch_size": 8, "warmup_steps": 1, "steps": 1, name: value}
    with pytest.raises(ValueError, match=f"{name} must be a positive integer"):
        bench.compute_training_speed(_tiny_compiled_model(), None, **kwargs)


def test_budget_arithmetic() -> None:
    plans = {
        "02/full": {"epochs": 8, "train_images": 45_000, "batch_size": 256},
        "02/quick": {"epochs": 2, "train_images": 2000, "batch_size": 256},
        "03/full": {"epochs": 6, "train_images": 45_000, "batch_size": 512},
    }
    budget = bench.compute_budget({"02/full": 100.0, "02/quick": 100.0}, plans)
    assert set(budget) == {"02/full", "02/quick"}  # no throughput for 03: left out
    # 45,000 // 256 = 175 full batches = 44,800 images, at 100 images/s
    assert budget["02/full"]["steps_per_epoch"] == 175
    assert budget["02/full"]["images_per_epoch"] == 44_800
    assert budget["02/full"]["epoch_s"] == pytest.approx(448.0)
    assert budget["02/full"]["training_s"] == pytest.approx(8 * 448.0)
    assert budget["02/full"]["training_min"] == pytest.approx(8 * 448.0 / 60)
    # 2,000 // 256 = 7 batches = 1,792 images
    assert budget["02/quick"]["epoch_s"] == pytest.approx(17.92)
    assert budget["02/quick"]["training_min"] == pytest.approx(2 * 17.92 / 60)


@pytest.mark.parametrize(
    ("speed", "plan", "match"),
    [
        (0.0, {"epochs": 1, "train_images": 10, "batch_size": 2}, "positive number"),
        (1.0, {"epochs": 1, "train_images": 10}, "batch_size"),
        (1.0, {"epochs": -1, "train_images": 10, "batch_size": 2}, "epochs"),
        (1.0, {"epochs": 1, "train_images": 1, "batch_size": 2}, "no full batch"),
    ],
)
def test_budget_rejects_bad_input(speed: float, plan: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        bench.compute_budget({"run": speed}, {"run": plan})


def _write_notebook(path: Path, parameters: str) -> None:
    cell = nbformat.v4.new_code_cell(parameters)
    cell.metadata["tags"] = ["parameters"]
    nbformat.write(nbformat.v4.new_notebook(cells=[cell]), path)


def test_budget_reads_profiles_defensively(tmp_path: Path) -> None:
    _write_notebook(
        tmp_path / "02_baseline_cnn.ipynb", "EPOCHS = 8\nTRAIN_SIZE = 0\nBATCH_SIZE = 256"
    )
    _write_notebook(tmp_path / "03_resnet.ipynb", "STEPS = 100\nTRAIN_SIZE = 0\nBATCH_SIZE = 512")
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "full.yaml").write_text("02_baseline_cnn: {}\n03_resnet: {}\n")
    (tmp_path / "profiles" / "quick.yaml").write_text(
        "02_baseline_cnn: {EPOCHS: 1, TRAIN_SIZE: 2000}\n03_resnet: {}\n"
    )
    plans, notes = bench._read_plans(tmp_path, "float32")
    assert plans["02_baseline_cnn/full"]["train_images"] == 45_000  # 0 = all
    assert plans["02_baseline_cnn/quick"] == {
        "model": "baseline_cnn",
        "precision": "float32",
        "epochs": 1,
        "train_images": 2000,
        "batch_size": 256,
        "xla": False,
    }
    assert not any(run.startswith("03") for run in plans)  # no EPOCHS: skipped, with a note
    assert any("03_resnet/full" in note and "EPOCHS" in note for note in notes)


# --------------------------------------------------------------------------------------
# Precision and the command line
# --------------------------------------------------------------------------------------


def test_precisions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(training, "choose_precision", lambda precision="auto": "float32")
    chosen, measured, note = bench._precisions(argparse.Namespace(precision="auto"))
    assert (chosen, measured) == ("float32", ["float32"]) and "float32" in note
    forced = bench._precisions(argparse.Namespace(precision="mixed_bfloat16"))
    assert forced[1] == ["float32", "mixed_bfloat16"] and forced[2] is None
    monkeypatch.setattr(training, "choose_precision", lambda precision="auto": "mixed_bfloat16")
    assert bench._precisions(argparse.Namespace(precision="auto"))[1] == [
        "float32",
        "mixed_bfloat16",
    ]


def test_dtype_policy_is_restored() -> None:
    before = keras.config.dtype_policy().name
    with bench._dtype_policy("mixed_bfloat16"):
        assert keras.config.dtype_policy().name == "mixed_bfloat16"
    assert keras.config.dtype_policy().name == before


@pytest.mark.slow
def test_main_models_and_budget_write_json(tmp_path: Path, capsys) -> None:
    report_path = tmp_path / "out" / "bench.json"
    argv = ["--models", "--budget", "--model", "baseline_cnn", *TINY, "--json", str(report_path)]
    assert bench.main(argv) == 0
    out = capsys.readouterr().out
    for header in (
        "== models",
        "forward MFLOP/image",
        "pipeline img/s",
        "in-memory img/s",
        "predict img/s",
        "== budget",
        "images/epoch",
    ):
        assert header in out
    assert "random uint8 images" in out  # no data in the isolated environment
    assert "chosen precision" not in out  # --precision float32: nothing skipped to report

    report = json.loads(report_path.read_text())
    assert report["models"]["xla"] is False  # as 02 trains
    assert {"settings", "machine", "models", "budget"} <= set(report)
    assert report["settings"]["sections"] == ["models", "budget"]
    models = report["models"]
    assert models["random_images"] is True
    assert set(models["results"]) == {"baseline_cnn"}
    entry = models["results"]["baseline_cnn"]
    assert entry["forward_flops"] == 77_269_504 and entry["batch_size"] == 4
    figures = entry["precisions"]["float32"]
    for key in (
        "pipeline_images_per_s",
        "synthetic_images_per_s",
        "achieved_gflops",
        "predict_images_per_s",
    ):
        assert figures[key] > 0
    assert math.isfinite(figures["pipeline_overhead_percent"])
    assert figures["pipeline_cpu_us_per_image"] > 0 and figures["pipeline_cpu_percent"] > 0
    assert figures["peak_share_percent"] is None  # --peak did not run
    runs = report["budget"]["runs"]
    assert "02_baseline_cnn/full" in runs and not any(run.startswith("03") for run in runs)
    assert runs["02_baseline_cnn/full"]["training_min"] > 0
    assert os.listdir(report_path.parent) == ["bench.json"]  # the temporary file was moved
    assert keras.config.dtype_policy().name == "float32"


def test_pipeline_cpu_counts_the_work_of_the_pipeline() -> None:
    images = np.zeros((64, 32, 32, 3), np.uint8)
    labels = np.zeros(64, np.int64)
    light = data.make_dataset(images, labels, batch_size=8, training=True, augment=False)
    heavy = light.map(lambda x, y: (tf.nn.conv2d(x, tf.ones((9, 9, 3, 64)), 1, "SAME"), y))
    light_cpu = bench.compute_pipeline_cpu(light.repeat(), batch_size=8, batches=10)
    heavy_cpu = bench.compute_pipeline_cpu(heavy.repeat(), batch_size=8, batches=10)
    assert 0 < light_cpu < heavy_cpu  # a 9x9x3x64 convolution per image costs more
    with pytest.raises(ValueError, match="batches"):
        bench.compute_pipeline_cpu(light, batch_size=8, batches=0)


@pytest.mark.slow
def test_main_models_with_xla(tmp_path: Path, capsys) -> None:
    notebooks = tmp_path / "notebooks"
    (notebooks / "profiles").mkdir(parents=True)
    _write_notebook(
        notebooks / "02_baseline_cnn.ipynb",
        "EPOCHS = 8\nTRAIN_SIZE = 0\nBATCH_SIZE = 256\nXLA = False",
    )
    (notebooks / "profiles" / "full.yaml").write_text("02_baseline_cnn: {}\n")
    (notebooks / "profiles" / "quick.yaml").write_text("02_baseline_cnn: {XLA: true}\n")
    report_path = tmp_path / "bench.json"
    argv = ["--models", "--budget", "--xla", "--model", "baseline_cnn", *TINY]
    argv += ["--notebooks-dir", str(notebooks), "--json", str(report_path)]
    assert bench.main(argv) == 0
    assert "compiled with XLA" in capsys.readouterr().out
    report = json.loads(report_path.read_text())
    assert report["models"]["xla"] is True
    figures = report["models"]["results"]["baseline_cnn"]["precisions"]["float32"]
    assert figures["synthetic_images_per_s"] > 0 and figures["pipeline_images_per_s"] > 0
    # The budget says where the notebook's XLA setting differs from the measurement.
    notes = report["budget"]["notes"]
    assert any(
        note.startswith("02_baseline_cnn/full: the notebook trains without XLA") for note in notes
    )
    assert not any(note.startswith("02_baseline_cnn/quick") and "XLA" in note for note in notes)
    assert report["budget"]["runs"]["02_baseline_cnn/quick"]["xla"] is True


def test_main_peak_and_load(make_cifar_archive, tmp_path: Path, capsys) -> None:
    folder = make_cifar_archive(folder=True, name="data")
    report_path = tmp_path / "bench.json"
    argv = ["--peak", "--load", "--matmul-size", "32", "--matmul-repeats", "1"]
    argv += ["--path", str(folder), "--repeats", "1", "--json", str(report_path)]
    assert bench.main(argv) == 0
    out = capsys.readouterr().out
    assert "best GFLOP/s" in out and "load from the extracted folder" in out
    report = json.loads(report_path.read_text())
    assert set(report["peak"]["dtypes"]) >= {"float32", "bfloat16"}
    assert all(value["best_gflops"] > 0 for value in report["peak"]["dtypes"].values())
    assert report["load"]["folder_best_s"] > 0


def test_main_skips_a_section_without_data_unless_named(
    monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setattr(bench, "SECTIONS", {"load": bench.SECTIONS["load"]})
    assert bench.main([]) == 0  # every section: the one without data is skipped
    assert "== load: skipped, no data" in capsys.readouterr().out
    assert bench.main(["--load"]) == 1  # named: an error
    assert "CIFAR-10 was not found" in capsys.readouterr().err


def test_main_rejects_bad_sizes(capsys) -> None:
    with pytest.raises(SystemExit):
        bench.main(["--steps", "0"])
    assert "positive integer" in capsys.readouterr().err


def test_setup_section_measures_every_candidate_of_each_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`bench --setup` prints, per model, what PRECISION = XLA = "auto" would measure and
    choose, and never reads or writes the notebooks' cache."""
    monkeypatch.setattr(training, "_cpu_flags", lambda: {"avx512_bf16"})
    cache = tmp_path / "notebooks_cache.json"
    monkeypatch.setenv(training.SETUP_CACHE_ENV_VAR, str(cache))
    seen = []

    def fake_measure(build_model, images, labels, precision, xla, *, steps, seed):
        seen.append((len(images), precision, xla, steps))
        return {"float32": 100.0, "mixed_bfloat16": 180.0}[precision] + (50.0 if xla else 0.0)

    monkeypatch.setattr(training, "_measure_candidate", fake_measure)
    report_path = tmp_path / "bench.json"
    status = bench.main(
        ["--setup", "--model", "resnet", "--steps", "3", "--json", str(report_path)]
    )
    assert status == 0
    out = capsys.readouterr().out
    assert sorted(seen) == [
        (512, "float32", False, 3),
        (512, "float32", True, 3),
        (512, "mixed_bfloat16", False, 3),
        (512, "mixed_bfloat16", True, 3),
    ]
    row = next(line for line in out.splitlines() if line.startswith("resnet"))
    assert row.split() == [
        "resnet",
        "512",
        "100.0",
        "150.0",
        "180.0",
        "230.0",
        "mixed_bfloat16+XLA",
    ]
    assert "float32+XLA img/s" in out
    result = json.loads(report_path.read_text())["setup"]["results"]["resnet"]
    assert (result["precision"], result["xla"]) == ("mixed_bfloat16", True)
    assert result["images_per_s"]["float32"] == 100.0
    assert not cache.exists()


@pytest.mark.slow
def test_setup_section_really_trains_a_model(capsys: pytest.CaptureFixture[str]) -> None:
    status = bench.main(["--setup", "--model", "baseline_cnn", "--steps", "1", "--batch-size", "8"])
    assert status == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("baseline"))
    speeds = [float(cell.replace(",", "")) for cell in row.split()[2:-1] if cell != "-"]
    assert len(speeds) >= 2 and all(speed > 0 for speed in speeds)


# --------------------------------------------------------------------------------------
# compute_epoch_phases and --phases
# --------------------------------------------------------------------------------------


def _phase_model() -> keras.Model:
    model = _model((8, 8, 3), layers.Conv2D(4, 3), layers.GlobalAveragePooling2D(), layers.Dense(3))
    model.compile(optimizer="sgd", loss=keras.losses.CategoricalCrossentropy(from_logits=True))
    return model


def _phase_data(count: int = 32, batch: int = 4) -> tuple[tf.data.Dataset, tf.data.Dataset]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(count, 8, 8, 3)).astype(np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, count)]
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch)
    return dataset.repeat(), dataset


class _Sleepy(keras.callbacks.Callback):
    """Sleeps in every step's end and in every epoch's end."""

    def __init__(self, step_s: float, epoch_s: float) -> None:
        super().__init__()
        self.step_s, self.epoch_s = step_s, epoch_s
        self.steps_seen = 0

    def on_train_batch_end(self, batch: int, logs=None) -> None:
        self.steps_seen += 1
        time.sleep(self.step_s)

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        time.sleep(self.epoch_s)


def _profile(train: Any = None, **kwargs: Any) -> dict[str, Any]:
    """compute_epoch_phases of the tiny model on 4-image batches; ``train`` defaults to
    the synthetic batches, the other arguments to 4 timed steps of a from-logits loss."""
    default_train, val = _phase_data()
    arguments = {
        "batch_size": 4,
        "loss": keras.losses.CategoricalCrossentropy(from_logits=True),
        "steps": 4,
        **kwargs,
    }
    return bench.compute_epoch_phases(
        _phase_model(), default_train if train is None else train, val, **arguments
    )


def test_epoch_phases_add_up_and_time_each_callback() -> None:
    sleepy = _Sleepy(step_s=0.02, epoch_s=0.2)
    result = _profile(steps_per_epoch=50, callbacks=[sleepy])
    phases = result["phases"]
    assert sleepy.steps_seen == 4  # the callback really ran inside the timed fit
    assert set(phases) == {
        "forward",
        "backward",
        "optimizer and metrics",
        "input pipeline",
        "validation",
        "_Sleepy",
        "other (Keras loop)",
    }
    assert all(seconds >= 0 for seconds in phases.values())
    assert math.isclose(sum(phases.values()), result["epoch_s"], rel_tol=1e-9)
    # Per-step time scales to the epoch's 50 steps, per-epoch time does not: 50 x 0.02 + 0.2.
    assert 1.2 <= phases["_Sleepy"] < 1.2 * 1.5
    assert result["epoch_s"] >= phases["_Sleepy"]
    assert result["tta_s"] is None
    for share in result["cores_busy"].values():
        assert 0 < share <= 1.5
    # The callback sleeps (no CPU) between steps: the epoch keeps the cores less busy.
    busy = result["cores_busy"]
    assert busy["epoch (steady)"] < 0.8 * busy["training steps (memory)"]


def test_epoch_phases_see_a_slow_input_pipeline() -> None:
    rng = np.random.default_rng(1)

    def slow_batches():  # one batch every 30 ms, one thread: the model waits for it
        while True:
            time.sleep(0.03)
            yield (
                rng.normal(size=(4, 8, 8, 3)).astype(np.float32),
                np.eye(3, dtype=np.float32)[rng.integers(0, 3, 4)],
            )

    signature = (
        tf.TensorSpec((4, 8, 8, 3), tf.float32),
        tf.TensorSpec((4, 3), tf.float32),
    )
    slow = tf.data.Dataset.from_generator(slow_batches, output_signature=signature)
    result = _profile(slow, steps_per_epoch=100)
    # About 100 x 30 ms waiting for data; the tiny model itself takes a few ms per step.
    assert result["phases"]["input pipeline"] > 1.5
    assert result["phases"]["input pipeline"] > 0.5 * result["epoch_s"]


def test_epoch_phases_count_a_once_an_epoch_hook_once_in_the_cores_busy() -> None:
    # A backup's save at the epoch's end waits on the disk once per epoch: scaled up with
    # the 4 timed steps to 1,000, it would make the epoch look almost idle.
    result = _profile(steps_per_epoch=1000, callbacks=[_Sleepy(step_s=0.0, epoch_s=0.5)])
    busy = result["cores_busy"]
    assert busy["epoch (steady)"] > 0.5 * busy["training steps (pipeline)"]


def test_epoch_phases_time_tta_once() -> None:
    images = np.zeros((6, 8, 8, 3), np.float32)
    result = _profile(steps_per_epoch=4, steps=2, tta_images=images)
    assert result["tta_s"] > 0 and result["tta_images"] == 6


def test_epoch_phases_refuse_too_few_steps() -> None:
    train, val = _phase_data()
    with pytest.raises(ValueError, match="steps must be at least 2"):
        bench.compute_epoch_phases(
            _phase_model(), train, val, batch_size=4, steps_per_epoch=4, loss=None, steps=1
        )


@pytest.mark.slow
def test_main_phases_profiles_the_notebooks(tmp_path: Path, capsys) -> None:
    report_path = tmp_path / "bench.json"
    argv = ["--phases", "--quick", "--precision", "float32", "--batch-size", "8"]
    argv += ["--images", "64", "--steps", "2", "--tta-images", "16", "--json", str(report_path)]
    assert bench.main(argv) == 0
    out = capsys.readouterr().out
    assert "== phases" in out and "Lookahead" in out and "cores busy" in out
    results = json.loads(report_path.read_text())["phases"]["results"]
    assert list(results) == ["02", "03", "06"]
    assert "Lookahead" in results["03"]["phases"] and "Lookahead" not in results["06"]["phases"]
    assert results["02"]["tta_s"] is None and results["06"]["tta_s"] > 0
    for result in results.values():
        assert result["steps_per_epoch"] == bench.TRAINING_IMAGES // 8
        assert math.isclose(sum(result["phases"].values()), result["epoch_s"], rel_tol=1e-9)


def test_main_models_in_mixed_precision_trains_each_model_in_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys
) -> None:
    seen: list[str] = []
    measure = bench.compute_training_speed

    def recording(model, dataset, **kwargs):
        conv = next(layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D))
        seen.append(conv.dtype_policy.name)  # the policy the model was built in
        return measure(model, dataset, **kwargs)

    monkeypatch.setattr(bench, "compute_training_speed", recording)
    argv = [*TINY, "--models", "--model", "baseline_cnn", "--json", str(tmp_path / "b.json")]
    argv[argv.index("float32")] = "mixed_bfloat16"
    assert bench.main(argv) == 0

    # Two measurements (pipeline-fed, from memory) per precision: float32, then bfloat16.
    assert seen == ["float32"] * 2 + ["mixed_bfloat16"] * 2
    figures = json.loads((tmp_path / "b.json").read_text())["models"]["results"]
    precisions = figures["baseline_cnn"]["precisions"]
    assert set(precisions) == {"float32", "mixed_bfloat16"}
    assert all(p["synthetic_images_per_s"] > 0 for p in precisions.values())
    assert "mixed_bfloat16" in capsys.readouterr().out
    assert keras.config.dtype_policy().name == "float32"  # restored after the section


def test_main_names_the_broken_file_of_a_corrupt_dataset(make_cifar_archive, capsys) -> None:
    archive = make_cifar_archive(files={"data_batch_3": b"not a pickle"})
    status = bench.main(["--models", "--model", "baseline_cnn", *TINY, "--path", str(archive)])

    assert status == 1
    err = capsys.readouterr().err
    assert err.startswith("models: ") and "data_batch_3" in err
