"""Tests of cifar_utils.callbacks: the triangular schedule, Lookahead (replayed by hand)
and TrainingBackup (resume, stale backups, interrupted writes). The real-kill test is in
test_resume.py."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
from keras import layers

from cifar_utils import callbacks, training

pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)


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
    with pytest.raises(ValueError):
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
    with pytest.raises(ValueError):
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


def test_backup_resumes_where_an_interrupted_run_stopped(tmp_path):
    x, y = _tiny_data()
    backup = callbacks.TrainingBackup(tmp_path, PARAMS)
    model = _tiny_classifier()
    assert backup.restore(model) == 0
    with pytest.raises(KeyboardInterrupt):
        model.fit(
            x,
            y,
            batch_size=16,
            epochs=4,
            shuffle=False,
            verbose=0,
            callbacks=[backup, _StopAfter(2)],
        )
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
    x, y = _tiny_data()
    backup = callbacks.TrainingBackup(tmp_path, PARAMS)
    model = _tiny_classifier()
    backup.restore(model)
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, batch_size=16, epochs=4, verbose=0, callbacks=[backup, _StopAfter(1)])
    state_path = backup.directory / "state.json"
    state = json.loads(state_path.read_text())
    del state["epoch_seconds"]  # as written before per-epoch times were kept
    state_path.write_text(json.dumps(state))

    restored = callbacks.TrainingBackup(tmp_path, PARAMS)
    assert restored.restore(_tiny_classifier()) == 1
    assert len(restored.epoch_seconds) == 1 and math.isnan(restored.epoch_seconds[0])


def test_backup_of_other_parameters_is_never_resumed(tmp_path):
    x, y = _tiny_data()
    model = _tiny_classifier()
    with pytest.raises(KeyboardInterrupt):
        old = callbacks.TrainingBackup(tmp_path, PARAMS)
        old.restore(model)
        model.fit(x, y, batch_size=16, epochs=4, verbose=0, callbacks=[old, _StopAfter(1)])
    assert old.directory.exists()

    new = callbacks.TrainingBackup(tmp_path, {**PARAMS, "SEED": 1})
    assert new.directory != old.directory
    assert new.restore(_tiny_classifier()) == 0
    assert not old.directory.exists(), "the stale backup is deleted"


def test_interrupted_backup_write_keeps_the_previous_backup(tmp_path, monkeypatch):
    x, y = _tiny_data()
    model = _tiny_classifier()
    backup = callbacks.TrainingBackup(tmp_path, PARAMS)
    backup.restore(model)
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, batch_size=16, epochs=4, verbose=0, callbacks=[backup, _StopAfter(1)])
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
    x, y = _tiny_data()
    model = _tiny_classifier()
    backup = callbacks.TrainingBackup(tmp_path, PARAMS)
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, batch_size=16, epochs=4, verbose=0, callbacks=[backup, _StopAfter(1)])
    (backup.directory / "epoch-0001.weights.h5").unlink()
    with pytest.raises(RuntimeError, match="delete that folder"):
        callbacks.TrainingBackup(tmp_path, PARAMS).restore(_tiny_classifier())


def test_backup_rejects_parameters_that_are_not_json():
    with pytest.raises(ValueError, match="JSON"):
        callbacks.TrainingBackup("unused", {"path": Path("x")})
