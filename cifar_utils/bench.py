"""Benchmarks of this machine for the notebook series: ``python -m cifar_utils.bench``.

Each section prints a small table; with no section flag every section runs::

    python -m cifar_utils.bench --load          # how long loading CIFAR-10 takes
    CIFAR10_PATH=/path/to/cifar-10-python.tar.gz python -m cifar_utils.bench --load

Sections are registered in :data:`SECTIONS` (name -> help text, function taking the parsed
arguments); adding one adds its ``--name`` flag. The numbers are for reading, not asserted
by any test.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from cifar_utils import data

# Targets from the design card (a laptop CPU): shown beside the measured times.
LOAD_TARGETS_S = {"archive": 15.0, "cache": 2.0, "folder": 2.0}


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


def _run_load(args: argparse.Namespace) -> None:
    source = data.find_cifar10(args.path)
    print(f"== load: {source}")
    times = compute_load_times(args.path, repeats=args.repeats)
    print(f"{'case':<40} {'best':>8} {'median':>8} {'target':>8}")
    for case, label in _CASE_LABELS.items():
        if f"{case}_best_s" in times:
            best, median = times[f"{case}_best_s"], times[f"{case}_median_s"]
            target = f"< {LOAD_TARGETS_S[case]:g} s"
            print(f"{label:<40} {best:>6.2f} s {median:>6.2f} s {target:>8}")


SECTIONS: dict[str, tuple[str, Callable[[argparse.Namespace], None]]] = {
    "load": ("time loading CIFAR-10 (from the archive, then from the cache)", _run_load),
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark sections named on the command line (all of them by default)."""
    parser = argparse.ArgumentParser(
        prog="python -m cifar_utils.bench",
        description="Benchmarks of this machine for the CIFAR-10 notebook series.",
    )
    for name, (help_text, _) in SECTIONS.items():
        parser.add_argument(f"--{name}", action="store_true", help=help_text)
    parser.add_argument(
        "--path",
        default=None,
        help="CIFAR-10 archive or folder (default: $CIFAR10_PATH, the cache, Keras's cache)",
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="timed runs of the slowest case (default: 3)"
    )
    args = parser.parse_args(argv)
    chosen = [name for name in SECTIONS if getattr(args, name)] or list(SECTIONS)
    for name in chosen:
        try:
            SECTIONS[name][1](args)
        except (FileNotFoundError, data.CifarDataError) as exc:
            print(f"{name}: {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
