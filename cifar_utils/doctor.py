"""Check that this machine can run the CIFAR-10 notebook series, and say what it will use.

Run it from the project's environment::

    python -m cifar_utils.doctor          # a readable report, one line per check
    python -m cifar_utils.doctor --json   # the same as JSON, for bug reports

It reports the Python, TensorFlow and Keras versions (and whether Keras 3 is in use), the
CPU features that matter for speed (AVX2, AVX-512, AVX512_BF16, AMX) and the GPUs, the
precision and threads the notebooks will use, whether Graphviz is there for model plots,
where the dataset will be loaded from and whether it holds the official files (the official
archive, or its eight files in a repackaged archive or an extracted folder, each checked
against its official sha256), and the free disk space.

Each line starts with ``[ok]``, ``[warn]`` (works, but read the advice), ``[FAIL]`` (a
requirement is missing or too old; the advice says how to fix it) or ``[skip]`` (nothing to
check, or something the check needs failed). The exit status is 1 when a check failed,
else 0, so scripts and CI can call it.

From Python, :func:`run_checks` returns the checks as :class:`Check` objects and
:func:`format_report` renders them. Importing this module imports neither TensorFlow nor
Keras and changes no global state; :func:`run_checks` imports them.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import shutil
import sys
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal

from cifar_utils import files

if TYPE_CHECKING:
    import cifar_utils.data

Status = Literal["ok", "warn", "fail", "skip"]

MIN_PYTHON = (3, 10)
MIN_TENSORFLOW = "2.16"
"""The first TensorFlow that works with Keras 3."""
MIN_KERAS = "3.3"
MIN_FREE_BYTES = 2**30
"""Below this much free space on the data disk, warn (the dataset needs about 350 MB)."""

_TAGS: dict[str, str] = {"ok": "[ok]", "warn": "[warn]", "fail": "[FAIL]", "skip": "[skip]"}
_CPU_FLAGS_SHOWN = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")
# TensorFlow's own test for the variable (tensorflow/__init__.py).
_LEGACY_KERAS_VALUES = ("true", "True", "1")
_INSTALL_ADVICE = 'Install the dependencies: `pip install -e ".[dev]"` (or `make setup`).'
_WIDTH = 100
_GLUE = "\x00"  # stands for a space that wrapping must not break at


@dataclasses.dataclass(frozen=True)
class Check:
    """The result of one check.

    Attributes:
        name: Short name of what was checked, e.g. ``"tensorflow"``.
        status: ``"ok"``; ``"warn"`` (works, but read the advice); ``"fail"`` (a
            requirement is missing or too old); ``"skip"`` (nothing to check, or a check it
            depends on failed).
        detail: What was found, one sentence.
        advice: What to do about it; empty when there is nothing to do.
    """

    name: str
    status: Status
    detail: str
    advice: str = ""


# --------------------------------------------------------------------------------------
# Versions
# --------------------------------------------------------------------------------------


def _python_version() -> tuple[int, int, int]:
    """The running Python's version (a function, so that the tests can fake it)."""
    return sys.version_info[:3]


def _check_python() -> Check:
    version = _python_version()
    text = ".".join(map(str, version))
    where = f"{platform.python_implementation()} {text} on {platform.system()} "
    where += f"{platform.machine()}, {sys.executable}"
    if version[:2] < MIN_PYTHON:
        minimum = ".".join(map(str, MIN_PYTHON))
        return Check(
            "python",
            "fail",
            f"{where}: Python {minimum} or newer is required.",
            f"Create the environment with a newer Python, e.g. `conda env create -f "
            f"environment.yml`, or `python3.11 -m venv .venv` then {_INSTALL_ADVICE}",
        )
    return Check("python", "ok", where)


def _older(version: str, minimum: str) -> bool:
    from packaging.version import InvalidVersion, Version

    try:
        return Version(version) < Version(minimum)
    except InvalidVersion:
        return False  # an odd local build: let the other checks speak


def _check_tensorflow() -> tuple[Any, Check]:
    """Import TensorFlow; return the module (None if it is unusable) and the check."""
    try:
        import tensorflow as tf
    except Exception as exc:  # a broken install raises more than ImportError
        return None, Check(
            "tensorflow",
            "fail",
            f"cannot be imported ({type(exc).__name__}: {exc}).",
            f"TensorFlow {MIN_TENSORFLOW} or newer is required. {_INSTALL_ADVICE}",
        )
    version = getattr(tf, "__version__", "unknown")
    if _older(version, MIN_TENSORFLOW):
        return None, Check(
            "tensorflow",
            "fail",
            f"{version} is too old: {MIN_TENSORFLOW} or newer is required (the first "
            "TensorFlow that works with Keras 3).",
            f"Upgrade: `pip install -U 'tensorflow>={MIN_TENSORFLOW}' 'keras>={MIN_KERAS},<4'` "
            '(or reinstall the project: `pip install -e ".[dev]"`).',
        )
    built = "with CUDA" if tf.test.is_built_with_cuda() else "without CUDA"
    return tf, Check("tensorflow", "ok", f"{version} (built {built})")


def _check_keras() -> Check:
    try:
        import keras
    except Exception as exc:
        return Check(
            "keras",
            "fail",
            f"cannot be imported ({type(exc).__name__}: {exc}).",
            f"Keras {MIN_KERAS} or newer (Keras 3) is required. {_INSTALL_ADVICE}",
        )
    version = getattr(keras, "__version__", "unknown")
    legacy = os.environ.get("TF_USE_LEGACY_KERAS")
    legacy_on = legacy in _LEGACY_KERAS_VALUES
    if not version.startswith("3."):
        advice = (
            f"The notebooks use Keras 3 (`import keras`, keras>={MIN_KERAS},<4). TensorFlow "
            f"before 2.16 and the legacy `tf_keras` package are Keras 2. Upgrade: `pip install "
            f"-U 'tensorflow>={MIN_TENSORFLOW}' 'keras>={MIN_KERAS},<4'`."
        )
        if legacy_on:
            advice += " Also unset TF_USE_LEGACY_KERAS, which asks TensorFlow for Keras 2."
        return Check("keras", "fail", f"{version} is not Keras 3.", advice)
    if _older(version, MIN_KERAS):
        return Check(
            "keras",
            "fail",
            f"{version} is too old: {MIN_KERAS} or newer is required.",
            f"Upgrade: `pip install -U 'keras>={MIN_KERAS},<4'`.",
        )
    backend = keras.backend.backend()
    if backend != "tensorflow":
        return Check(
            "keras",
            "fail",
            f"{version}, Keras 3, but with the {backend!r} backend: the notebooks' tf.data "
            "pipelines and models need the TensorFlow backend.",
            "Unset KERAS_BACKEND (or set KERAS_BACKEND=tensorflow), and check the "
            '"backend" entry of ~/.keras/keras.json.',
        )
    if legacy_on:
        installed = importlib.util.find_spec("tf_keras") is not None
        what = "Keras 2 (tf_keras)" if installed else "unusable (tf_keras is not installed)"
        return Check(
            "keras",
            "warn",
            f"{version}: Keras 3 in use by `import keras` (the notebooks), but "
            f"TF_USE_LEGACY_KERAS={legacy} makes tf.keras {what}.",
            "Unset TF_USE_LEGACY_KERAS: layers and models of tf.keras and of Keras 3 cannot "
            "be mixed, and code written for one fails with the other.",
        )
    return Check(
        "keras",
        "ok",
        f"{version}: Keras 3 in use (backend tensorflow; tf.keras is Keras 3 too)",
    )


# --------------------------------------------------------------------------------------
# Devices, precision, threads
# --------------------------------------------------------------------------------------


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo, else what :mod:`platform` knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return " ".join(line.split(":", 1)[1].split())
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def usable_cores() -> int | None:
    """The CPU cores this process may run on (its affinity), else ``os.cpu_count()``."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count()


def _check_cpu() -> Check:
    from cifar_utils import training

    flags = training._cpu_flags()
    cores = usable_cores()
    where = f"{cpu_model()}, {cores if cores is not None else 'unknown number of'} cores"
    if not flags:
        return Check("cpu", "ok", f"{where}; instruction-set flags unknown (no /proc/cpuinfo)")
    shown = ", ".join(f"{flag} {'yes' if flag in flags else 'no'}" for flag in _CPU_FLAGS_SHOWN)
    return Check("cpu", "ok", f"{where}; {shown}")


def _gpu_details(tf: Any) -> list[tuple[str, tuple[int, int] | None]]:
    gpus = []
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        gpus.append((details.get("device_name", gpu.name), details.get("compute_capability")))
    return gpus


def _check_gpu(tf: Any) -> Check:
    if tf is None:
        return Check("gpu", "skip", "not checked: TensorFlow is not usable.")
    gpus = _gpu_details(tf)
    if gpus:
        listed = "; ".join(
            f"{name} (compute capability {'.'.join(map(str, capability))})" if capability else name
            for name, capability in gpus
        )
        return Check("gpu", "ok", f"{len(gpus)}: {listed}")
    if shutil.which("nvidia-smi") and tf.test.is_built_with_cuda():
        return Check(
            "gpu",
            "warn",
            "none visible to TensorFlow, although an NVIDIA driver (nvidia-smi) is installed.",
            "Install TensorFlow with its CUDA libraries: `pip install 'tensorflow[and-cuda]'` "
            "(Linux), and check that `nvidia-smi` lists the GPU. Training on the CPU works, "
            "only slower.",
        )
    return Check("gpu", "ok", "none: TensorFlow runs on the CPU")


def _check_precision(tf: Any) -> Check:
    if tf is None:
        return Check("precision", "skip", "not checked: TensorFlow is not usable.")
    from cifar_utils import training

    policy = training.choose_precision("auto")
    gpus = _gpu_details(tf)
    if gpus:
        why = (
            "a GPU with tensor cores (compute capability 7.0 or newer)"
            if policy == "mixed_float16"
            else "the GPU is older than compute capability 7.0 (no tensor cores)"
        )
    elif policy == "mixed_bfloat16":
        why = "the CPU has native bfloat16 instructions (AVX512_BF16 or AMX)"
    else:
        why = "no GPU, and no native bfloat16 on this CPU (AVX512_BF16/AMX): emulated, it is slower"
    candidates = "float32" if policy == "float32" else f"float32 and {policy}"
    return Check(
        "precision",
        "ok",
        f'PRECISION="auto" measures {candidates}, each with and without XLA, and trains '
        f"with the fastest (training.choose_setup): {why}",
    )


def _check_threads(tf: Any) -> Check:
    if tf is None:
        return Check("threads", "skip", "not checked: TensorFlow is not usable.")
    intra = tf.config.threading.get_intra_op_parallelism_threads()
    inter = tf.config.threading.get_inter_op_parallelism_threads()
    cores = usable_cores()
    detail = (
        f"intra-op: {intra or 'TensorFlow default (all cores)'}, "
        f"inter-op: {inter or 'TensorFlow default'}; "
        f"{cores if cores is not None else 'unknown number of'} usable cores "
        f"(os.cpu_count() {os.cpu_count()})"
    )
    return Check("threads", "ok", detail)


# --------------------------------------------------------------------------------------
# Graphviz, data, disk
# --------------------------------------------------------------------------------------


def _check_onednn(tf: Any) -> Check:
    if tf is None:
        return Check("onednn", "skip", "not checked: TensorFlow is not usable.")
    from cifar_utils import training

    enabled = training.onednn_enabled()
    setting = os.environ.get(training.ONEDNN_ENV_VAR)
    shown = f"{training.ONEDNN_ENV_VAR}={setting}" if setting is not None else "unset"
    if enabled is None:
        return Check("onednn", "ok", f"this TensorFlow build does not say ({shown})")
    if enabled:
        return Check("onednn", "ok", f"TensorFlow's oneDNN CPU kernels are on ({shown})")
    if _gpu_details(tf) or platform.machine().lower() not in ("x86_64", "amd64"):
        return Check("onednn", "ok", f"off ({shown}): not used on this machine")
    if setting is not None:
        return Check(
            "onednn",
            "ok",
            f"off, as {shown} asks (on an AVX2-only CPU, 1 trained about twice as fast)",
        )
    return Check(
        "onednn",
        "warn",
        f"TensorFlow's oneDNN CPU kernels are off ({shown}): on AVX2-only CPUs TensorFlow "
        "leaves them off by itself, and its other kernels trained the ResNet at half the "
        "speed on such a CPU (see the README).",
        f"Set {training.ONEDNN_ENV_VAR}=1 before TensorFlow is imported (the notebooks' "
        "first cell and `python -m cifar_utils.bench` do), or call "
        "training.prefer_onednn() first in your own scripts.",
    )


def _check_graphviz() -> Check:
    dot = shutil.which("dot")
    has_pydot = importlib.util.find_spec("pydot") is not None
    if dot and has_pydot:
        version = importlib.metadata.version("pydot")
        return Check("graphviz", "ok", f"dot at {dot}, pydot {version}: model plots work")
    missing = [
        what
        for what, there in (("the Graphviz program `dot`", dot), ("pydot", has_pydot))
        if not there
    ]
    advice = []
    if not dot:
        advice.append(
            "install Graphviz: `conda install -c conda-forge graphviz`, `sudo apt-get install "
            "graphviz` or `brew install graphviz`"
        )
    if not has_pydot:
        advice.append("`pip install pydot`")
    return Check(
        "graphviz",
        "warn",
        f"{' and '.join(missing)} not found: keras.utils.plot_model cannot draw model graphs "
        "(everything else works).",
        "To draw them, " + "; ".join(advice) + ".",
    )


def _origin(source: Path, data: ModuleType) -> str:
    if os.environ.get(data.PATH_ENV_VAR):
        return f"from ${data.PATH_ENV_VAR}"
    if source.is_relative_to(data.default_data_dir()):
        return "from the cache"
    return "from Keras's cache"


def _size(path: Path) -> str:
    return f"{path.stat().st_size / 2**20:.0f} MiB"


def _differences(content: cifar_utils.data.ContentCheck) -> str:
    """Name the files of a copy that are not the official ones, e.g. for the report."""
    parts = []
    if content.differing:
        one = len(content.differing) == 1
        parts.append(
            f"{', '.join(content.differing)} differ{'s' if one else ''} from the official "
            f"file{'' if one else 's'}"
        )
    if content.missing:
        one = len(content.missing) == 1
        parts.append(f"{', '.join(content.missing)} {'is' if one else 'are'} missing")
    return "; ".join(parts)


def _not_official_advice(source: Path, data: ModuleType) -> str:
    if os.environ.get(data.PATH_ENV_VAR):
        remedy = f"unset ${data.PATH_ENV_VAR}"
    else:
        doomed = [source]
        cached_archive = data.default_data_dir() / data.ARCHIVE_NAME
        if cached_archive.is_file() and cached_archive.resolve() != source.resolve():
            doomed.append(cached_archive)  # else the loader would extract it again
        remedy = f"delete {' and '.join(map(str, doomed))} (keep a copy if you need it)"
    return (
        "Fine if you chose this copy on purpose; results may differ slightly from the "
        f"official data. To use the official archive, {remedy}: load_cifar10() then "
        "downloads it and checks its sha256."
    )


def _broken_advice(source: Path, data: ModuleType) -> str:
    if os.environ.get(data.PATH_ENV_VAR):
        return f"Point ${data.PATH_ENV_VAR} at a complete copy, or unset it."
    return (
        f"Delete {source}: the loader then extracts or downloads the data again. Or set "
        f"{data.PATH_ENV_VAR} to a good copy of {data.ARCHIVE_NAME}."
    )


def _content_verdict(
    content: cifar_utils.data.ContentCheck,
    source: Path,
    data: ModuleType,
    marker: dict[str, Any] | None,
) -> tuple[Status, str, str]:
    """The dataset check's verdict on a copy that has every batch file (see `_check_dataset`).

    `marker` is the note the loader wrote in its cache folder, None for any other copy.
    """
    if marker is not None:  # the loader's cache: say which archive it came from
        origin = f"all 6 batch files present; extracted from {marker['archive']}"
        if content.content == "official archive":
            return "ok", f"{origin}, whose sha256 matches the official archive", ""
        if content.content == "official content":
            return (
                "ok",
                f"official CIFAR-10 content, extracted folder: {origin}, a repackaged archive "
                "of the official files",
                "",
            )
        what = f"{origin}, whose sha256 ({content.archive_sha256})"
    elif source.is_dir():
        if content.official:
            return (
                "ok",
                "official CIFAR-10 content, extracted folder: its "
                f"{len(data.OFFICIAL_MEMBER_SHA256)} files match the official ones",
                "",
            )
        return (
            "warn",
            "all 6 batch files present, but not the official CIFAR-10 content: "
            f"{_differences(content)}.",
            _not_official_advice(source, data),
        )
    else:
        if content.content == "official archive":
            return "ok", "sha256 matches the official archive", ""
        if content.content == "official content":
            return (
                "ok",
                "official CIFAR-10 content, repackaged archive: its "
                f"{len(data.OFFICIAL_MEMBER_SHA256)} files match the official ones, though the "
                "archive's own sha256 differs",
                "",
            )
        what = f"sha256 ({content.archive_sha256})"
    return (
        "warn",
        f"{what} differs from the official archive's sha256 (a local copy / re-encoded "
        f"mirror?), and not all its files are the official ones: {_differences(content)}.",
        _not_official_advice(source, data),
    )


def _check_dataset() -> list[Check]:
    """Where the dataset will be loaded from, and whether it holds the official files.

    An archive is read in one pass that hashes it and each file in it: its own sha256 is the
    official one ("matches the official archive"), or its eight files are ("official CIFAR-10
    content, repackaged archive"), or a warning names the files that differ or are missing
    (a missing batch file fails: loading would). An extracted folder is judged by its files
    ("official CIFAR-10 content, extracted folder"); the loader's own cache by the note it
    wrote when extracting (from an older loader: by hashing the extracted files).
    """
    from cifar_utils import data

    from_env = os.environ.get(data.PATH_ENV_VAR)
    try:
        source = data.find_cifar10()
    except FileNotFoundError:
        if from_env:
            problem = Check(
                "dataset",
                "fail",
                f"${data.PATH_ENV_VAR} is {from_env!r}, which holds no CIFAR-10 data; loading "
                "fails (nothing is downloaded while it is set).",
                f"Point {data.PATH_ENV_VAR} at {data.ARCHIVE_NAME}, an extracted "
                f"{data.FOLDER_NAME}/ folder or the folder holding either, or unset it to "
                "download the official archive.",
            )
            return [problem, Check("dataset check", "skip", "nothing to verify.")]
        cache = data.default_data_dir()
        ignored = data.ignored_cache_note()
        return [
            Check(
                "dataset",
                "warn",
                f"not found: will download {data.OFFICIAL_URL} (about 163 MiB) into {cache} "
                "on first use.",
                f"Offline? Download {data.ARCHIVE_NAME} elsewhere and set "
                f"{data.PATH_ENV_VAR}=/path/to/{data.ARCHIVE_NAME}.",
            ),
            Check("dataset check", "warn", ignored)
            if ignored
            else Check(
                "dataset check",
                "skip",
                "nothing to verify yet (the download is checked against the official sha256).",
            ),
        ]

    origin = _origin(source, data)
    batch_names = (*data.TRAIN_BATCH_NAMES, data.TEST_BATCH_NAME)
    if source.is_dir():
        found = Check("dataset", "ok", f"extracted folder {source} ({origin})")
        missing = [name for name in batch_names if not (source / name).is_file()]
        if missing:
            detail = f"{source} lacks {', '.join(missing)}: loading fails."
            advice = _broken_advice(source, data)
            return [found, Check("dataset check", "fail", detail, advice)]
        marker = data._read_marker(source)
        if marker is None:
            content = data.compute_content_check(source)
        else:
            content = data._cache_content(source, marker)
    else:
        found = Check("dataset", "ok", f"archive {source}, {_size(source)} ({origin})")
        marker = None
        try:
            content = data.compute_content_check(source)
        except data.CifarDataError as exc:
            advice = _broken_advice(source, data)
            return [found, Check("dataset check", "fail", f"loading fails: {exc}", advice)]
        missing = [name for name in batch_names if name in content.missing]
        if missing:
            detail = f"{source} lacks {', '.join(missing)}: loading fails."
            advice = _broken_advice(source, data)
            return [found, Check("dataset check", "fail", detail, advice)]
    status, detail, advice = _content_verdict(content, source, data, marker)
    return [found, Check("dataset check", status, detail, advice)]


def _existing_parent(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _check_disk() -> Check:
    from cifar_utils import data

    target = data.default_data_dir()
    where = _existing_parent(target)
    usage = shutil.disk_usage(where)
    gib = 2**30
    detail = f"{usage.free / gib:.1f} GiB free of {usage.total / gib:.1f} GiB at {where}"
    if usage.free < MIN_FREE_BYTES:
        return Check(
            "disk space",
            "warn",
            f"only {detail}: the dataset needs about 350 MB (archive and extracted copy), "
            "plus room for trained models.",
            f"Free some space, or set {data.DATA_DIR_ENV_VAR} to a folder on a disk with more "
            "room.",
        )
    return Check("disk space", "ok", detail)


# --------------------------------------------------------------------------------------
# Running and reporting
# --------------------------------------------------------------------------------------


def _guarded(name: str, check: Callable[[], Check | list[Check]]) -> list[Check]:
    """Run one check; an unexpected error becomes a warning instead of a traceback."""
    try:
        result = check()
    except Exception as exc:
        return [
            Check(
                name,
                "warn",
                f"could not be checked ({type(exc).__name__}: {exc}).",
                "Please report this with the output of `python -m cifar_utils.doctor --json`.",
            )
        ]
    return result if isinstance(result, list) else [result]


def run_checks() -> list[Check]:
    """Run every check, in report order.

    Imports TensorFlow and Keras (a few seconds) and hashes the dataset: an archive and each
    file in it in one pass (about 2 s for the 163 MiB archive), or the files of an extracted
    folder (the loader's own cache is judged by the note it wrote when extracting). Nothing
    is downloaded or written.

    Returns:
        The checks: python, tensorflow, keras, cpu, gpu, precision, threads, onednn, graphviz,
        dataset, dataset check, disk space.
    """
    checks = _guarded("python", _check_python)
    tf, tensorflow_check = _check_tensorflow()
    checks.append(tensorflow_check)
    checks += _guarded("keras", _check_keras)
    checks += _guarded("cpu", _check_cpu)
    checks += _guarded("gpu", lambda: _check_gpu(tf))
    checks += _guarded("precision", lambda: _check_precision(tf))
    checks += _guarded("threads", lambda: _check_threads(tf))
    checks += _guarded("onednn", lambda: _check_onednn(tf))
    checks += _guarded("graphviz", _check_graphviz)
    checks += _guarded("dataset", _check_dataset)
    checks += _guarded("disk space", _check_disk)
    return checks


def _summary(checks: Sequence[Check]) -> str:
    failed = [check.name for check in checks if check.status == "fail"]
    if failed:
        return f"{len(failed)} required check(s) failed: {', '.join(failed)}"
    warnings = sum(check.status == "warn" for check in checks)
    if warnings:
        return f"all required checks passed ({warnings} warning(s): see the advice above)"
    return "all required checks passed"


def format_report(checks: Sequence[Check], *, relative_paths: bool = False) -> str:
    """Render checks as an aligned text report, ending with a one-line verdict.

    Args:
        checks: As returned by :func:`run_checks`.
        relative_paths: Write the paths of this machine so that they hold on any machine:
            relative to the project checkout (``.venv/bin/python``,
            ``../shared/cifar10/...``) or to the home folder (``~/...``). The notebooks
            use it, so that their committed outputs show no developer's folders.

    Returns:
        The report: one line per check (``[ok]``, ``[warn]``, ``[FAIL]`` or ``[skip]``, the
        name, what was found), the advice indented under it with ``->``, long lines wrapped
        at 100 characters, then ``all required checks passed`` or ``N required check(s)
        failed: names``. No trailing newline.
    """
    if relative_paths:
        root = Path(__file__).resolve().parent.parent
        home = Path.home()
        checks = [
            dataclasses.replace(
                check,
                detail=files.shorten_paths(check.detail, root, home),
                advice=files.shorten_paths(check.advice, root, home),
            )
            for check in checks
        ]
    tag_width = max(len(tag) for tag in _TAGS.values())
    name_width = max((len(check.name) for check in checks), default=0)
    indent = " " * (tag_width + 1 + name_width + 2)
    lines = []
    for check in checks:
        head = f"{_TAGS[check.status]:<{tag_width}} {check.name:<{name_width}}  "
        lines.append(_wrap(check.detail, head, indent))
        if check.advice:
            lines.append(_wrap(check.advice, indent + "-> ", indent + "   "))
    lines.append(_summary(checks))
    return "\n".join(lines)


def _wrap(text: str, first: str, rest: str) -> str:
    # Keep `commands` on one line, so that they can be copied.
    glued = re.sub(r"`[^`]*`", lambda match: match.group().replace(" ", _GLUE), text)
    wrapped = textwrap.fill(
        glued,
        width=_WIDTH,
        initial_indent=first,
        subsequent_indent=rest,
        break_long_words=False,
        break_on_hyphens=False,
    )
    return wrapped.replace(_GLUE, " ")


def to_json(checks: Sequence[Check]) -> str:
    """Render checks as JSON: ``{"passed": bool, "summary": str, "checks": [...]}``.

    Args:
        checks: As returned by :func:`run_checks`.

    Returns:
        Indented JSON; each check is an object with ``name``, ``status`` (``"ok"``,
        ``"warn"``, ``"fail"`` or ``"skip"``), ``detail`` and ``advice``.
    """
    return json.dumps(
        {
            "passed": not any(check.status == "fail" for check in checks),
            "summary": _summary(checks),
            "checks": [dataclasses.asdict(check) for check in checks],
        },
        indent=2,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the checks and print the report (or JSON) to stdout.

    Args:
        argv: Command-line arguments without the program name; ``None`` reads ``sys.argv``.

    Returns:
        The exit status: 1 if a required check failed, else 0.
    """
    parser = argparse.ArgumentParser(
        prog="python -m cifar_utils.doctor",
        description="Check that this machine can run the CIFAR-10 notebook series.",
    )
    parser.add_argument("--json", action="store_true", help="print the checks as JSON")
    args = parser.parse_args(argv)
    checks = run_checks()
    print(to_json(checks) if args.json else format_report(checks))
    return 1 if any(check.status == "fail" for check in checks) else 0


if __name__ == "__main__":
    # As the Makefile does: keep TensorFlow's C++ start-up chatter out of the report.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # As the notebooks' first cell does: report what the notebooks will get.
    from cifar_utils import training

    training.prefer_onednn()
    sys.exit(main())
