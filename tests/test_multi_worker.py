"""Training on several machines, proven with two worker processes on this one.

The worker tests start two processes on 127.0.0.1, each with its own ``TF_CONFIG``, that
train 03's recipe (ResNet, triangular schedule, SGD with Nesterov momentum and weight
decay, label smoothing, Lookahead, per-epoch backups, the augmented ``tf.data`` pipeline)
under ``training.distribution_strategy("auto")``, which picks
``MultiWorkerMirroredStrategy`` from ``TF_CONFIG``. They check that the workers end with
the same model, that the losses match one process training on the same global batches,
that only the chief writes files, and that both workers resume from the chief's backup
after both were killed. Every process runs on the CPU with one thread per operation, in
its own process group, killed in a ``finally`` whatever happens.

The other tests check ``TF_CONFIG``, the wait for the other workers and the launcher;
they need no TensorFlow (``pytest tests/test_multi_worker.py -k "not two_workers"``).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cifar_utils import cluster, training

pytestmark = pytest.mark.slow  # real training in worker processes: not in make test-fast

# --- Two workers training 03's recipe -------------------------------------------------------

SETTINGS = {
    "train_size": 128,  # random images: the test is about agreement, not accuracy
    "val_size": 40,  # the last validation batch is partial: 8 images, 4 per worker
    "batch_size": 32,  # the global batch: 16 images per worker
    "epochs": 3,  # 4 steps per epoch, 12 in all
    "widths": [8, 16, 16],
    "learning_rate": 0.2,
}
STEPS = SETTINGS["epochs"] * (SETTINGS["train_size"] // SETTINGS["batch_size"])
PHASE_TIMEOUT = 150  # seconds a group of processes may take before it is killed

WORKER = """
import json, os, sys, time
settings = json.loads(sys.argv[1])
started = time.perf_counter()
import numpy as np
import tensorflow as tf
tf.config.threading.set_intra_op_parallelism_threads(settings["threads"])
import keras
from cifar_utils import callbacks, cluster, data, models, training

out, model_dir = settings["out"], settings["model_dir"]
training.set_seed(0)
strategy = training.distribution_strategy("auto")  # MultiWorkerMirroredStrategy with TF_CONFIG
rng = np.random.default_rng(0)
size, val_size, batch_size = settings["train_size"], settings["val_size"], settings["batch_size"]
epochs = settings["epochs"]
x = rng.integers(0, 256, (size + val_size, 32, 32, 3), dtype=np.uint8)
y = rng.integers(0, 10, size + val_size)
x_train, y_train, x_val, y_val = x[:size], y[:size], x[size:], y[size:]
steps_per_epoch = size // batch_size
total_steps = epochs * steps_per_epoch
with strategy.scope():  # as in 03_resnet
    model = models.build_resnet(
        widths=settings["widths"], whitening_images=data.normalize(x_train)
    )
    model.compile(
        optimizer=keras.optimizers.SGD(
            callbacks.TriangularSchedule(settings["learning_rate"], total_steps),
            momentum=0.85, nesterov=True, weight_decay=0.0089,
        ),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=0.2),
        metrics=["accuracy"],
    )
backup = callbacks.TrainingBackup(f"{model_dir}/backups/resnet", params={"EPOCHS": epochs})
initial_epoch = backup.restore(model)
train_ds = data.make_dataset(
    x_train, y_train, batch_size=batch_size, training=True, one_hot=True, seed=0, pad=2,
    flip="alternating", epochs=epochs, first_epoch=initial_epoch,
)
val_ds = data.make_dataset(x_val, y_val, batch_size=batch_size, one_hot=True)


class Hold(keras.callbacks.Callback):
    # Stands still after an epoch (its backup written), so that the test can kill it there.
    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == settings["hold_after"]:
            open(os.path.join(out, "held"), "w").close()
            time.sleep(600)


fit_started, fit_cpu_started = time.perf_counter(), time.process_time()
model.fit(
    train_ds, validation_data=val_ds, epochs=epochs, steps_per_epoch=steps_per_epoch,
    initial_epoch=initial_epoch, verbose=0,
    callbacks=[backup, callbacks.Lookahead(total_steps, every=2), Hold()],
)
fit_seconds = time.perf_counter() - fit_started
fit_cpu_seconds = time.process_time() - fit_cpu_started  # all threads of this process
with cluster.chief_only_path(f"{model_dir}/resnet.keras", strategy) as path:
    training.save_model(model, path)
variables = [*model.weights, *model.optimizer.variables]
np.savez(os.path.join(out, "variables.npz"), *[v.numpy() for v in variables])
result = {
    "replicas": strategy.num_replicas_in_sync,
    "chief": cluster.is_chief(strategy),
    "initial_epoch": initial_epoch,
    "steps": int(model.optimizer.iterations.numpy()),
    "history": backup.history,
    "names": [v.path for v in variables],
    "trainable": [any(v is w for w in model.trainable_weights) for v in variables],
    "fit_seconds": fit_seconds,
    "fit_cpu_seconds": fit_cpu_seconds,
    "seconds": time.perf_counter() - started,
}
with open(os.path.join(out, "result.json"), "w") as file:
    json.dump(result, file)
"""


def _free_ports(count: int) -> list[int]:
    """Ports nobody listens on now (the kernel's choice), for the workers' addresses."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for each in sockets:
            each.bind(("127.0.0.1", 0))
        return [each.getsockname()[1] for each in sockets]
    finally:
        for each in sockets:
            each.close()


def _start(
    folder: Path, tf_config: str | None, *, hold_after: int = 0, threads: int = 1
) -> subprocess.Popen:
    """Start one training process, its files and log under ``folder``."""
    for name in ("out", "models", "tmp"):
        (folder / name).mkdir(parents=True, exist_ok=True)
    settings = dict(
        SETTINGS,
        threads=threads,  # 1: the two workers share this machine's cores
        out=str(folder / "out"),
        model_dir=str(folder / "models"),
        hold_after=hold_after,
    )
    environment = {key: value for key, value in os.environ.items() if key != "TF_CONFIG"}
    environment.update(
        CUDA_VISIBLE_DEVICES="",
        TF_CPP_MIN_LOG_LEVEL="2",
        CIFAR10_WORKER_TIMEOUT="60",
        TMPDIR=str(folder / "tmp"),  # where a worker that is not the chief writes
    )
    if tf_config is not None:
        environment["TF_CONFIG"] = tf_config
    with open(folder / "log.txt", "a", encoding="utf-8") as log:
        return subprocess.Popen(
            [sys.executable, "-c", WORKER, json.dumps(settings)],
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, killed as a whole
        )


def _stop(processes: list[subprocess.Popen]) -> None:
    """Kill the process group of every process still running, and reap them all."""
    for process in processes:
        if process.returncode is None:  # not reaped yet: its group ID is still its own
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
    for process in processes:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=30)


def _logs(folders: list[Path]) -> str:
    return "\n".join(
        f"--- {folder.name} log:\n{(folder / 'log.txt').read_text(errors='replace')[-3000:]}"
        for folder in folders
    )


def _wait(
    processes: list[subprocess.Popen],
    folders: list[Path],
    *,
    until: Callable[[], bool] | None = None,
) -> None:
    """Wait until every process has exited with 0 (or until ``until()``); fail on an error
    exit or after ``PHASE_TIMEOUT`` seconds, with the logs."""
    deadline = time.monotonic() + PHASE_TIMEOUT
    while True:
        codes = [process.poll() for process in processes]
        if any(code not in (None, 0) for code in codes):
            pytest.fail(f"a process failed (exit codes {codes}):\n{_logs(folders)}")
        if until is not None and until():
            return
        if until is None and all(code == 0 for code in codes):
            return
        if until is not None and any(code == 0 for code in codes):
            pytest.fail(f"a process finished before it should hold:\n{_logs(folders)}")
        if time.monotonic() > deadline:
            pytest.fail(f"no result after {PHASE_TIMEOUT} s:\n{_logs(folders)}")
        time.sleep(0.2)


def _read(folder: Path) -> dict[str, Any]:
    result = json.loads((folder / "out" / "result.json").read_text())
    with np.load(folder / "out" / "variables.npz") as arrays:
        result["values"] = [arrays[f"arr_{i}"] for i in range(len(arrays.files))]
    result["folder"] = folder
    return result


def _train_two_workers(root: Path, ports: list[int], *, hold_after: int = 0) -> list[Path]:
    """Train with two workers to the end (or until both hold); return their folders."""
    addresses = [f"127.0.0.1:{port}" for port in ports]
    folders = [root / f"worker{index}" for index in range(2)]
    processes = []
    try:
        for index, folder in enumerate(folders):
            tf_config = cluster.tf_config_for(addresses, index)
            processes.append(_start(folder, tf_config, hold_after=hold_after))
        if hold_after:
            _wait(
                processes,
                folders,
                until=lambda: all((f / "out" / "held").exists() for f in folders),
            )
        else:
            _wait(processes, folders)
    finally:
        _stop(processes)  # SIGKILL: in the middle of the run when holding
    return folders


@pytest.fixture(scope="module")
def one_process(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The same training in one process, without TF_CONFIG: the reference."""
    folder = tmp_path_factory.mktemp("one_process")
    process = _start(folder, None)
    try:
        _wait([process], [folder])
    finally:
        _stop([process])
    return _read(folder)


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """Two workers training to the end: the chief's result, then the other worker's."""
    folders = _train_two_workers(tmp_path_factory.mktemp("two_workers"), _free_ports(2))
    return [_read(folder) for folder in folders]


@pytest.fixture(scope="module")
def resumed_workers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two workers killed (SIGKILL) after the first epoch's backup, then started again with
    the same TF_CONFIG: what was on disk when they were killed, and the final results."""
    root, ports = tmp_path_factory.mktemp("resumed_workers"), _free_ports(2)
    folders = _train_two_workers(root, ports, hold_after=1)
    on_disk = {
        "chief_state": json.loads(
            next((folders[0] / "models" / "backups").rglob("state.json")).read_text()
        ),
        "chief_files": sorted(p.name for p in (folders[0] / "models").rglob("*") if p.is_file()),
        "other_files": [str(p) for p in (folders[1] / "models").rglob("*") if p.is_file()],
    }
    _train_two_workers(root, ports)
    return {"on_disk": on_disk, "results": [_read(folder) for folder in folders]}


def _assert_same_model(first: dict[str, Any], second: dict[str, Any]) -> None:
    """Weights and optimiser state equal, bit for bit, except batch-norm statistics."""
    assert first["names"] == second["names"]
    for name, a, b in zip(first["names"], first["values"], second["values"], strict=True):
        if "moving_" in name:
            # Each worker's batch norm averages the statistics of its own half of every
            # batch (Keras's default, as on several GPUs): close, not equal (here at most
            # 0.043 apart after 12 steps).
            np.testing.assert_allclose(a, b, rtol=0.2, atol=0.1, err_msg=name)
        else:
            np.testing.assert_array_equal(a, b, err_msg=name)


@pytest.mark.skipif(os.name != "posix", reason="uses process groups and SIGKILL")
def test_two_workers_train_one_model(two_workers: list[dict[str, Any]]) -> None:
    chief, other = two_workers
    assert [chief["chief"], other["chief"]] == [True, False]
    assert chief["replicas"] == other["replicas"] == 2
    assert chief["initial_epoch"] == other["initial_epoch"] == 0
    assert chief["steps"] == other["steps"] == STEPS
    _assert_same_model(chief, other)
    # Both report the metrics of the whole global batch (averaged over the workers).
    assert chief["history"] == other["history"]


@pytest.mark.skipif(os.name != "posix", reason="uses process groups and SIGKILL")
def test_two_workers_match_one_process(
    two_workers: list[dict[str, Any]], one_process: dict[str, Any]
) -> None:
    chief = two_workers[0]
    assert one_process["replicas"] == 1 and one_process["steps"] == STEPS
    # The two workers see the same global batches as the one process, but not the same
    # numbers: batch norm normalises each worker's half batch with that half's mean and
    # variance (the one process uses the whole batch's), and the gradients are summed in
    # another order. Over these 12 steps the epoch losses differ by 1.1 %, 0.4 % and 0.1 %
    # (in a few runs the workers' losses move by up to 0.3 % more: see the resume test).
    np.testing.assert_allclose(chief["history"]["loss"], one_process["history"]["loss"], rtol=0.04)


@pytest.mark.skipif(os.name != "posix", reason="uses process groups and SIGKILL")
def test_two_workers_only_the_chief_writes(two_workers: list[dict[str, Any]]) -> None:
    import keras

    from cifar_utils import callbacks, models  # noqa: F401  (registers the custom layers)

    chief, other = two_workers
    chief_files = [p for p in (chief["folder"] / "models").rglob("*") if p.is_file()]
    assert [p.name for p in chief_files] == ["resnet.keras"]  # the backups deleted at the end
    assert not [p for p in (other["folder"] / "models").rglob("*") if p.is_file()]
    assert not list((other["folder"] / "tmp").glob("cifar_utils-worker-*"))  # cleaned up
    model = keras.models.load_model(chief["folder"] / "models" / "resnet.keras")
    for loaded, saved in zip(model.get_weights(), chief["values"], strict=False):
        np.testing.assert_array_equal(loaded, saved)
    probabilities = model.predict(np.zeros((2, 32, 32, 3), np.float32), verbose=0)
    assert probabilities.shape == (2, 10)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.skipif(os.name != "posix", reason="uses process groups and SIGKILL")
def test_two_workers_resume_after_kill(
    resumed_workers: dict[str, Any], two_workers: list[dict[str, Any]]
) -> None:
    on_disk = resumed_workers["on_disk"]
    assert on_disk["chief_state"]["epochs"] == 1  # killed after the first epoch's backup
    assert on_disk["chief_files"] == ["epoch-0001.weights.h5", "state.json"]
    assert on_disk["other_files"] == []  # the other worker resumes from the chief's backup
    chief, other = resumed_workers["results"]
    assert chief["initial_epoch"] == other["initial_epoch"] == 1
    assert chief["steps"] == other["steps"] == STEPS
    _assert_same_model(chief, other)
    assert len(chief["history"]["loss"]) == 3  # the epoch before the kill, from state.json
    assert len(other["history"]["loss"]) == 2
    # The first epoch's loss comes from the backup. The later ones are close to those of
    # the run without a kill, not equal: the resumed dataset starts its sequence of
    # shuffles afresh (data.make_dataset), so its epochs group the images into other
    # batches. Two workers' losses are also not exactly reproducible from run to run:
    # seen here, the first epoch 2.3250 in most runs and 2.3309 in some, and after the
    # restart 2.319, 2.296 in most and 2.295, 2.321 in some, from bit-identical restored
    # weights. So the losses are only checked to be close.
    uninterrupted = two_workers[0]["history"]["loss"]
    np.testing.assert_allclose(chief["history"]["loss"], uninterrupted, rtol=0.05)
    assert chief["history"]["loss"][1:] == other["history"]["loss"]


# --- TF_CONFIG, waiting for the workers, the launcher (no TensorFlow) -------------------------


def _config(cluster_spec: Any, task: Any = None) -> str:
    text: dict[str, Any] = {"cluster": cluster_spec}
    if task is not None:
        text["task"] = task
    return json.dumps(text)


def test_tf_config_of_two_workers() -> None:
    config = cluster.parse_tf_config(cluster.tf_config_for("host1:12345, host2:12345", 1))
    assert config.task_type == "worker" and config.task_index == 1
    assert config.address == "host2:12345"
    assert config.peers == ["host1:12345"]
    assert config.num_workers == 2 and not config.is_chief
    assert str(config) == "worker 1 of 2 workers, at host2:12345"
    assert cluster.parse_tf_config(cluster.tf_config_for(["a:1", "b:2"], 0)).is_chief


def test_tf_config_with_a_chief() -> None:
    spec = {"chief": ["c:1"], "worker": ["w0:1", "w1:1"]}
    chief = cluster.parse_tf_config(_config(spec, {"type": "chief", "index": 0}))
    worker = cluster.parse_tf_config(_config(spec, {"type": "worker", "index": 0}))
    assert chief.is_chief and not worker.is_chief  # worker 0 is not the chief here
    assert chief.addresses == ["c:1", "w0:1", "w1:1"]
    assert chief.peers == ["w0:1", "w1:1"] and worker.peers == ["c:1", "w1:1"]
    ipv6 = cluster.parse_tf_config(_config({"worker": ["[::1]:5000"]}, {"type": "worker"}))
    assert ipv6.peers == [] and cluster.split_address(ipv6.address) == ("::1", 5000)


WORKERS = {"worker": ["a:1", "b:1"]}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{'cluster': {}}", "not valid JSON"),
        ("", "not set"),
        ("[1, 2]", "expected a JSON object"),
        (_config({}, {"type": "worker"}), 'no "cluster"'),
        (json.dumps({"task": {"type": "worker"}}), 'no "cluster"'),
        (_config(WORKERS), 'no "task"'),
        (_config({"ps": ["a:1"], **WORKERS}, {"type": "worker"}), "unknown task type 'ps'"),
        (_config(WORKERS, {"type": "evaluator"}), "unknown task type 'evaluator'"),
        (_config(WORKERS, {"type": "worker", "index": 2}), "index 2 is out of range"),
        (_config(WORKERS, {"type": "worker", "index": -1}), "out of range"),
        (_config(WORKERS, {"type": "worker", "index": "0"}), "must be an integer"),
        (_config(WORKERS, {"type": "worker", "index": True}), "must be an integer"),
        (_config({"worker": []}, {"type": "worker"}), "non-empty list"),
        (_config({"worker": ["a:1", "a:1"]}, {"type": "worker"}), "appears twice"),
        (_config({"chief": ["a:1", "b:1"]}, {"type": "chief"}), "at most one chief"),
        (_config({"worker": ["host"]}, {"type": "worker"}), "host or the port is missing"),
        (_config({"worker": [":80"]}, {"type": "worker"}), "host or the port is missing"),
        (_config({"worker": ["host:"]}, {"type": "worker"}), "port must be a number"),
        (_config({"worker": ["host:0"]}, {"type": "worker"}), "port must be a number"),
        (_config({"worker": ["host:70000"]}, {"type": "worker"}), "port must be a number"),
        (_config({"worker": ["host:http"]}, {"type": "worker"}), "port must be a number"),
        (_config({"worker": ["grpc://h:1"]}, {"type": "worker"}), "no scheme"),
        (_config({"worker": ["my host:1"]}, {"type": "worker"}), "no spaces"),
        (_config({"worker": ["fd00::1:1"]}, {"type": "worker"}), "IPv6 address in brackets"),
        (_config({"worker": [12345]}, {"type": "worker"}), "must be a 'host:port' string"),
    ],
)
def test_malformed_tf_config_is_refused(text: str, message: str, monkeypatch) -> None:
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="TF_CONFIG") as error:
        cluster.parse_tf_config(text or None)
    assert message in str(error.value)


def test_distribution_strategy_refuses_tf_config_before_anything_starts(monkeypatch) -> None:
    # Both errors come before TensorFlow is imported or a strategy is made.
    monkeypatch.setenv("TF_CONFIG", _config(WORKERS, {"type": "worker", "index": 5}))
    with pytest.raises(ValueError, match="task index 5 is out of range"):
        training.distribution_strategy("auto")
    own, absent = _free_ports(2)
    monkeypatch.setenv(
        "TF_CONFIG", cluster.tf_config_for([f"127.0.0.1:{own}", f"127.0.0.1:{absent}"], 0)
    )
    monkeypatch.setenv(cluster.WORKER_TIMEOUT_ENV_VAR, "0.5")
    with pytest.raises(TimeoutError, match=f"could not reach 127.0.0.1:{absent} .*within 0.5 s"):
        training.distribution_strategy("multi_worker")


def test_tf_config_for_refuses_bad_hosts() -> None:
    with pytest.raises(ValueError, match="index 2 is out of range for 2 hosts"):
        cluster.tf_config_for("a:1,b:1", 2)
    with pytest.raises(ValueError, match="every worker as host:port"):
        cluster.tf_config_for("a:1,,b:1", 0)
    with pytest.raises(ValueError, match=r"^'b' is not a 'host:port' worker address"):
        cluster.tf_config_for("a:1,b", 0)
    with pytest.raises(ValueError, match="appears twice"):
        cluster.tf_config_for("a:1,a:1", 0)


def test_worker_timeout(monkeypatch) -> None:
    monkeypatch.delenv(cluster.WORKER_TIMEOUT_ENV_VAR, raising=False)
    assert cluster.worker_timeout() == cluster.DEFAULT_WORKER_TIMEOUT == 120
    monkeypatch.setenv(cluster.WORKER_TIMEOUT_ENV_VAR, "2.5")
    assert cluster.worker_timeout() == 2.5
    for bad in ("0", "-1", "soon", "inf", "nan"):
        monkeypatch.setenv(cluster.WORKER_TIMEOUT_ENV_VAR, bad)
        with pytest.raises(ValueError, match="positive number of seconds"):
            cluster.worker_timeout()


def _two_configs() -> list[cluster.ClusterConfig]:
    addresses = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    return [cluster.parse_tf_config(cluster.tf_config_for(addresses, i)) for i in range(2)]


def _port_is_free(address: str) -> bool:
    try:
        socket.create_server(("", cluster.split_address(address)[1])).close()
    except OSError:
        return False
    return True


def test_workers_wait_for_each_other() -> None:
    # Each listens on its own port while it waits, so two waiting workers find each other
    # (with connection attempts alone, each would wait for the other's TensorFlow server).
    configs = _two_configs()
    errors: list[BaseException] = []
    done = threading.Barrier(2, timeout=30)

    def wait(config: cluster.ClusterConfig, delay: float) -> None:
        time.sleep(delay)  # the second worker starts later
        try:
            cluster.wait_for_peers(config, timeout=20)
            # Its port is free again: TensorFlow's server listens there until the end.
            port = cluster.split_address(config.address)[1]
            with socket.create_server(("", port)):
                done.wait()
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [
        threading.Thread(target=wait, args=(config, delay))
        for config, delay in zip(configs, (0.0, 1.0), strict=True)
    ]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors
    assert time.monotonic() - started < 10


def test_a_missing_worker_is_named_after_the_timeout() -> None:
    config = _two_configs()[0]
    started = time.monotonic()
    with pytest.raises(TimeoutError) as error:
        cluster.wait_for_peers(config, timeout=1)
    assert 1 <= time.monotonic() - started < 5
    message = str(error.value)
    assert f"worker 0 (chief) of 2 workers, at {config.address}" in message
    assert f"could not reach {config.peers[0]} (" in message
    assert cluster.WORKER_TIMEOUT_ENV_VAR in message
    assert _port_is_free(config.address)


def test_a_taken_port_is_reported() -> None:
    config = _two_configs()[0]
    with socket.create_server(("", cluster.split_address(config.address)[1])):
        with pytest.raises(RuntimeError, match="cannot listen on port"):
            cluster.wait_for_peers(config, timeout=1)


def test_who_writes(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert cluster.is_chief()  # one machine
    assert not cluster.is_multi_worker(None)
    monkeypatch.setenv("TF_CONFIG", cluster.tf_config_for("a:1,b:1", 0))
    assert cluster.is_chief()
    with cluster.chief_only_path(tmp_path / "model.keras") as path:
        assert path == tmp_path / "model.keras"
    monkeypatch.setenv("TF_CONFIG", cluster.tf_config_for("a:1,b:1", 1))
    assert not cluster.is_chief()
    with cluster.chief_only_path(tmp_path / "model.keras") as path:
        assert path.name == "model.keras" and path.parent != tmp_path
        path.write_text("written by a worker that is not the chief")
    assert not path.parent.exists()  # deleted with what was written there
    assert not (tmp_path / "model.keras").exists()


def _launch(*arguments: str, **environment: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cifar_utils.cluster", *arguments],
        capture_output=True,
        text=True,
        timeout=60,
        env={**{k: v for k, v in os.environ.items() if k != "TF_CONFIG"}, **environment},
    )


SHOW = "import os; print(os.environ['TF_CONFIG']); print(os.environ.get('CIFAR10_WORKER_TIMEOUT'))"


def test_launcher_writes_tf_config_and_runs_the_command() -> None:
    done = _launch("--hosts", "h1:2222,h2:2222", "--index", "1", "--", sys.executable, "-c", SHOW)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("cifar_utils.cluster: worker 1 of 2 workers, at h2:2222: ")
    assert json.loads(lines[1]) == {
        "cluster": {"worker": ["h1:2222", "h2:2222"]},
        "task": {"type": "worker", "index": 1},
    }
    assert lines[2] == "None"
    done = _launch(
        "--hosts", "h1:1,h2:1", "--index", "0", "--timeout", "30", "--", sys.executable, "-c", SHOW
    )
    assert done.stdout.splitlines()[2] == "30"
    # The command's exit status is the launcher's (the launcher becomes the command).
    done = _launch(
        "--hosts", "h1:1", "--index", "0", "--", sys.executable, "-c", "raise SystemExit(3)"
    )
    assert done.returncode == 3


@pytest.mark.parametrize(
    ("arguments", "code", "message"),
    [
        (["--hosts", "h1:1,h2:1", "--index", "2", "--", "true"], 2, "index 2 is out of range"),
        (["--hosts", "h1,h2:1", "--index", "0", "--", "true"], 2, "not a 'host:port'"),
        (["--hosts", "h1:1", "--index", "0", "--timeout", "0", "--", "true"], 2, "--timeout"),
        (["--hosts", "h1:1", "--index", "0", "--"], 2, "give the command to run"),
        (["--hosts", "h1:1", "--index", "x", "--", "true"], 2, "invalid int value"),
        (["--hosts", "h1:1", "--index", "0", "--", "no-such-command-here"], 127, "cannot run"),
    ],
)
def test_launcher_refuses(arguments: list[str], code: int, message: str) -> None:
    done = _launch(*arguments)
    assert done.returncode == code
    assert message in done.stderr
