"""Keras pieces of the fast training recipe that Keras itself lacks.

- :class:`TriangularSchedule`: the linear warm-up and linear decay of the learning rate
  that the fast CIFAR-10 recipes were tuned with.
- :class:`Lookahead`: airbench's weight averaging, as a callback.
- :class:`TrainingBackup`: per-epoch backups written atomically, so that an interrupted
  ``fit`` resumes where it stopped, and never from a run with other parameters.
- :class:`EpochProgress`: a live progress bar per epoch in Jupyter, one line per epoch
  in saved notebooks and logs.
- :class:`LinearDecay` and :class:`TimeBudget`: a learning rate falling linearly to 0,
  whose end a callback brings forward when the measured epochs say the time budget will
  not hold (``06_speedrun``).

Introduced by ``03_resnet``. Importing this module imports Keras (the classes subclass
Keras's), but changes no setting.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import re
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import keras
import numpy as np

from cifar_utils import cluster, files


@keras.saving.register_keras_serializable(package="cifar_utils")
class TriangularSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Learning rate that rises linearly, then falls linearly (airbench's schedule).

    From ``start_factor * peak`` at step 0 to ``peak`` at ``warmup_fraction *
    total_steps``, then down to ``end_factor * peak`` at ``total_steps`` (and flat after).
    The short warm-up keeps the first large steps from wrecking the random initial
    weights; the long decay lets the weights settle. Keras's ``CosineDecay`` also warms up
    linearly, but decays along a cosine; this is the shape the fast recipes were tuned with.

    Args:
        peak: Highest learning rate.
        total_steps: Steps of the whole run.
        warmup_fraction: Share of the steps spent rising, in (0, 1).
        start_factor: First learning rate, as a share of ``peak``.
        end_factor: Last learning rate, as a share of ``peak``.
    """

    def __init__(
        self,
        peak: float,
        total_steps: int,
        *,
        warmup_fraction: float = 0.23,
        start_factor: float = 0.2,
        end_factor: float = 0.07,
    ) -> None:
        if not (isinstance(total_steps, (int, np.integer)) and total_steps >= 2):
            raise ValueError(f"total_steps must be an integer of at least 2, got {total_steps!r}.")
        if not peak > 0 or not 0 < warmup_fraction < 1:
            raise ValueError(
                f"peak must be positive and warmup_fraction in (0, 1), got {peak!r} and "
                f"{warmup_fraction!r}."
            )
        if not (0 <= start_factor <= 1 and 0 <= end_factor <= 1):
            raise ValueError("start_factor and end_factor must be in [0, 1].")
        self.peak = float(peak)
        self.total_steps = int(total_steps)
        self.warmup_fraction = float(warmup_fraction)
        self.start_factor = float(start_factor)
        self.end_factor = float(end_factor)

    def __call__(self, step: Any) -> Any:
        step = keras.ops.cast(step, "float32")
        warmup = max(1.0, round(self.warmup_fraction * self.total_steps))
        rising = self.start_factor + (1.0 - self.start_factor) * step / warmup
        progress = (step - warmup) / max(1.0, self.total_steps - warmup)
        falling = 1.0 - (1.0 - self.end_factor) * keras.ops.minimum(progress, 1.0)
        return self.peak * keras.ops.where(step < warmup, rising, falling)

    def get_config(self) -> dict[str, Any]:
        return {
            "peak": self.peak,
            "total_steps": self.total_steps,
            "warmup_fraction": self.warmup_fraction,
            "start_factor": self.start_factor,
            "end_factor": self.end_factor,
        }


@keras.saving.register_keras_serializable(package="cifar_utils")
class LinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Learning rate falling linearly from ``peak`` to 0 at ``total_steps`` (then 0).

    Like ``keras.optimizers.schedules.PolynomialDecay(peak, total_steps, 0.0)``, with one
    addition: :meth:`end_at` moves the end forward during training, and the rate then
    falls linearly from its current value to 0 at the new end, without a jump. The
    state lives in non-trainable variables, so a compiled (or XLA) training step reads
    the new line at once, without being traced again. :class:`TimeBudget` uses it.

    Args:
        peak: Learning rate at step 0.
        total_steps: Step at which the rate reaches 0 (until :meth:`end_at` moves it).
    """

    def __init__(self, peak: float, total_steps: int) -> None:
        if isinstance(total_steps, bool) or not isinstance(total_steps, (int, np.integer)):
            raise ValueError(f"total_steps must be a positive integer, got {total_steps!r}.")
        if total_steps < 1 or not peak > 0:
            raise ValueError(
                f"peak and total_steps must be positive, got {peak!r} and {total_steps!r}."
            )
        self.peak = float(peak)
        self.total_steps = int(total_steps)
        # The line the rate follows: from (start_step, start_rate) to (end_step, 0).
        self._start_step = keras.Variable(0.0, trainable=False, name="decay_start_step")
        self._start_rate = keras.Variable(self.peak, trainable=False, name="decay_start_rate")
        self._end_step = keras.Variable(float(total_steps), trainable=False, name="decay_end")

    @property
    def end_step(self) -> int:
        """The step at which the rate reaches 0 now."""
        return round(float(self._end_step.numpy()))

    def end_at(self, step: int, end_step: int) -> None:
        """From ``step`` on, fall linearly from the current rate to 0 at ``end_step``.

        Only brings the end forward: ``step <= end_step <= end_step now``.
        """
        if not 0 <= step <= end_step <= self.end_step:
            raise ValueError(
                f"end_at needs 0 <= step <= end_step <= {self.end_step} (the current end), "
                f"got step {step!r} and end_step {end_step!r}."
            )
        rate = float(keras.ops.convert_to_numpy(self(step)))
        self._start_step.assign(float(step))
        self._start_rate.assign(rate)
        self._end_step.assign(float(end_step))

    def __call__(self, step: Any) -> Any:
        step = keras.ops.cast(step, "float32")
        length = keras.ops.maximum(self._end_step - self._start_step, 1.0)
        remaining = keras.ops.clip((self._end_step - step) / length, 0.0, 1.0)
        return self._start_rate * remaining

    def get_config(self) -> dict[str, Any]:
        return {"peak": self.peak, "total_steps": self.total_steps}


class TimeBudget(keras.callbacks.Callback):
    """Keep training inside a time budget, measured on the epochs themselves.

    A plan made from a few seconds of measured speed is a guess: whole epochs can run
    10-15% slower than a short probe (a CPU sustains less than it bursts, validation and
    backups add their share). After every epoch this callback compares the time left with
    the epochs left, at the mean speed of the epochs after the first (which carries the
    one-off tracing, and counts only in the time spent). When they do not fit, it
    ends the training earlier and moves the learning rate's end with it
    (:meth:`LinearDecay.end_at`), so the rate still reaches 0 on the last epoch. It never
    adds epochs. At least one more epoch follows a shortening, so the decay can finish.

    The decisions depend only on the epoch times, which :class:`TrainingBackup` keeps, so
    a resumed run replays them and continues on the same plan: pass the backup, and list
    this callback after it in ``fit``'s callbacks.

    Args:
        budget_seconds: Time allowed for all epochs (validation included).
        schedule: The optimiser's :class:`LinearDecay`.
        steps_per_epoch: Optimiser steps per epoch.
        backup: The run's :class:`TrainingBackup` (its ``epoch_seconds``).
    """

    def __init__(
        self,
        budget_seconds: float,
        schedule: LinearDecay,
        steps_per_epoch: int,
        backup: TrainingBackup,
    ) -> None:
        super().__init__()
        if not budget_seconds > 0:
            raise ValueError(f"budget_seconds must be positive, got {budget_seconds!r}.")
        if not isinstance(schedule, LinearDecay):
            raise ValueError(
                "schedule must be the optimiser's callbacks.LinearDecay, got "
                f"{type(schedule).__name__}."
            )
        if isinstance(steps_per_epoch, bool) or not (
            isinstance(steps_per_epoch, (int, np.integer)) and steps_per_epoch >= 1
        ):
            raise ValueError(
                f"steps_per_epoch must be a positive integer, got {steps_per_epoch!r}."
            )
        self.budget_seconds = float(budget_seconds)
        self.schedule = schedule
        self.steps_per_epoch = int(steps_per_epoch)
        self.backup = backup
        self.planned_epochs = -(-schedule.end_step // self.steps_per_epoch)
        self.changes: list[tuple[int, int]] = []
        """Each shortening as (epochs done, new number of epochs)."""
        self.epoch_estimate = math.nan
        """Seconds per epoch behind the last shortening."""

    @property
    def epochs(self) -> int:
        """The number of epochs the run ends after, as planned now."""
        return -(-self.schedule.end_step // self.steps_per_epoch)

    def _replan(self, done: int) -> None:
        times = self.backup.epoch_seconds[:done]
        epochs = self.epochs
        if done < 2 or done >= epochs or len(times) < done:
            return  # the first epoch alone says little: it carries the one-off tracing
        typical = float(np.mean(times[1:]))
        left = self.budget_seconds - float(np.sum(times))
        fits = done + max(1, int(left // typical))
        if fits < epochs:
            self.schedule.end_at(done * self.steps_per_epoch, fits * self.steps_per_epoch)
            self.changes.append((done, fits))
            self.epoch_estimate = typical

    def _announce(self) -> None:
        # fit's callbacks share one params dict: EpochProgress's "Epoch 3/23" then counts
        # to the new end.
        if self.params and "epochs" in self.params:
            self.params["epochs"] = self.epochs

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        # A resumed run: replay the decisions of the epochs the backup restored.
        for done in range(1, len(self.backup.epoch_seconds) + 1):
            self._replan(done)
        self._announce()

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        done = epoch + 1
        if len(self.backup.epoch_seconds) != done:
            raise RuntimeError(
                "TimeBudget needs the epoch times of its TrainingBackup: list it after the "
                "backup in fit's callbacks."
            )
        before = self.epochs
        self._replan(done)
        if self.epochs != before:
            print(
                f"epoch {done}: an epoch takes {self.epoch_estimate:.0f} s here; "
                f"ending after epoch {self.epochs} instead of {before} to stay within "
                f"{self.budget_seconds / 60:g} min"
            )
            self._announce()
        if done >= self.epochs:
            self.model.stop_training = True


class Lookahead(keras.callbacks.Callback):
    """Lookahead weight averaging with a growing decay, as in Keller Jordan's airbench.

    Every ``every`` steps the callback moves a slow copy of every weight (batch-norm
    statistics included) towards the current weights, ``slow += (1 - decay) * (fast -
    slow)``, then sets the current weights to the slow ones. The decay grows as
    ``final_decay * progress**3``: early on the slow weights simply follow training,
    near the end they average the last few hundred steps, which smooths out the noise of
    the last, large steps. When training ends, the model keeps the slow weights.

    Keras has no lookahead; its ``use_ema`` optimiser option averages only the trainable
    weights with a fixed decay, which suits long runs better than these short ones.

    Args:
        total_steps: Steps of the whole run (``epochs * steps_per_epoch``); progress is
            the optimiser's step count over this, so a resumed run carries on correctly.
        every: Steps between two updates.
        final_decay: Decay reached at the last step.
    """

    def __init__(self, total_steps: int, *, every: int = 5, final_decay: float = 0.95**5):
        super().__init__()
        if isinstance(total_steps, bool) or not isinstance(total_steps, (int, np.integer)):
            raise ValueError(f"total_steps must be a positive integer, got {total_steps!r}.")
        if total_steps < 1 or isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(
                f"total_steps and every must be positive integers, got {total_steps!r} "
                f"and {every!r}."
            )
        if not 0.0 <= final_decay < 1.0:
            raise ValueError(f"final_decay must be in [0, 1), got {final_decay!r}.")
        self.total_steps = int(total_steps)
        self.every = every
        self.final_decay = float(final_decay)
        self._variables: list[Any] = []
        self._slow: list[np.ndarray] = []

    def decay(self, step: int) -> float:
        """The decay used at optimiser step ``step``."""
        return self.final_decay * min(1.0, step / self.total_steps) ** 3

    def _update(self, decay: float) -> None:
        for variable, slow in zip(self._variables, self._slow, strict=True):
            slow += (1.0 - decay) * (np.asarray(variable.numpy(), dtype=np.float32) - slow)
            variable.assign(slow.astype(variable.dtype))

    def on_train_begin(self, logs: Mapping[str, Any] | None = None) -> None:
        self._variables = [
            variable
            for variable in self.model.weights
            if np.issubdtype(np.dtype(variable.dtype), np.floating)
        ]
        self._slow = [np.array(variable.numpy(), dtype=np.float32) for variable in self._variables]

    def on_train_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        step = int(np.asarray(self.model.optimizer.iterations.numpy()))  # also a MirroredVariable
        if step % self.every == 0:
            self._update(self.decay(step))

    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
        if self._variables:
            self._update(1.0)


# --- Progress ------------------------------------------------------------------------------

PROGRESS_ENV_VAR = files.PROGRESS_ENV_VAR


def _in_jupyter() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


class EpochProgress(keras.callbacks.Callback):
    """A live progress bar while an epoch trains, one line per epoch when it is done.

    In a Jupyter kernel (JupyterLab, Colab, papermill) every epoch gets one output that is
    updated in place, at most every ``every_seconds``: a bar, the steps done, the time
    spent and the time the epoch has left. When the epoch ends, that output becomes the
    epoch's line, as ``fit(verbose=2)`` prints it::

        Epoch 3/10 - 84s - accuracy: 0.7497 - loss: 1.3568 - val_accuracy: 0.6382 - ...

    A saved notebook keeps only the last state of each output, so papermill and nbconvert
    write one line per epoch, not hundreds of bar updates. Outside Jupyter, or with
    ``$CIFAR10_PROGRESS=lines``, it prints just the line per epoch. Use it with
    ``fit(..., verbose=0, callbacks=[..., callbacks.EpochProgress()])``.

    Args:
        every_seconds: Least time between two updates of the bar.
        width: Characters of the bar.
    """

    def __init__(self, every_seconds: float = 1.0, width: int = 30) -> None:
        super().__init__()
        if (
            not every_seconds >= 0
            or isinstance(width, bool)
            or not isinstance(width, int)
            or width < 1
        ):
            raise ValueError(
                f"every_seconds must be >= 0 and width a positive integer, got "
                f"{every_seconds!r} and {width!r}."
            )
        self.every_seconds = float(every_seconds)
        self.width = width
        self.live = _in_jupyter() and os.environ.get(PROGRESS_ENV_VAR, "") != "lines"
        """Whether the bar is shown (a Jupyter kernel, not told to print lines)."""
        self._handle: Any = None
        self._start = 0.0
        self._shown = 0.0
        self._epoch = 0

    def _header(self) -> str:
        return f"Epoch {self._epoch + 1}/{self.params.get('epochs', '?')}"

    def bar(self, done: int, steps: int | None, seconds: float) -> str:
        """The text shown after ``done`` of ``steps`` steps and ``seconds`` of the epoch."""
        if not steps:
            return f"{self._header()} - step {done} - {seconds:.0f}s"
        filled = min(self.width, round(self.width * done / steps))
        left = seconds / done * (steps - done) if done else math.nan
        eta = f"{left:.0f}s left" if done else "starting"
        return (
            f"{self._header()} [{'=' * filled}{'.' * (self.width - filled)}] "
            f"{done}/{steps} steps - {seconds:.0f}s - {eta}"
        )

    def line(self, seconds: float, logs: Mapping[str, Any] | None) -> str:
        """The epoch's final line: its time and every metric."""
        metrics = "".join(f" - {key}: {float(value):.4f}" for key, value in (logs or {}).items())
        return f"{self._header()} - {seconds:.0f}s{metrics}"

    def _show(self, text: str) -> None:
        from IPython.display import display

        data = {"text/plain": text}
        if self._handle is None:
            self._handle = display(data, raw=True, display_id=True)
        else:
            self._handle.update(data, raw=True)

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._epoch = epoch
        self._start = self._shown = time.perf_counter()
        self._handle = None
        if self.live:
            self._show(self.bar(0, self.params.get("steps"), 0.0))

    def on_train_batch_end(self, batch: int, logs: Mapping[str, Any] | None = None) -> None:
        now = time.perf_counter()
        if self.live and now - self._shown >= self.every_seconds:
            self._shown = now
            self._show(self.bar(batch + 1, self.params.get("steps"), now - self._start))

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        text = self.line(time.perf_counter() - self._start, logs)
        if self.live:
            self._show(text)
        else:
            print(text, flush=True)


# --- Resuming interrupted training --------------------------------------------------------

_BACKUP_FILE = re.compile(r"^epoch-(\d{4,})\.weights\.h5$")
_STATE_FILE = "state.json"


class TrainingBackup(keras.callbacks.Callback):
    """Back up training after every epoch so that an interrupted run resumes.

    Use it in three lines::

        backup = training.TrainingBackup(f"{MODEL_DIR}/backups/resnet", params)
        initial_epoch = backup.restore(model)  # after compile; 0 when nothing to resume
        model.fit(..., epochs=EPOCHS, initial_epoch=initial_epoch, callbacks=[backup])

    After each epoch, the weights and the optimiser state (step count, momentum) go to
    ``epoch-NNNN.weights.h5`` and the epoch's metrics and time to ``state.json``, each
    written to a temporary file and renamed, so an interruption at any moment leaves the
    previous complete backup. The backups live in a sub-folder named after a hash of
    ``params``: a run with different parameters never resumes from a stale backup (the
    stale one is deleted). When training finishes, the backup is deleted.

    Keras's ``BackupAndRestore`` does the same job but writes its weights and its epoch
    counter as two files in place, so a kill at the wrong moment resumes one epoch off or
    from a half-written file; this callback keeps each backup in one atomic rename.

    On several machines (``MultiWorkerMirroredStrategy``) only the chief keeps backups
    (:func:`cifar_utils.cluster.chief_only_path`); on resuming, it sends the epoch count,
    weights and optimiser state to the other workers, which need no copy of the backups.
    Their :attr:`history` then holds only the epochs they trained themselves.

    Args:
        directory: Folder for this model's backups (created when needed).
        params: Everything that defines the run (the notebook's parameters): JSON-able
            values. Change one and the run starts afresh.
    """

    def __init__(self, directory: str | os.PathLike[str], params: Mapping[str, Any]) -> None:
        super().__init__()
        try:
            encoded = json.dumps(dict(params), sort_keys=True)
        except TypeError as error:
            raise ValueError(
                f"params must hold JSON values (numbers, strings, lists, dicts): {error}"
            ) from None
        self.root = Path(directory)
        self.key = hashlib.sha256(encoded.encode()).hexdigest()[:16]
        self.directory = self.root / self.key
        self.history: dict[str, list[float]] = {}
        """Metrics of every epoch so far, resumed epochs included (like ``History.history``)."""
        self.seconds = 0.0
        """Training time of every epoch so far, resumed epochs included."""
        self.epoch_seconds: list[float] = []
        """Training time of each epoch (its validation included), resumed epochs included."""
        self.resumed_from = 0
        """Epochs that :meth:`restore` found done (0 for a fresh run)."""
        self._epoch_start = 0.0

    def progress(self) -> Any:
        """Accuracy against the clock: one row per epoch so far (resumed ones included).

        Returns:
            A pandas DataFrame indexed by ``epoch`` (1, 2, ...) with ``minutes`` (training
            time up to the end of that epoch, validation included), ``training accuracy``
            and ``validation accuracy`` (NaN where the run has no such metric). Save it
            with ``to_csv`` and read it back with ``pandas.read_csv(path, index_col=0)``.
        """
        import pandas as pd

        epochs = len(self.epoch_seconds)
        columns = {"minutes": np.cumsum(self.epoch_seconds) / 60}
        for key, name in (
            ("accuracy", "training accuracy"),
            ("val_accuracy", "validation accuracy"),
        ):
            values = self.history.get(key, [])
            columns[name] = np.asarray(
                values[:epochs] if len(values) >= epochs else [np.nan] * epochs, float
            )
        return pd.DataFrame(columns, index=pd.RangeIndex(1, epochs + 1, name="epoch"))

    def _backups(self) -> list[tuple[int, Path]]:
        if not self.directory.is_dir():
            return []
        found = []
        for path in self.directory.iterdir():
            match = _BACKUP_FILE.match(path.name)
            if match:
                found.append((int(match.group(1)), path))
        return sorted(found)

    def restore(self, model: Any) -> int:
        """Load the newest backup of this run into ``model`` (compiled, same parameters).

        Backups of runs with other parameters under the same folder are deleted. On
        several machines every worker calls it (it is a collective step); only the chief
        reads the folder.

        Returns:
            The number of epochs already done: pass it to ``fit`` as ``initial_epoch``.
        """
        strategy = getattr(model, "distribute_strategy", None)
        multi_worker = cluster.is_multi_worker(strategy)
        reads_files = cluster.is_chief(strategy)
        if reads_files and self.root.is_dir():
            for other in self.root.iterdir():
                if other.is_dir() and other.name != self.key:
                    shutil.rmtree(other, ignore_errors=True)
                    print(f"deleted a backup of a run with other parameters: {other}")
        self.history, self.seconds, self.epoch_seconds, self.resumed_from = {}, 0.0, [], 0
        state_path = self.directory / _STATE_FILE
        state: dict[str, Any] | None = None
        epoch = 0
        if reads_files and state_path.is_file():
            # state.json is written after the weights of its epoch and older weights are
            # deleted after it, so the weights it names are always there and complete.
            state = json.loads(state_path.read_text(encoding="utf-8"))
            epoch = int(state["epochs"])
            path = self.directory / f"epoch-{epoch:04d}.weights.h5"
            if not path.is_file():
                raise RuntimeError(
                    f"the backup in {self.directory} is incomplete ({path.name} is missing); "
                    "delete that folder to start afresh."
                )
        if epoch == 0 and not multi_worker:
            return 0
        # Under tf.distribute the optimiser's variables must be made in the model's scope,
        # on several machines by every worker in the same order (a collective step).
        with strategy.scope() if strategy is not None else contextlib.nullcontext():
            if model.optimizer is not None and not model.optimizer.built:
                model.optimizer.build(model.trainable_variables)
        if epoch:
            # Outside the scope: Keras (3.15) makes a throwaway optimizer at every load,
            # whose variables would be collective steps that only the chief takes.
            model.load_weights(path)
        if multi_worker:
            epoch = cluster.sync_from_chief(strategy, model, epoch)
            if epoch == 0:
                return 0
        if state is not None:
            self.history = {key: list(values) for key, values in state["history"].items()}
            self.seconds = float(state["seconds"])
            # A backup written by an older version has no per-epoch times: unknown (NaN).
            times = state.get("epoch_seconds", [math.nan] * epoch)
            self.epoch_seconds = [float(v) for v in times]
        self.resumed_from = epoch
        print(
            f"resuming after epoch {epoch} from " + (str(path) if state else "the chief's backup")
        )
        return epoch

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._epoch_start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        self.epoch_seconds.append(time.perf_counter() - self._epoch_start)
        self.seconds += self.epoch_seconds[-1]
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        done = epoch + 1
        # On several machines every worker saves (reading distributed variables may need
        # the others), but only the chief keeps its file.
        strategy = getattr(self.model, "distribute_strategy", None)
        target = self.directory / f"epoch-{done:04d}.weights.h5"
        with (
            cluster.chief_only_path(target, strategy) as path,
            files.atomic_path(path) as temporary,
        ):
            self.model.save_weights(temporary, overwrite=True)
        if not cluster.is_chief(strategy):
            return
        state = {
            "epochs": done,
            "history": self.history,
            "seconds": self.seconds,
            "epoch_seconds": self.epoch_seconds,
        }
        with files.atomic_path(self.directory / _STATE_FILE) as temporary:
            temporary.write_text(json.dumps(state), encoding="utf-8")
        for older, older_path in self._backups():
            if older < done:
                older_path.unlink(missing_ok=True)

    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
        if cluster.is_chief(getattr(self.model, "distribute_strategy", None)):
            shutil.rmtree(self.directory, ignore_errors=True)
