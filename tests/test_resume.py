"""A real interruption: a training process is killed part-way (SIGKILL, like a closed
laptop or a stopped kernel) and run again with the same parameters; it must resume from
the last completed epoch and finish with a loadable model."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.name != "posix", reason="uses SIGKILL"),
]

EPOCHS = 6

# The training script: small model, random data, one TrainingBackup, a pause per epoch so
# that the test can kill it between and during epochs.
SCRIPT = f"""
import json, sys, time
import keras, numpy as np
from cifar_utils import callbacks, training

directory, model_path = sys.argv[1], sys.argv[2]
training.set_seed(0)
rng = np.random.default_rng(0)
x = rng.normal(size=(256, 8)).astype("float32")
y = (x[:, 0] > 0).astype("int32")
model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"),
                          keras.layers.Dense(2, activation="softmax")])
model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9),
              loss="sparse_categorical_crossentropy", metrics=["accuracy"])
backup = callbacks.TrainingBackup(directory, {{"EPOCHS": {EPOCHS}, "SEED": 0}})
initial_epoch = backup.restore(model)
pause = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: time.sleep(0.4))
model.fit(x, y, batch_size=32, epochs={EPOCHS}, initial_epoch=initial_epoch, verbose=0,
          callbacks=[backup, pause])
training.save_model(model, model_path)
print("RESULT " + json.dumps({{"resumed_from": backup.resumed_from,
                              "epochs": len(backup.history["loss"]),
                              "steps": int(model.optimizer.iterations)}}))
"""


def _run(args: list[str], **kwargs) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", SCRIPT, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **kwargs,
    )


def _epochs_backed_up(directory: Path) -> int:
    states = list(directory.glob("*/state.json"))
    if not states:
        return 0
    try:
        return json.loads(states[0].read_text())["epochs"]
    except (OSError, ValueError, KeyError):
        return 0  # being replaced right now


def test_killed_training_resumes_from_the_last_epoch(tmp_path):
    backups, model_path = tmp_path / "backups", tmp_path / "model.keras"
    first = _run([str(backups), str(model_path)])
    deadline = time.monotonic() + 240
    while _epochs_backed_up(backups) < 2:
        assert first.poll() is None, f"training ended early:\n{first.communicate()[0]}"
        assert time.monotonic() < deadline, "no backup appeared in 4 minutes"
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=60)
    assert first.returncode == -signal.SIGKILL
    assert not model_path.exists()
    done = _epochs_backed_up(backups)
    assert 2 <= done < EPOCHS

    second = _run([str(backups), str(model_path)])
    output, _ = second.communicate(timeout=300)
    assert second.returncode == 0, output
    result = json.loads(output.split("RESULT ", 1)[1])
    assert result["resumed_from"] == done
    assert result["epochs"] == EPOCHS  # the history covers both processes' epochs
    assert result["steps"] == EPOCHS * 8  # 256 / 32 steps per epoch, none repeated or lost
    model = keras.models.load_model(model_path)
    assert model.predict(np.zeros((1, 8), dtype="float32"), verbose=0).shape == (1, 2)
    assert not any(backups.glob("*/state.json")), "the finished run deleted its backup"
