"""Tests of cifar_utils.callbacks: the triangular schedule, Lookahead (replayed by hand)
and TrainingBackup (resume, stale backups, interrupted writes). The real-kill test is in
test_resume.py."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd
import pytest
from keras import layers

from cifar_utils import callbacks, training

# TriangularSchedule -------------------------------------------------------------------------


def test_triangular_schedule_rises_then_falls_linearly():
    schedule = callbacks.TriangularSchedule(
        2.0, 100, warmup_fraction=0.25, start_factor=0.1, end_factor=0.05
    )
    values = {step: float(schedule(step)) for step in (0, 10, 25, 50, 100, 150)}
    assert values[0] == pytest.approx(0.2)
    assert values[10] == pytest.approx(0.2 + 1.8 * 10 / 25)
    assert values[25] == pytest.approx(2.0)
    assert values[50] == pytest.approx(2.0 * (1 - 0.95 * 25 / 75))
    assert values[100] == pytest.approx(0.1)
    assert values[150] == pytest.approx(0.1)  # flat after the end


def test_triangular_schedule_round_trips_through_a_saved_model(tmp_path):
    model = _tiny_classifier()
    schedule = callbacks.TriangularSchedule(0.5, 40)
    model.compile(optimizer=keras.optimizers.SGD(schedule), loss="sparse_categorical_crossentropy")
    model.fit(*_tiny_data(), batch_size=16, epochs=1, verbose=0)
    loaded = keras.models.load_model(training.save_model(model, tmp_path / "m.keras"))
    restored = loaded.optimizer.learning_rate  # the schedule's value at the current step
    assert float(restored) == pytest.approx(float(schedule(4)))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"peak": 0.0},
        {"total_steps": 1},
        {"total_steps": 10.5},
        {"warmup_fraction": 1.0},
        {"start_factor": 1.5},
        {"end_factor": -0.1},
    ],
)
def test_triangular_schedule_rejects_bad_arguments(kwargs):
    arguments = {"peak": 1.0, "total_steps": 10, **kwargs}
    name = next(iter(kwargs))
    with pytest.raises(ValueError, match=name):
        callbacks.TriangularSchedule(**arguments)


# Lookahead ----------------------------------------------------------------------------------


def _tiny_classifier(seed: int = 0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((6,))
    x = layers.Dense(8)(inputs)
    x = layers.BatchNormalization()(x)
    outputs = layers.Dense(3, activation="softmax")(layers.ReLU()(x))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    return model


def _tiny_data(count: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(count, 6)).astype(np.float32)
    return x, (x[:, 0] > 0).astype(np.int32) + (x[:, 1] > 1).astype(np.int32)


def test_lookahead_decay_grows_cubically_to_its_final_value():
    lookahead = callbacks.Lookahead(100, every=5, final_decay=0.8)
    assert lookahead.decay(0) == 0.0
    assert lookahead.decay(50) == pytest.approx(0.8 * 0.125)
    assert lookahead.decay(100) == pytest.approx(0.8)
    assert lookahead.decay(1000) == pytest.approx(0.8)


def test_lookahead_replays_by_hand():
    """Train with the callback, and again by hand doing what its docstring says."""
    x, y = _tiny_data()
    steps = 12  # 64 images in batches of 16, 3 epochs: updates at steps 5 and 10, then the end
    model = _tiny_classifier()
    model.fit(
        x,
        y,
        batch_size=16,
        epochs=3,
        shuffle=False,
        verbose=0,
        callbacks=[callbacks.Lookahead(steps, every=5, final_decay=0.9)],
    )

    reference = _tiny_classifier()
    variables = reference.weights
    slow = [v.numpy().copy() for v in variables]
    for step in range(1, steps + 1):
        batch = slice(((step - 1) % 4) * 16, ((step - 1) % 4 + 1) * 16)
        reference.train_on_batch(x[batch], y[batch])
        if step % 5 == 0:
            decay = 0.9 * (step / steps) ** 3
            for variable, s in zip(variables, slow, strict=True):
                s += (1 - decay) * (variable.numpy() - s)
                variable.assign(s)
    # The end: the model takes the slow weights.
    for variable, s in zip(variables, slow, strict=True):
        variable.assign(s)

    for got, want in zip(model.weights, reference.weights, strict=True):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-6)
    # And lookahead did change the result compared with plain training.
    plain = _tiny_classifier()
    plain.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    assert not np.allclose(plain.weights[0].numpy(), model.weights[0].numpy(), atol=1e-6)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"total_steps": 0},
        {"total_steps": 2.5},
        {"total_steps": True},
        {"total_steps": 10, "every": 0},
        {"total_steps": 10, "final_decay": 1.0},
    ],
)
def test_lookahead_rejects_bad_arguments(kwargs):
    name = "every" if "every" in kwargs else "final_decay" if "final_decay" in kwargs else ""
    with pytest.raises(ValueError, match=name or "total_steps"):
        callbacks.Lookahead(**kwargs)


# TrainingBackup -----------------------------------------------------------------------------

PARAMS = {"EPOCHS": 4, "SEED": 0, "BATCH_SIZE": 16}


def _fit(model: keras.Model, backup: callbacks.TrainingBackup, epochs: int) -> Any:
    x, y = _tiny_data()
    initial_epoch = backup.restore(model)
    return model.fit(
        x,
        y,
        batch_size=16,
        epochs=epochs,
        initial_epoch=initial_epoch,
        shuffle=False,
        verbose=0,
        callbacks=[backup],
    )


class _StopAfter(keras.callbacks.Callback):
    """Simulates an interruption: raises after `epochs` epochs (after the backup)."""

    def __init__(self, epochs: int) -> None:
        super().__init__()
        self.epochs = epochs

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.epochs:
            raise KeyboardInterrupt


def _interrupted_run(
    directory: Path, epochs: int, params: dict[str, Any] = PARAMS
) -> tuple[keras.Model, callbacks.TrainingBackup]:
    """Train the tiny classifier with a backup and interrupt it after `epochs` epochs."""
    x, y = _tiny_data()
    model = _tiny_classifier()
    backup = callbacks.TrainingBackup(directory, params)
    assert backup.restore(model) == 0
    with pytest.raises(KeyboardInterrupt):
        model.fit(
            x,
            y,
            batch_size=16,
            epochs=4,
            shuffle=False,
            verbose=0,
            callbacks=[backup, _StopAfter(epochs)],
        )
    return model, backup


def test_backup_resumes_where_an_interrupted_run_stopped(tmp_path):
    x, y = _tiny_data()
    model, backup = _interrupted_run(tmp_path, 2)
    files = sorted(path.name for path in backup.directory.iterdir())
    assert files == ["epoch-0002.weights.h5", "state.json"]
    saved_weights = [v.numpy() for v in model.weights]

    resumed = _tiny_classifier(seed=1)  # a fresh process would start from other weights
    backup2 = callbacks.TrainingBackup(tmp_path, PARAMS)
    assert backup2.restore(resumed) == 2
    for got, want in zip(resumed.weights, saved_weights, strict=True):
        np.testing.assert_array_equal(got.numpy(), want)
    assert int(resumed.optimizer.iterations) == 8  # 2 epochs of 4 steps: the schedule goes on
    history = resumed.fit(
        x,
        y,
        batch_size=16,
        epochs=4,
        initial_epoch=2,
        shuffle=False,
        verbose=0,
        callbacks=[backup2],
    )
    assert len(history.history["loss"]) == 2
    assert len(backup2.history["loss"]) == 4  # both runs' epochs
    assert backup2.resumed_from == 2 and backup2.seconds > 0
    first_two = backup.epoch_seconds
    assert len(first_two) == 2 and all(seconds > 0 for seconds in first_two)
    assert backup2.epoch_seconds[:2] == pytest.approx(first_two), "restored from state.json"
    assert len(backup2.epoch_seconds) == 4
    assert sum(backup2.epoch_seconds) == pytest.approx(backup2.seconds)
    assert not backup2.directory.exists(), "a finished run deletes its backup"


def test_backup_of_an_older_version_restores_with_unknown_epoch_times(tmp_path):
    _, backup = _interrupted_run(tmp_path, 1)
    state_path = backup.directory / "state.json"
    state = json.loads(state_path.read_text())
    del state["epoch_seconds"]  # as written before per-epoch times were kept
    state_path.write_text(json.dumps(state))

    restored = callbacks.TrainingBackup(tmp_path, PARAMS)
    assert restored.restore(_tiny_classifier()) == 1
    assert len(restored.epoch_seconds) == 1 and math.isnan(restored.epoch_seconds[0])


def test_backup_of_other_parameters_is_never_resumed(tmp_path):
    _, old = _interrupted_run(tmp_path, 1)
    assert old.directory.exists()

    new = callbacks.TrainingBackup(tmp_path, {**PARAMS, "SEED": 1})
    assert new.directory != old.directory
    assert new.restore(_tiny_classifier()) == 0
    assert not old.directory.exists(), "the stale backup is deleted"


def test_interrupted_backup_write_keeps_the_previous_backup(tmp_path, monkeypatch):
    x, y = _tiny_data()
    model, backup = _interrupted_run(tmp_path, 1)
    weights_after_one = [v.numpy() for v in model.weights]

    real_save = keras.Model.save_weights

    def save_half_then_die(self, filepath, overwrite=True):
        real_save(self, filepath, overwrite=overwrite)
        Path(filepath).write_bytes(Path(filepath).read_bytes()[:100])  # half-written
        raise KeyboardInterrupt  # killed in the middle of the write

    monkeypatch.setattr(keras.Model, "save_weights", save_half_then_die)
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, batch_size=16, epochs=4, initial_epoch=1, verbose=0, callbacks=[backup])
    monkeypatch.undo()

    assert sorted(p.name for p in backup.directory.iterdir()) == [
        "epoch-0001.weights.h5",
        "state.json",
    ]
    resumed = _tiny_classifier(seed=3)
    assert callbacks.TrainingBackup(tmp_path, PARAMS).restore(resumed) == 1
    for got, want in zip(resumed.weights, weights_after_one, strict=True):
        np.testing.assert_array_equal(got.numpy(), want)


def test_backup_with_a_missing_weights_file_says_what_to_do(tmp_path):
    _, backup = _interrupted_run(tmp_path, 1)
    (backup.directory / "epoch-0001.weights.h5").unlink()
    with pytest.raises(RuntimeError, match="delete that folder"):
        callbacks.TrainingBackup(tmp_path, PARAMS).restore(_tiny_classifier())


def test_backup_rejects_parameters_that_are_not_json():
    with pytest.raises(ValueError, match="JSON"):
        callbacks.TrainingBackup("unused", {"path": Path("x")})


# LinearDecay and TimeBudget -----------------------------------------------------------------


def _rate(schedule: callbacks.LinearDecay, step: int) -> float:
    return float(keras.ops.convert_to_numpy(schedule(step)))


def test_linear_decay_falls_like_keras_polynomial_decay():
    schedule = callbacks.LinearDecay(0.6, 40)
    reference = keras.optimizers.schedules.PolynomialDecay(0.6, 40, 0.0)
    for step in (0, 1, 13, 39, 40, 55):
        assert _rate(schedule, step) == pytest.approx(
            float(keras.ops.convert_to_numpy(reference(step))), abs=1e-7
        )


def test_linear_decay_end_at_continues_from_the_current_rate_to_zero_at_the_new_end():
    schedule = callbacks.LinearDecay(1.0, 100)
    schedule.end_at(20, 60)  # rate 0.8 at step 20, then down to 0 at step 60
    assert schedule.end_step == 60
    assert _rate(schedule, 20) == pytest.approx(0.8)
    assert _rate(schedule, 40) == pytest.approx(0.4)
    assert _rate(schedule, 60) == 0.0
    assert _rate(schedule, 80) == 0.0
    schedule.end_at(40, 50)  # again, from 0.4 at step 40
    assert _rate(schedule, 45) == pytest.approx(0.2)


def test_linear_decay_end_at_reaches_a_compiled_function_without_retracing():
    import tensorflow as tf

    schedule = callbacks.LinearDecay(1.0, 100)
    traces = []

    @tf.function(jit_compile=True)
    def rate(step):
        traces.append(1)
        return schedule(step)

    assert float(rate(tf.constant(50))) == pytest.approx(0.5)
    schedule.end_at(0, 50)
    assert float(rate(tf.constant(50))) == 0.0
    assert len(traces) == 1


def test_linear_decay_round_trips_through_its_config():
    schedule = callbacks.LinearDecay(0.3, 70)
    copy = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(schedule))
    assert isinstance(copy, callbacks.LinearDecay)
    assert (copy.peak, copy.total_steps, copy.end_step) == (0.3, 70, 70)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((0.0, 10), "positive"),
        ((0.1, 0), "positive"),
        ((0.1, 2.5), "integer"),
        ((0.1, True), "integer"),
    ],
)
def test_linear_decay_rejects_bad_arguments(args, match):
    with pytest.raises(ValueError, match=match):
        callbacks.LinearDecay(*args)


@pytest.mark.parametrize(("step", "end"), [(30, 20), (0, 101), (-1, 10)])
def test_linear_decay_end_at_only_moves_the_end_forward(step, end):
    with pytest.raises(ValueError, match="current end"):
        callbacks.LinearDecay(1.0, 100).end_at(step, end)


class _Times:
    """Stands in for a TrainingBackup: only its epoch times are read."""

    def __init__(self, epoch_seconds=()):
        self.epoch_seconds = list(epoch_seconds)

    @property
    def seconds(self):
        return float(sum(self.epoch_seconds))


class _Model:
    stop_training = False


def _budget(times, budget=1000.0, planned=12, steps=10):
    schedule = callbacks.LinearDecay(1.0, planned * steps)
    budget_callback = callbacks.TimeBudget(budget, schedule, steps, times)
    budget_callback.set_model(_Model())
    return schedule, budget_callback


def _run_epochs(budget_callback, times, epoch_seconds):
    for epoch, seconds in enumerate(epoch_seconds):
        times.epoch_seconds.append(seconds)
        budget_callback.on_epoch_end(epoch)
        if budget_callback.model.stop_training:
            return epoch + 1
    return len(epoch_seconds)


def test_time_budget_ends_earlier_when_the_epochs_are_slower_than_planned():
    times = _Times()
    schedule, budget = _budget(times)  # 12 epochs planned into 1000 s: 83 s each
    rate_before = _rate(schedule, 20)
    trained = _run_epochs(budget, times, [100.0] * 12)
    # decided after epoch 2 (the first carries the tracing): 800 s left at 100 s per
    # epoch, so 8 more: 10 in all
    assert budget.changes == [(2, 10)]
    assert trained == 10 and budget.epochs == 10
    assert schedule.end_step == 100
    assert _rate(schedule, 20) == pytest.approx(rate_before)  # no jump where it changed
    assert _rate(schedule, 100) == 0.0
    assert sum(times.epoch_seconds) <= 1000.0


def test_time_budget_uses_the_later_epochs_once_there_are_some():
    times = _Times()
    _, budget = _budget(times)
    # The first epoch carries the tracing (400 s); the others take 50 s.
    trained = _run_epochs(budget, times, [400.0] + [50.0] * 20)
    # after epoch 2: 550 s left at 50 s per epoch: the 10 planned epochs left fit
    assert budget.changes == []
    assert trained == 12


def test_time_budget_never_adds_epochs_and_stops_on_the_planned_one():
    times = _Times()
    schedule, budget = _budget(times)
    trained = _run_epochs(budget, times, [10.0] * 20)
    assert budget.changes == [] and trained == 12
    assert schedule.end_step == 120


def test_time_budget_shortens_late_epochs_that_slow_down():
    times = _Times()
    _, budget = _budget(times, budget=1000.0, planned=10)
    trained = _run_epochs(budget, times, [90.0] * 5 + [130.0] * 10)
    # after epoch 6: 420 s left at a mean of 98 s: 4 more, 10 in all (no change);
    # after epoch 7: 290 s left at 103.3 s: 2 more, 9 in all
    assert budget.changes[0] == (7, 9)
    assert trained == len(times.epoch_seconds) == budget.epochs
    assert sum(times.epoch_seconds) <= 1000.0 + 130.0  # at most the one epoch kept for the decay


def test_time_budget_replays_its_decisions_on_a_resumed_run():
    epoch_seconds = [100.0, 95.0, 110.0, 120.0]
    times = _Times()
    schedule, budget = _budget(times)
    _run_epochs(budget, times, epoch_seconds)
    # A new process resumes after those epochs: a fresh schedule, the backup's times.
    resumed_schedule, resumed = _budget(_Times(epoch_seconds))
    resumed.on_train_begin()
    assert resumed.changes == budget.changes
    assert resumed_schedule.end_step == schedule.end_step
    for step in (40, 60, 90):
        assert _rate(resumed_schedule, step) == pytest.approx(_rate(schedule, step))


def test_time_budget_needs_the_backup_before_it():
    _, budget = _budget(_Times())
    with pytest.raises(RuntimeError, match=r"after the\s+backup"):
        budget.on_epoch_end(0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"budget_seconds": 0.0}, "budget_seconds"),
        ({"steps_per_epoch": 0}, "steps_per_epoch"),
        ({"schedule": keras.optimizers.schedules.PolynomialDecay(0.1, 10)}, "LinearDecay"),
    ],
)
def test_time_budget_rejects_bad_arguments(kwargs, match):
    arguments = {
        "budget_seconds": 60.0,
        "schedule": callbacks.LinearDecay(0.1, 10),
        "steps_per_epoch": 2,
        "backup": _Times(),
    } | kwargs
    with pytest.raises(ValueError, match=match):
        callbacks.TimeBudget(**arguments)


def test_time_budget_in_fit_stops_with_the_learning_rate_at_zero(tmp_path, monkeypatch):
    clock = iter(range(0, 10_000, 10))  # every reading of the clock is 10 s later
    monkeypatch.setattr(callbacks.time, "perf_counter", lambda: float(next(clock)))
    x, y = _tiny_data()
    model = _tiny_classifier()
    schedule = callbacks.LinearDecay(0.1, 10 * 4)  # 10 epochs of 4 steps planned
    model.compile(optimizer=keras.optimizers.SGD(schedule), loss="sparse_categorical_crossentropy")
    backup = callbacks.TrainingBackup(tmp_path, PARAMS)
    budget = callbacks.TimeBudget(55.0, schedule, 4, backup)  # epochs take 10 s: 5 fit
    history = model.fit(
        x, y, batch_size=16, epochs=10, shuffle=False, verbose=0, callbacks=[backup, budget]
    )
    assert len(history.history["loss"]) == 5 == budget.epochs
    assert int(model.optimizer.iterations.numpy()) == 20
    assert _rate(schedule, 20) == 0.0


def test_time_budget_makes_the_progress_lines_count_to_the_new_end(tmp_path, monkeypatch, capsys):
    clock = iter(range(0, 10_000, 10))
    monkeypatch.setattr(callbacks.time, "perf_counter", lambda: float(next(clock)))
    monkeypatch.setenv("CIFAR10_PROGRESS", "lines")
    x, y = _tiny_data()
    model = _tiny_classifier()
    schedule = callbacks.LinearDecay(0.1, 10 * 4)
    model.compile(optimizer=keras.optimizers.SGD(schedule), loss="sparse_categorical_crossentropy")
    backup = callbacks.TrainingBackup(tmp_path, PARAMS)
    budget = callbacks.TimeBudget(200.0, schedule, 4, backup)
    history = model.fit(
        x,
        y,
        batch_size=16,
        epochs=10,
        shuffle=False,
        verbose=0,
        callbacks=[callbacks.EpochProgress(), backup, budget],
    )
    trained = len(history.history["loss"])
    assert 2 <= trained == budget.epochs < 10
    lines = [line.split(" - ")[0] for line in capsys.readouterr().out.splitlines()]
    epochs = [line for line in lines if line.startswith("Epoch")]
    assert epochs[0] == "Epoch 1/10"  # before the budget's first decision
    assert epochs[-1] == f"Epoch {trained}/{trained}"


# EpochProgress ------------------------------------------------------------------------------


def _fit_with_progress(progress: callbacks.EpochProgress, epochs: int = 2) -> None:
    x, y = _tiny_data()
    _tiny_classifier().fit(
        x, y, batch_size=16, epochs=epochs, shuffle=False, verbose=0, callbacks=[progress]
    )


def test_epoch_progress_prints_one_line_per_epoch_outside_jupyter(capsys):
    progress = callbacks.EpochProgress()
    assert not progress.live  # pytest is no Jupyter kernel
    _fit_with_progress(progress, epochs=3)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" - ")[0] for line in lines] == ["Epoch 1/3", "Epoch 2/3", "Epoch 3/3"]
    assert all(re.search(r" - \d+s - loss: \d\.\d{4}$", line) for line in lines), lines


class _Handle:
    def __init__(self, shown: list[list[str]]) -> None:
        self.texts: list[str] = []
        shown.append(self.texts)

    def update(self, data, raw=False):
        assert raw
        self.texts.append(data["text/plain"])


def test_epoch_progress_in_jupyter_updates_one_output_per_epoch(monkeypatch, capsys):
    import IPython.display

    shown: list[list[str]] = []  # one list of texts per display: its updates in order

    def display(data, raw=False, display_id=None):
        assert raw and display_id is True
        handle = _Handle(shown)
        handle.texts.append(data["text/plain"])
        return handle

    monkeypatch.setattr(IPython.display, "display", display)
    monkeypatch.setattr(callbacks, "_in_jupyter", lambda: True)
    monkeypatch.delenv("CIFAR10_PROGRESS", raising=False)
    progress = callbacks.EpochProgress(every_seconds=0.0, width=4)
    assert progress.live
    _fit_with_progress(progress, epochs=2)
    assert capsys.readouterr().out == ""  # nothing printed: the displays carry it all
    assert len(shown) == 2  # one output per epoch
    for epoch, texts in enumerate(shown, start=1):
        # a bar at 0 steps, one update per step (4 steps of 16 images), then the line
        assert texts[0] == f"Epoch {epoch}/2 [....] 0/4 steps - 0s - starting"
        assert [t.split("] ")[1].split(" steps")[0] for t in texts[1:5]] == [
            "1/4",
            "2/4",
            "3/4",
            "4/4",
        ]
        assert "[====]" in texts[4]
        assert re.fullmatch(rf"Epoch {epoch}/2 - \d+s - loss: \d\.\d{{4}}", texts[-1])


def test_epoch_progress_prints_lines_when_told_to(monkeypatch):
    monkeypatch.setattr(callbacks, "_in_jupyter", lambda: True)
    monkeypatch.setenv("CIFAR10_PROGRESS", "lines")  # what the series runner sets
    assert not callbacks.EpochProgress().live


def test_epoch_progress_bar_says_the_time_left():
    progress = callbacks.EpochProgress(width=10)
    progress.set_params({"epochs": 5, "steps": 40})
    progress.on_epoch_begin(2)
    assert progress.bar(12, 40, 30.0) == "Epoch 3/5 [===.......] 12/40 steps - 30s - 70s left"
    assert progress.bar(3, None, 7.2) == "Epoch 3/5 - step 3 - 7s"


@pytest.mark.parametrize(
    ("kwargs", "match"), [({"every_seconds": -1}, "every_seconds"), ({"width": 0}, "width")]
)
def test_epoch_progress_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        callbacks.EpochProgress(**kwargs)


def test_backup_progress_is_accuracy_against_the_clock(tmp_path):
    x, y = _tiny_data()
    model = _tiny_classifier()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    backup = callbacks.TrainingBackup(tmp_path, PARAMS)
    backup.restore(model)
    model.fit(
        x,
        y,
        batch_size=16,
        epochs=3,
        validation_data=(x[:16], y[:16]),
        verbose=0,
        callbacks=[backup],
    )
    progress = backup.progress()
    assert list(progress.index) == [1, 2, 3] and progress.index.name == "epoch"
    np.testing.assert_allclose(progress["minutes"], np.cumsum(backup.epoch_seconds) / 60)
    np.testing.assert_allclose(progress["training accuracy"], backup.history["accuracy"])
    np.testing.assert_allclose(progress["validation accuracy"], backup.history["val_accuracy"])
    # The CSV the notebooks save reads back as the same table.
    progress.to_csv(tmp_path / "progress.csv")
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "progress.csv", index_col=0), progress)


def test_backup_progress_of_a_run_without_those_metrics_has_nan_there(tmp_path):
    _, backup = _interrupted_run(tmp_path, 2)  # compiled without the accuracy metric
    progress = backup.progress()
    assert len(progress) == 2
    assert progress["validation accuracy"].isna().all()
    assert progress["training accuracy"].isna().all()
    assert progress["minutes"].is_monotonic_increasing
