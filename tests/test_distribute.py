"""Training under tf.distribute: a few steps under MirroredStrategy on two logical CPU
devices give the same model as the same steps on one device, with the project's
schedule, Lookahead and TrainingBackup in the loop.

TensorFlow's devices are fixed when it starts, so each run is a fresh Python process.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import numpy as np
import pytest

from cifar_utils import training

SCRIPT = """
import json, sys, tempfile
import numpy as np, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
from cifar_utils import callbacks, training

mode = sys.argv[1]
training.set_seed(0)
rng = np.random.default_rng(0)
x = rng.normal(size=(64, 8, 8, 3)).astype("float32")
y = np.eye(4, dtype="float32")[rng.integers(0, 4, 64)]
if mode == "mirrored":
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
else:
    strategy = training.distribution_strategy("none")
with strategy.scope():
    model = keras.Sequential([
        keras.Input((8, 8, 3)),
        keras.layers.Conv2D(6, 3, activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(4, activation="softmax"),
    ])
    total_steps = 3 * 4
    model.compile(
        optimizer=keras.optimizers.SGD(callbacks.TriangularSchedule(0.5, total_steps),
                                       momentum=0.85, nesterov=True),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=0.2),
    )
with tempfile.TemporaryDirectory() as folder:
    backup = callbacks.TrainingBackup(folder, {"mode": "any"})
    model.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0,
              initial_epoch=backup.restore(model),
              callbacks=[backup, callbacks.Lookahead(total_steps, every=2)])
# Back up the trained model, then resume it into a fresh model built under the strategy.
with tempfile.TemporaryDirectory() as folder:
    saver = callbacks.TrainingBackup(folder, {"mode": "resume"})
    saver.set_model(model)
    saver.on_epoch_begin(2)
    saver.on_epoch_end(2, {"loss": 0.0})
    with strategy.scope():
        again = keras.models.clone_model(model)
        again.compile(  # the same optimiser: its state is what the backup restores
            optimizer=keras.optimizers.SGD(callbacks.TriangularSchedule(0.5, total_steps),
                                           momentum=0.85, nesterov=True),
            loss="categorical_crossentropy",
        )
    resumed_epochs = callbacks.TrainingBackup(folder, {"mode": "resume"}).restore(again)
    resumed_equal = all(np.array_equal(a, b) for a, b in
                        zip(again.get_weights(), model.get_weights(), strict=True))
    resumed_steps = int(again.optimizer.iterations.numpy())
print("RESULT " + json.dumps({
    "resumed": [resumed_epochs, resumed_equal, resumed_steps],
    "replicas": strategy.num_replicas_in_sync,
    "steps": int(model.optimizer.iterations.numpy()),
    "losses": backup.history["loss"],
    "weights": [w.tolist() for w in model.get_weights()],
}))
"""


def _train(mode: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.split("RESULT ", 1)[1])


@pytest.mark.slow
def test_mirrored_training_matches_one_device():
    single, mirrored = _train("single"), _train("mirrored")
    assert single["replicas"] == 1 and mirrored["replicas"] == 2
    assert single["steps"] == mirrored["steps"] == 12
    # A backup restores into a model built under the strategy: same weights, same step.
    assert single["resumed"] == mirrored["resumed"] == [3, True, 12]
    np.testing.assert_allclose(mirrored["losses"], single["losses"], rtol=1e-4)
    for got, want in zip(mirrored["weights"], single["weights"], strict=True):
        np.testing.assert_allclose(np.array(got), np.array(want), rtol=1e-4, atol=1e-6)


def test_distribution_strategy_choices(monkeypatch):
    import tensorflow as tf

    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert training.distribution_strategy("auto") is tf.distribute.get_strategy()
    assert training.distribution_strategy("none") is tf.distribute.get_strategy()
    with pytest.raises(ValueError, match="kind must be one of"):
        training.distribution_strategy("tpu")


class _Made:
    """Stands in for a strategy class: records that it was made."""

    def __init__(self, name: str, made: list[str]) -> None:
        made.append(name)
        self.name = name


@pytest.mark.parametrize(
    ("kind", "gpus", "tf_config", "expected"),
    [
        ("auto", 0, None, "default"),
        ("auto", 1, None, "default"),  # one GPU: nothing to mirror
        ("auto", 2, None, "mirrored"),
        ("auto", 4, None, "mirrored"),
        ("auto", 2, "cluster", "multi_worker"),  # TF_CONFIG wins over local GPUs
        ("mirrored", 0, None, "mirrored"),
        ("mirrored", 0, "cluster", "mirrored"),  # an explicit kind ignores TF_CONFIG
        ("none", 2, "cluster", "default"),
        ("multi_worker", 0, "cluster", "multi_worker"),
    ],
)
def test_distribution_strategy_selection(monkeypatch, kind, gpus, tf_config, expected):
    import tensorflow as tf

    from cifar_utils import cluster

    made: list[str] = []
    waited: list[Any] = []
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: ["gpu"] * gpus)
    monkeypatch.setattr(tf.distribute, "MirroredStrategy", lambda: _Made("mirrored", made))
    monkeypatch.setattr(cluster, "multi_worker_strategy", lambda: _Made("multi_worker", made))
    monkeypatch.setattr(cluster, "wait_for_peers", waited.append)
    if tf_config:
        config = {
            "cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]},
            "task": {"type": "worker", "index": 0},
        }
        monkeypatch.setenv("TF_CONFIG", json.dumps(config))
    else:
        monkeypatch.delenv("TF_CONFIG", raising=False)

    strategy = training.distribution_strategy(kind)

    if expected == "default":
        assert strategy is tf.distribute.get_strategy() and made == []
    else:
        assert made == [expected] and strategy.name == expected
    # The peers are waited for exactly when the cluster is used.
    assert len(waited) == (expected == "multi_worker")
