"""Training on several machines: ``TF_CONFIG``, its checks, and which worker writes files.

``MultiWorkerMirroredStrategy`` learns the machines of a run from the environment
variable ``TF_CONFIG`` (a JSON text: every worker's ``host:port`` and this worker's place
in that list). This module writes it for you and runs the command; start it on every
machine, with the same host list and the machine's own index::

    # on host1                                  # on host2
    python -m cifar_utils.cluster \\             python -m cifar_utils.cluster \\
        --hosts host1:12345,host2:12345 \\          --hosts host1:12345,host2:12345 \\
        --index 0 -- \\                              --index 1 -- \\
        python -m cifar_utils.series --only 03      python -m cifar_utils.series --only 03

(``make worker HOSTS=host1:12345,host2:12345 INDEX=0`` does the same.) Worker 0 is the
*chief*: the only one that keeps the files of the run (model, backups); the others write
theirs to a temporary folder that is deleted, as TensorFlow's multi-worker guide
prescribes (:func:`chief_only_path`).

:func:`cifar_utils.training.distribution_strategy` calls :func:`parse_tf_config`, which
refuses a malformed ``TF_CONFIG`` with a ``ValueError``, and :func:`wait_for_peers`,
which waits at most ``$CIFAR10_WORKER_TIMEOUT`` seconds (default 120) for the other
workers and otherwise stops with a ``TimeoutError`` naming the addresses it waited for,
instead of TensorFlow's silent wait without end.

Importing this module imports neither TensorFlow nor Keras and changes no setting.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import math
import os
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "DEFAULT_WORKER_TIMEOUT",
    "TF_CONFIG_ENV_VAR",
    "WORKER_TIMEOUT_ENV_VAR",
    "ClusterConfig",
    "broadcast_from_chief",
    "chief_only_path",
    "is_chief",
    "is_multi_worker",
    "main",
    "multi_worker_strategy",
    "parse_tf_config",
    "split_address",
    "sync_from_chief",
    "tf_config_for",
    "wait_for_peers",
    "worker_timeout",
]

TF_CONFIG_ENV_VAR = "TF_CONFIG"
"""The environment variable ``MultiWorkerMirroredStrategy`` reads the cluster from."""

WORKER_TIMEOUT_ENV_VAR = "CIFAR10_WORKER_TIMEOUT"
"""Environment variable: seconds a worker waits for the others before it gives up."""

DEFAULT_WORKER_TIMEOUT = 120.0
"""Seconds a worker waits for the others when ``$CIFAR10_WORKER_TIMEOUT`` is not set."""

TASK_TYPES = ("chief", "worker")
"""The task types ``MultiWorkerMirroredStrategy`` trains with (no parameter servers)."""

_EXAMPLE = (
    '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
    '"task": {"type": "worker", "index": 0}}'
)


def _refuse(problem: str) -> ValueError:
    return ValueError(
        f"TF_CONFIG: {problem}. It should look like {_EXAMPLE} (the same cluster on every "
        "machine, each with its own index); python -m cifar_utils.cluster writes it for you."
    )


def split_address(address: str) -> tuple[str, int]:
    """Split a worker address ``"host:port"`` (``"[::1]:port"`` for IPv6) into its parts.

    Args:
        address: A host name or IP address, a colon and a port 1-65535, e.g.
            ``"192.168.1.10:12345"``; no scheme (``grpc://``), no spaces.

    Returns:
        ``(host, port)``, the host without IPv6 brackets.

    Raises:
        ValueError: If the address is not of that form.
    """
    if not isinstance(address, str):
        raise ValueError(f"a worker address must be a 'host:port' string, got {address!r}.")
    bad = f"{address!r} is not a 'host:port' worker address (e.g. '192.168.1.10:12345')"
    if not address or any(character.isspace() for character in address) or "/" in address:
        raise ValueError(f"{bad}: no spaces, no scheme such as grpc://.")
    host, colon, port_text = address.rpartition(":")
    if not colon or not host:
        raise ValueError(f"{bad}: the host or the port is missing.")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        if not host:
            raise ValueError(f"{bad}: the host is missing.")
    elif ":" in host or "[" in host or "]" in host:
        raise ValueError(f"{bad}: write an IPv6 address in brackets, e.g. '[fd00::1]:12345'.")
    if not port_text.isascii() or not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"{bad}: the port must be a number from 1 to 65535.")
    return host, int(port_text)


@dataclass(frozen=True)
class ClusterConfig:
    """A checked ``TF_CONFIG``: the cluster's addresses and this worker's task.

    Attributes:
        tasks: Addresses ``"host:port"`` per task type, e.g. ``{"worker": ("a:1", "b:1")}``;
            the types are ``"chief"`` (at most one address) and ``"worker"``.
        task_type: This worker's type, ``"chief"`` or ``"worker"``.
        task_index: This worker's position in ``tasks[task_type]``.
    """

    tasks: Mapping[str, tuple[str, ...]]
    task_type: str
    task_index: int

    @property
    def addresses(self) -> list[str]:
        """Every address of the cluster, the chief's first (TensorFlow's order)."""
        return [address for kind in TASK_TYPES for address in self.tasks.get(kind, ())]

    @property
    def address(self) -> str:
        """This worker's ``host:port``."""
        return self.tasks[self.task_type][self.task_index]

    @property
    def peers(self) -> list[str]:
        """The addresses of the other workers."""
        position = self.task_index + (len(self.tasks.get("chief", ())) if self.is_worker else 0)
        return [address for i, address in enumerate(self.addresses) if i != position]

    @property
    def is_worker(self) -> bool:
        return self.task_type == "worker"

    @property
    def is_chief(self) -> bool:
        """Whether this worker keeps the run's files: the ``"chief"`` task, or worker 0
        when the cluster has no chief."""
        return self.task_type == "chief" or (self.task_index == 0 and "chief" not in self.tasks)

    @property
    def num_workers(self) -> int:
        """How many machines (processes) train together."""
        return len(self.addresses)

    def __str__(self) -> str:
        role = " (chief)" if self.is_chief else ""
        return (
            f"{self.task_type} {self.task_index}{role} of {self.num_workers} workers, "
            f"at {self.address}"
        )


def parse_tf_config(text: str | None = None) -> ClusterConfig:
    """Read and check a ``TF_CONFIG`` before anything starts.

    Args:
        text: The JSON text; ``None`` reads ``$TF_CONFIG``.

    Returns:
        The checked configuration.

    Raises:
        ValueError: If the text is not JSON, has no ``cluster`` or ``task``, names a task
            type other than ``"chief"`` and ``"worker"``, has an address that is not
            ``host:port`` or appears twice, or a task index out of range. The message says
            what was wrong and how the text should look.
    """
    if text is None:
        text = os.environ.get(TF_CONFIG_ENV_VAR)
        if not text:
            raise ValueError(f"${TF_CONFIG_ENV_VAR} is not set: there is no cluster to join.")
    try:
        config = json.loads(text)
    except json.JSONDecodeError as error:
        raise _refuse(f"not valid JSON ({error})") from None
    if not isinstance(config, dict):
        raise _refuse(f"expected a JSON object, got {type(config).__name__}")
    cluster = config.get("cluster")
    if not isinstance(cluster, dict) or not cluster:
        raise _refuse('no "cluster" object with the addresses of the workers')
    tasks: dict[str, tuple[str, ...]] = {}
    seen: set[tuple[str, int]] = set()
    for kind, addresses in cluster.items():
        if kind not in TASK_TYPES:
            raise _refuse(
                f"unknown task type {kind!r} in the cluster; MultiWorkerMirroredStrategy "
                f"trains with {' and '.join(map(repr, TASK_TYPES))} only"
            )
        if isinstance(addresses, str):
            addresses = [addresses]
        if not isinstance(addresses, list) or not addresses:
            raise _refuse(f'"cluster"."{kind}" must be a non-empty list of "host:port" strings')
        if kind == "chief" and len(addresses) > 1:
            raise _refuse(f"a cluster has at most one chief, got {len(addresses)}")
        for address in addresses:
            try:
                host, port = split_address(address)
            except ValueError as error:
                raise _refuse(f'"cluster"."{kind}": {error}'.rstrip(".")) from None
            if (host.lower(), port) in seen:
                raise _refuse(f"the address {address!r} appears twice in the cluster")
            seen.add((host.lower(), port))
        tasks[kind] = tuple(addresses)
    task = config.get("task")
    if not isinstance(task, dict):
        raise _refuse('no "task" object saying which worker this machine is')
    task_type, task_index = task.get("type"), task.get("index", 0)
    if task_type not in tasks:
        known = " or ".join(map(repr, tasks))
        raise _refuse(f'unknown task type {task_type!r} in "task": this cluster has {known}')
    if isinstance(task_index, bool) or not isinstance(task_index, int):
        raise _refuse(f'"task"."index" must be an integer, got {task_index!r}')
    if not 0 <= task_index < len(tasks[task_type]):
        raise _refuse(
            f"task index {task_index} is out of range: the cluster has "
            f"{len(tasks[task_type])} {task_type} address(es), so 0 to "
            f"{len(tasks[task_type]) - 1}"
        )
    return ClusterConfig(tasks=tasks, task_type=task_type, task_index=task_index)


def tf_config_for(hosts: str | Sequence[str], index: int) -> str:
    """Write the ``TF_CONFIG`` of one worker of a cluster of equal workers.

    Args:
        hosts: Every worker's ``host:port``, in the same order on every machine: a list or
            one comma-separated string (``"host1:12345,host2:12345"``).
        index: This machine's position in ``hosts``, from 0; worker 0 is the chief.

    Returns:
        The JSON text, checked by :func:`parse_tf_config`.

    Raises:
        ValueError: If an address is malformed or repeated, or ``index`` is out of range.
    """
    if isinstance(hosts, str):
        hosts = hosts.split(",")
    addresses = [host.strip() for host in hosts]
    if not addresses or not all(addresses):
        raise ValueError(f"hosts must list every worker as host:port, got {hosts!r}.")
    for address in addresses:
        split_address(address)  # the message names the address, not TF_CONFIG
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
        raise ValueError(f"index must be an integer, got {index!r}.")
    if not 0 <= index < len(addresses):
        raise ValueError(
            f"index {index} is out of range for {len(addresses)} hosts: use 0 to "
            f"{len(addresses) - 1}, this machine's position in the host list."
        )
    text = json.dumps(
        {"cluster": {"worker": addresses}, "task": {"type": "worker", "index": int(index)}}
    )
    parse_tf_config(text)
    return text


def worker_timeout() -> float:
    """Seconds to wait for the other workers: ``$CIFAR10_WORKER_TIMEOUT``, else 120."""
    text = os.environ.get(WORKER_TIMEOUT_ENV_VAR, "").strip()
    if not text:
        return DEFAULT_WORKER_TIMEOUT
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not seconds > 0 or math.isinf(seconds):
        raise ValueError(
            f"${WORKER_TIMEOUT_ENV_VAR} must be a positive number of seconds, got {text!r}."
        )
    return seconds


def _listen(port: int) -> socket.socket:
    """Listen on ``port`` (all interfaces) so that the other workers see this one is up."""
    try:
        if socket.has_dualstack_ipv6():
            return socket.create_server(("", port), family=socket.AF_INET6, dualstack_ipv6=True)
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise _port_in_use(port, error) from None
    try:
        return socket.create_server(("", port))
    except OSError as error:
        raise _port_in_use(port, error) from None


def _port_in_use(port: int, error: OSError) -> RuntimeError:
    return RuntimeError(
        f"cannot listen on port {port} of this machine ({error.strerror or error}): another "
        "program, or a worker of an earlier run, holds it. Stop it, or choose another port."
    )


def wait_for_peers(
    config: ClusterConfig, *, timeout: float | None = None, poll_seconds: float = 0.2
) -> None:
    """Wait until every other worker of the cluster accepts connections.

    TensorFlow itself waits without end, silently, for a worker that never comes (a typo
    in an address, a closed firewall port). This waits at most ``timeout`` seconds, with a
    plain TCP connection to each address. Meanwhile it listens on this worker's own port,
    so that the others see it too before its TensorFlow server starts there; it stops
    listening before it returns.

    Args:
        config: The cluster, from :func:`parse_tf_config`.
        timeout: Seconds; ``None`` reads :func:`worker_timeout`.
        poll_seconds: Pause between two rounds of connection attempts.

    Raises:
        TimeoutError: If a worker cannot be reached in time; the message names its address.
        RuntimeError: If this worker's own port is taken by another program.
    """
    timeout = worker_timeout() if timeout is None else float(timeout)
    waiting = {address: "not tried yet" for address in config.peers}
    if not waiting:
        return
    listener = _listen(split_address(config.address)[1])
    try:
        deadline = time.monotonic() + timeout
        while True:
            for address in list(waiting):
                remaining = deadline - time.monotonic()
                try:
                    with socket.create_connection(
                        split_address(address), timeout=max(0.1, min(2.0, remaining))
                    ):
                        del waiting[address]
                except OSError as error:
                    waiting[address] = str(error) or type(error).__name__
            if not waiting:
                return
            if time.monotonic() >= deadline:
                addresses = ", ".join(f"{address} ({why})" for address, why in waiting.items())
                raise TimeoutError(
                    f"{config}: could not reach {addresses} within {timeout:g} s. Start the "
                    "same command on every machine of the cluster, check the host:port list "
                    "(the same on every machine), and open the ports in the firewall; set "
                    f"${WORKER_TIMEOUT_ENV_VAR} to wait longer."
                )
            time.sleep(poll_seconds)
    finally:
        listener.close()


# --- Inside a run: who writes, and what the workers share ----------------------------------


def is_multi_worker(strategy: Any) -> bool:
    """Whether ``strategy`` trains with other machines (processes), not only local devices."""
    resolver = getattr(strategy, "cluster_resolver", None) if strategy is not None else None
    if resolver is None or resolver.task_type is None:
        return False
    jobs = resolver.cluster_spec().as_dict()
    return sum(len(jobs.get(kind, ())) for kind in TASK_TYPES) > 1


def is_chief(strategy: Any = None) -> bool:
    """Whether this process keeps the run's files (models, backups, reports).

    True on one machine; with several, for the ``"chief"`` task, or worker 0 when there is
    no chief (TensorFlow's rule). Asked of ``strategy``'s cluster when given, else of
    ``$TF_CONFIG``.
    """
    resolver = getattr(strategy, "cluster_resolver", None) if strategy is not None else None
    if resolver is not None:
        task_type, task_id = resolver.task_type, resolver.task_id
        if task_type is None:
            return True
        jobs = resolver.cluster_spec().as_dict()
        return task_type == "chief" or (
            task_type == "worker" and task_id == 0 and "chief" not in jobs
        )
    if strategy is not None or not os.environ.get(TF_CONFIG_ENV_VAR):
        return True
    return parse_tf_config().is_chief


@contextlib.contextmanager
def chief_only_path(path: str | os.PathLike[str], strategy: Any = None) -> Iterator[Path]:
    """Give the path to write a file to: ``path`` on the chief, a throwaway one elsewhere.

    Every worker must still write (saving reads distributed variables, which may need the
    other workers), but only the chief's file is kept: the other workers write to a new
    temporary folder, deleted when the block ends, as TensorFlow's multi-worker guide does::

        with cluster.chief_only_path(model_path, strategy) as path:
            training.save_model(model, path)

    Args:
        path: Where the chief writes the file.
        strategy: The model's ``tf.distribute`` strategy (``model.distribute_strategy``);
            ``None`` asks ``$TF_CONFIG``.

    Yields:
        ``path`` itself on the chief; otherwise a path with the same name in a temporary
        folder.
    """
    path = Path(path)
    if is_chief(strategy):
        yield path
        return
    folder = Path(tempfile.mkdtemp(prefix="cifar_utils-worker-"))
    try:
        yield folder / path.name
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def broadcast_from_chief(strategy: Any, arrays: Sequence[Any]) -> list[np.ndarray]:
    """Give every worker the chief's values of some arrays, bit for bit.

    A collective operation: every worker calls it, with arrays of the same shapes and
    dtypes, in the same order. Each array's bytes are summed over the replicas, the
    chief's first replica adding its own and every other replica zeros, so the sum is
    exactly the chief's copy whatever the dtype.

    Args:
        strategy: A ``tf.distribute`` strategy (``MultiWorkerMirroredStrategy``).
        arrays: NumPy arrays (or anything ``np.asarray`` takes) of numbers.

    Returns:
        The chief's arrays, same shapes and dtypes.
    """
    import tensorflow as tf

    arrays = [np.asarray(array) for array in arrays]
    chunks = [np.ascontiguousarray(array).view(np.uint8).reshape(-1) for array in arrays]
    sizes = [chunk.size for chunk in chunks]
    padding = (-sum(sizes)) % 4
    words = np.concatenate([*chunks, np.zeros(padding + 4, np.uint8)]).view(np.int32)

    def keep_first(vector: Any) -> Any:
        context = tf.distribute.get_replica_context()
        first = tf.equal(context.replica_id_in_sync_group, 0)  # on the chief (TensorFlow's order)
        mine = tf.where(first, vector, tf.zeros_like(vector))
        return context.all_reduce(tf.distribute.ReduceOp.SUM, mine)

    @tf.function
    def broadcast(vector: Any) -> Any:
        return strategy.run(keep_first, args=(vector,))

    summed = strategy.experimental_local_results(broadcast(tf.constant(words)))[0].numpy()
    raw = summed.view(np.uint8)
    result, offset = [], 0
    for array, size in zip(arrays, sizes, strict=True):
        result.append(raw[offset : offset + size].view(array.dtype).reshape(array.shape).copy())
        offset += size
    return result


def sync_from_chief(strategy: Any, model: Any, epochs_done: int) -> int:
    """Resume every worker from the chief's backup: its epoch count, weights and optimiser.

    Called by :meth:`cifar_utils.callbacks.TrainingBackup.restore` on every worker, after
    the chief (alone) has loaded its backup: the others need no copy of the backups.

    Args:
        strategy: The model's ``MultiWorkerMirroredStrategy``.
        model: The compiled model, its optimiser built.
        epochs_done: The epochs this worker's backup says are done (0 without one).

    Returns:
        The chief's ``epochs_done``; when it is not 0 the model's weights and optimiser
        state are the chief's on every worker.
    """
    (chief_epochs,) = broadcast_from_chief(strategy, [np.array(epochs_done, np.int64)])
    if chief_epochs:
        optimizer = getattr(model, "optimizer", None)
        variables = [*model.weights, *(optimizer.variables if optimizer is not None else [])]
        values = broadcast_from_chief(strategy, [variable.numpy() for variable in variables])
        for variable, value in zip(variables, values, strict=True):
            variable.assign(value)
    return int(chief_epochs)


def multi_worker_strategy() -> Any:
    """Return a ``MultiWorkerMirroredStrategy`` that Keras 3's ``fit`` can train under.

    Keras 3 (3.15 at least) calls ``strategy.reduce`` in two ways that
    ``MultiWorkerMirroredStrategy`` refuses once it has more than one worker
    (keras-team/keras#20585, tensorflow/tensorflow#72388): on the first batch, a tuple of
    tensors (TensorFlow's ``reduce`` takes one value: "Attempt to convert a value
    (PerReplica...)"), and on every step each scalar metric with ``axis=0`` ("Invalid
    reduction dimension 0 for input with 0 dimensions"). This strategy's ``reduce``
    reduces a nest element by element and a scalar with ``axis=None`` (the mean over the
    replicas); everything else is TensorFlow's. Nothing global is changed: only models
    built under this strategy see the difference.

    Returns:
        A ``tf.distribute.MultiWorkerMirroredStrategy`` (a subclass), configured by
        ``$TF_CONFIG``.
    """
    import tensorflow as tf

    class MultiWorkerMirroredStrategy(tf.distribute.MultiWorkerMirroredStrategy):
        def reduce(self, reduce_op: Any, value: Any, axis: Any = None) -> Any:
            if tf.nest.is_nested(value):
                return tf.nest.map_structure(lambda v: self.reduce(reduce_op, v, axis), value)
            if axis is not None:
                local = self.experimental_local_results(value)[0]
                if tf.TensorShape(getattr(local, "shape", None)).rank == 0:
                    axis = None
            return super().reduce(reduce_op, value, axis=axis)

    return MultiWorkerMirroredStrategy()


# --- The launcher ------------------------------------------------------------------------


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m cifar_utils.cluster",
        description="Run one worker of a training spread over several machines: write "
        "TF_CONFIG from the host list, then run the command (the same on every machine).",
        epilog="example: python -m cifar_utils.cluster --hosts host1:12345,host2:12345 "
        "--index 0 -- python -m cifar_utils.series --only 03",
    )
    parser.add_argument(
        "--hosts",
        required=True,
        help="every worker's host:port, comma-separated, in the same order on every machine",
    )
    parser.add_argument(
        "--index",
        required=True,
        type=int,
        help="this machine's position in --hosts, from 0 (worker 0 keeps the files)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        help=f"seconds to wait for the other workers (sets ${WORKER_TIMEOUT_ENV_VAR}; "
        f"default: its value, else {DEFAULT_WORKER_TIMEOUT:g})",
    )
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command to run")
    args = parser.parse_args(argv)
    if args.command[:1] == ["--"]:
        args.command = args.command[1:]
    if not args.command:
        parser.error("give the command to run after --, e.g. -- python -m cifar_utils.series")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Write ``TF_CONFIG`` and replace this process with the command (it keeps the PID,
    signals and exit status). Returns only on an error: 2 for bad arguments, 127 when the
    command is not found."""
    args = _parse_args(argv)
    try:
        text = tf_config_for(args.hosts, args.index)
        if args.timeout is not None and not (0 < args.timeout < math.inf):
            raise ValueError(f"--timeout must be a positive number of seconds, got {args.timeout}.")
    except ValueError as error:
        print(f"cifar_utils.cluster: {error}", file=sys.stderr)
        return 2
    environment = dict(os.environ, **{TF_CONFIG_ENV_VAR: text})
    if args.timeout is not None:
        environment[WORKER_TIMEOUT_ENV_VAR] = f"{args.timeout:g}"
    print(f"cifar_utils.cluster: {parse_tf_config(text)}: {' '.join(args.command)}", flush=True)
    try:
        os.execvpe(args.command[0], args.command, environment)
    except OSError as error:
        print(f"cifar_utils.cluster: cannot run {args.command[0]!r}: {error}", file=sys.stderr)
        return 127
    return 0  # not reached: execvpe replaces this process


if __name__ == "__main__":
    sys.exit(main())
