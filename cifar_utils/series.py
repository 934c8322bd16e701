"""Run the numbered notebook series with papermill: ``python -m cifar_utils.series``.

This is the project's main job (``make run``). It finds ``notebooks/NN_*.ipynb`` in order,
injects the parameters of a *profile* and executes each notebook in a ``python3`` kernel:

- ``--profile full`` (the default) runs every notebook with its own defaults and rewrites the
  committed notebook IN PLACE, only once it ran without error, cleaned for git (no papermill
  metadata, kernelspec ``python3``, execution counts and tags kept). Figures and models go
  where the notebooks' defaults say (``figures/<stem>/``, ``models/``).
- ``--profile quick`` (or any run with ``--output-dir``) writes executed copies to
  ``build/quick/`` (or the given folder) and redirects ``FIGURE_DIR`` and ``MODEL_DIR`` there,
  so the committed notebooks, ``figures/`` and ``models/`` are never touched.

Profiles are ``notebooks/profiles/<profile>.yaml``: ``{notebook stem: {PARAMETER: value}}``.
Before anything runs, every parameter of the profile and of ``-p NAME VALUE`` overrides is
checked against the notebook's ``parameters`` cell: the name must exist (papermill itself only
warns about unknown names, and the notebook then silently runs unreduced) and the value must
have the type of the default (``None`` defaults accept any value). A problem exits with status
2 and a message naming the notebook, the parameter and the valid names.

Examples::

    python -m cifar_utils.series                      # full profile, notebooks rewritten
    python -m cifar_utils.series --profile quick      # quick profile into build/quick/
    python -m cifar_utils.series --profile quick --only 02 03 -p EPOCHS 2
    python -m cifar_utils.series --list --profile quick
    python -m cifar_utils.series --prepare-only --profile quick --output-dir build/nbval

``--prepare-only`` injects the parameters but keeps the stored outputs of the full run, which
is what ``pytest --nbval-lax`` compares against (``make test-notebooks``).
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import json
import logging
import os
import re
import shutil
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cifar_utils import files

__all__ = [
    "KERNEL_NAME",
    "PROFILES",
    "NotebookRun",
    "NotebookRunError",
    "check_parameters",
    "clean_notebook",
    "find_notebooks",
    "install_kernel",
    "load_profile",
    "main",
    "plan_series",
    "read_parameters",
    "run_series",
]

#: Profiles shipped in ``notebooks/profiles/``.
PROFILES = ("full", "quick")
#: The kernel every notebook runs in (the committed kernelspec too).
KERNEL_NAME = "python3"
#: File names of the notebooks of the series: two digits, an underscore, a title.
NOTEBOOK_GLOB = "[0-9][0-9]_*.ipynb"
#: Default per-cell time limit in seconds for non-full runs (a full CPU training cell can
#: legitimately take hours, so full runs have none unless ``--cell-timeout`` says so).
QUICK_CELL_TIMEOUT_S = 900

_INJECTED_TAG = "injected-parameters"
_MISSING = object()


class NotebookRunError(RuntimeError):
    """A notebook of the series raised an error (or its kernel died) while it ran.

    Attributes:
        timings: The timings of the notebooks that started, the failed one last.
    """

    def __init__(self, message: str, timings: Sequence[Mapping[str, Any]] = ()) -> None:
        super().__init__(message)
        self.timings = [dict(t) for t in timings]


@dataclass
class NotebookRun:
    """One notebook of a planned run.

    Attributes:
        notebook: The committed notebook, ``notebooks/NN_name.ipynb``.
        output: Where the executed (or prepared) notebook is written. For an in-place full
            run this is the committed notebook itself, replaced only on success.
        parameters: The values papermill injects after the ``parameters`` cell (may be empty).
        cwd: Working directory of the kernel (the notebooks folder, so relative paths in the
            notebooks resolve the same way in every profile).
        in_place: Whether the committed notebook is rewritten.
        env: Extra environment variables for the kernel.
    """

    notebook: Path
    output: Path
    parameters: dict[str, Any]
    cwd: Path
    in_place: bool
    env: dict[str, str] = field(default_factory=dict)

    @property
    def stem(self) -> str:
        """The notebook's file name without ``.ipynb``, e.g. ``"02_baseline_cnn"``."""
        return self.notebook.stem


# --------------------------------------------------------------------------- discovery


def find_notebooks(notebook_dir: str | Path) -> list[Path]:
    """Return the series' notebooks, ``NN_*.ipynb``, sorted by file name.

    Args:
        notebook_dir: The folder holding the notebooks (``notebooks/``).

    Returns:
        Paths of the notebooks in run order; empty if there are none yet.

    Raises:
        FileNotFoundError: If ``notebook_dir`` is not a folder.
    """
    notebook_dir = Path(notebook_dir)
    if not notebook_dir.is_dir():
        raise FileNotFoundError(
            f"notebook folder {notebook_dir} not found: run from the project root "
            "or pass --notebooks-dir"
        )
    return sorted(notebook_dir.glob(NOTEBOOK_GLOB))


def load_profile(profile: str, notebook_dir: str | Path) -> dict[str, dict[str, Any]]:
    """Read ``<notebook_dir>/profiles/<profile>.yaml``.

    Args:
        profile: Profile name, e.g. ``"quick"``.
        notebook_dir: The folder holding the notebooks and ``profiles/``.

    Returns:
        ``{notebook stem: {PARAMETER: value}}``; a notebook listed with no values maps to
        an empty dict.

    Raises:
        FileNotFoundError: If the profile file does not exist.
        ValueError: If the file is not a mapping of notebook stems to mappings.
    """
    import yaml

    path = Path(notebook_dir) / "profiles" / f"{profile}.yaml"
    if not path.is_file():
        available = sorted(p.stem for p in path.parent.glob("*.yaml"))
        raise FileNotFoundError(
            f"profile file {path} not found (profiles there: {available or 'none'})"
        )
    content = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(content, dict):
        raise ValueError(f"{path}: expected a mapping of notebook stems to parameters")
    profile_values: dict[str, dict[str, Any]] = {}
    for stem, values in content.items():
        values = {} if values is None else values
        if not isinstance(values, dict) or not all(isinstance(k, str) for k in values):
            raise ValueError(
                f"{path}: the entry of {stem!r} must map parameter names to values, got {values!r}"
            )
        profile_values[str(stem)] = dict(values)
    return profile_values


def read_parameters(notebook: str | Path) -> dict[str, Any]:
    """Return the parameters of a notebook and their default values.

    The ``parameters`` cell is parsed with :mod:`ast`: every ``NAME = value`` statement is
    a parameter, its value read with ``ast.literal_eval`` (a default that is not a literal
    is returned as ``None``: any type accepted). ``papermill.inspect_notebook`` is not used
    because it skips every line holding a second ``=``, comments included (papermill 2.7
    ``PythonTranslator.inspect``), so ``DATA_PATH = ""  # "" = $CIFAR10_PATH`` would look
    unknown.

    Args:
        notebook: Path of the ``.ipynb`` file.

    Returns:
        ``{name: default}`` in the order of the ``parameters`` cell; empty if the notebook
        has no cell tagged ``parameters``.

    Raises:
        FileNotFoundError: If the notebook does not exist.
        ValueError: If the ``parameters`` cell is not valid Python.
    """
    import nbformat

    notebook = Path(notebook)
    if not notebook.is_file():
        raise FileNotFoundError(f"notebook {notebook} not found")
    nb = nbformat.read(notebook, as_version=4)
    for cell in nb.cells:
        if "parameters" in cell.get("metadata", {}).get("tags", []):
            try:
                return _literal_assignments(cell.source)
            except SyntaxError as error:
                raise ValueError(
                    f"{notebook.name}: the parameters cell is not valid Python ({error})"
                ) from error
    return {}


def _literal_assignments(source: str) -> dict[str, Any]:
    """``{name: value}`` of the ``NAME = value`` statements of a cell (others skipped)."""
    tree = ast.parse(source)
    values: dict[str, Any] = {}
    for statement in tree.body:
        if (
            isinstance(statement, ast.Assign)
            and len(statement.targets) == 1
            and isinstance(statement.targets[0], ast.Name)
        ):
            try:
                values[statement.targets[0].id] = ast.literal_eval(statement.value)
            except ValueError:
                values[statement.targets[0].id] = None
    return values


# --------------------------------------------------------------------------- validation


def _type_name(value: Any) -> str:
    return "None" if value is None else type(value).__name__


def check_parameters(
    stem: str, values: Mapping[str, Any], defaults: Mapping[str, Any], *, source: str
) -> list[str]:
    """Check names and types of parameters against a notebook's ``parameters`` cell.

    Args:
        stem: Notebook name, for the messages.
        values: The values to inject, ``{name: value}``.
        defaults: The notebook's parameters, as returned by :func:`read_parameters`.
        source: Where the values come from, for the messages (``"profiles/quick.yaml"``).

    Returns:
        One message per problem; empty if every name exists and every value has the type
        of its default (``bool``, ``int``, ``float`` and ``str`` are all distinct; a
        ``None`` default accepts anything, an ``"auto"`` default also ``True``/``False``).
    """
    problems = []
    valid = ", ".join(defaults) or "none: the notebook has no cell tagged 'parameters'"
    for name, value in values.items():
        default = defaults.get(name, _MISSING)
        if default is _MISSING:
            problems.append(
                f"{stem}: unknown parameter {name!r} (from {source}); valid names: {valid}"
            )
        elif default == "auto" and isinstance(value, bool):
            pass  # "auto" parameters (XLA) also take True or False
        elif default is not None and type(value) is not type(default):
            hint = " (write 1.0, not 1)" if isinstance(default, float) else ""
            problems.append(
                f"{stem}: parameter {name} = {value!r} (from {source}) is "
                f"{_type_name(value)}, but its default {default!r} is "
                f"{_type_name(default)}{hint}"
            )
    return problems


def _parse_value(text: str) -> Any:
    """Parse a ``-p NAME VALUE`` value like YAML: ``3`` int, ``0.1`` float, ``true`` bool."""
    import yaml

    if text in ("None", "none"):
        return None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


# --------------------------------------------------------------------------- planning


def plan_series(
    notebook_dir: str | Path,
    profile: str = "full",
    *,
    output_dir: str | Path | None = None,
    only: Sequence[str] = (),
    overrides: Sequence[tuple[str, Any]] = (),
    data_path: str | Path | None = None,
    prepare_only: bool = False,
) -> list[NotebookRun]:
    """Check everything and decide what to run; nothing is executed or written.

    Args:
        notebook_dir: The folder holding ``NN_*.ipynb`` and ``profiles/``.
        profile: Profile name (``"full"`` or ``"quick"``).
        output_dir: Where executed copies go. ``None`` means in place for the full profile
            and ``build/<profile>/`` (next to ``notebook_dir``) for the others.
        only: Notebooks to run, by number (``"02"``) or stem; empty runs all of them.
        overrides: ``(NAME, value)`` pairs applied to every selected notebook, or
            ``("NN:NAME", value)`` / ``("stem:NAME", value)`` for one notebook.
        data_path: CIFAR-10 archive or folder for ``DATA_PATH``. In place it is passed to
            the kernels as ``$CIFAR10_PATH`` instead, so no local path lands in git.
        prepare_only: Only inject parameters (outputs kept); needs an output folder.

    Returns:
        The notebooks to run, in order.

    Raises:
        FileNotFoundError: If the notebook folder, the profile or ``data_path`` is missing.
        ValueError: If a notebook, parameter name or value is invalid; the message lists
            every problem found.
    """
    notebook_dir = Path(notebook_dir).resolve()
    notebooks = find_notebooks(notebook_dir)
    if not notebooks:
        raise FileNotFoundError(f"no notebooks matching {NOTEBOOK_GLOB} in {notebook_dir}")
    profile_values = load_profile(profile, notebook_dir)
    selected = _select(notebooks, only)

    in_place = output_dir is None and profile == "full"
    if in_place and prepare_only:
        raise ValueError("--prepare-only needs --output-dir (it never rewrites notebooks/)")
    # Where copies go when not in place (unused in place).
    out = Path(output_dir or notebook_dir.parent / "build" / profile).resolve()
    if not in_place and out == notebook_dir:
        raise ValueError(f"--output-dir must not be the notebook folder {notebook_dir}")
    if data_path is not None:
        data_path = Path(data_path).resolve()
        if not data_path.exists():
            raise FileNotFoundError(
                f"--data-path {data_path} does not exist: pass the CIFAR-10 archive "
                "cifar-10-python.tar.gz or its extracted cifar-10-batches-py/ folder"
            )

    stems = {nb.stem for nb in notebooks}
    scoped_overrides: list[tuple[str | None, str, Any]] = []
    problems: list[str] = []
    for key, value in overrides:
        scope, _, name = key.rpartition(":")
        if scope:
            matches = [s for s in stems if s == scope or s.split("_", 1)[0] == scope]
            if len(matches) != 1:
                problems.append(f"-p {key}: no notebook {scope!r} (notebooks: {sorted(stems)})")
                continue
            scope = matches[0]
        scoped_overrides.append((scope or None, name, value))

    runs = []
    profile_file = f"profiles/{profile}.yaml"
    for notebook in selected:
        stem = notebook.stem
        defaults = read_parameters(notebook)
        if stem not in profile_values:
            problems.append(
                f"{stem}: no entry in {profile_file}; add '{stem}:' with its values "
                "(an empty entry '{}' runs the notebook with its defaults)"
            )
            continue
        values = dict(profile_values[stem])
        problems += check_parameters(stem, values, defaults, source=profile_file)
        user = {n: v for scope, n, v in scoped_overrides if scope in (None, stem)}
        problems += check_parameters(stem, user, defaults, source="-p")
        if data_path is not None:
            problems += check_parameters(
                stem, {"DATA_PATH": str(data_path)}, defaults, source="--data-path"
            )

        if in_place:
            changed = {
                n: v
                for n, v in {**values, **user}.items()
                if n in defaults and (type(v) is not type(defaults[n]) or v != defaults[n])
            }
            for name, value in changed.items():
                problems.append(
                    f"{stem}: a full run in place must use the notebook's defaults, but "
                    f"{name} = {value!r} differs from the parameters cell "
                    f"({name} = {defaults[name]!r}); fix {profile_file} or the parameters "
                    "cell, or run with --output-dir DIR to try other values"
                )
            env = {"CIFAR10_PATH": str(data_path)} if data_path is not None else {}
            # The committed run writes the committed figures (FIGURE_DIR = "" resolves there).
            env[files.FIGURE_DIR_ENV_VAR] = str(notebook_dir.parent / "figures")
            runs.append(NotebookRun(notebook, notebook, {}, notebook_dir, True, env))
            continue

        parameters = values
        if data_path is not None:
            parameters["DATA_PATH"] = str(data_path)
        # Keep figures/ and models/ of the project untouched.
        redirect = {
            "FIGURE_DIR": str(out / "figures" / stem),
            "MODEL_DIR": str(out / "models"),
        }
        parameters.update({n: v for n, v in redirect.items() if n in defaults})
        parameters.update(user)
        runs.append(NotebookRun(notebook, out / notebook.name, parameters, notebook_dir, False))

    if problems:
        raise ValueError("\n".join(problems))
    return runs


def _select(notebooks: list[Path], only: Sequence[str]) -> list[Path]:
    if not only:
        return notebooks
    selected = []
    for key in only:
        key = key.removesuffix(".ipynb")
        matches = [nb for nb in notebooks if nb.stem == key or nb.stem.split("_", 1)[0] == key]
        if not matches:
            names = ", ".join(nb.stem for nb in notebooks)
            raise ValueError(f"--only {key}: no such notebook (notebooks: {names})")
        selected += [nb for nb in matches if nb not in selected]
    return sorted(selected)


# --------------------------------------------------------------------------- cleaning


_NOISE_LINE = re.compile(
    r"^(?:WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|[IWE]\d{4} [\d:.]+\s+\d+ \S+\] .*"  # TensorFlow's C++ (absl) log lines
    r"|\[IPKernelApp\] WARNING \| .*"  # the kernel's start-up warning
    r"|To enable the following instructions: .*|This TensorFlow binary is optimized .*)$"
)


def _strip_noise(text: str) -> str:
    lines = text.splitlines(keepends=True)
    return "".join(line for line in lines if not _NOISE_LINE.match(line.rstrip("\n")))


def clean_notebook(nb: Any) -> Any:
    """Clean an executed notebook for git, in place, and return it.

    Removes ``metadata.papermill``, ``metadata.widgets``, the cells'
    ``metadata.papermill`` / ``metadata.execution`` and empty tag lists, and sets the kernelspec to
    ``python3`` ("Python 3"). Drops the lines TensorFlow's C++ runtime and the kernel print
    to stderr at start-up (CUDA probing, CPU-feature notes: noise for a reader) and stderr
    outputs left empty by that. Execution counts, tags and every other output, figures
    included, are kept (nbval needs the counts, papermill the ``parameters`` tag, and a
    reader on the web sees the figures without running anything).

    Args:
        nb: An ``nbformat.NotebookNode`` (or a plain dict with the same layout).

    Returns:
        The same notebook object.
    """
    metadata = nb.setdefault("metadata", {})
    metadata.pop("papermill", None)
    metadata.pop("widgets", None)
    metadata["kernelspec"] = {"name": KERNEL_NAME, "display_name": "Python 3", "language": "python"}
    for cell in nb.get("cells", []):
        cell_metadata = cell.get("metadata", {})
        cell_metadata.pop("papermill", None)
        cell_metadata.pop("execution", None)
        if cell_metadata.get("tags") == []:  # papermill adds empty tag lists everywhere
            del cell_metadata["tags"]
        outputs = []
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stderr":
                text = output.get("text", "")
                text = _strip_noise("".join(text) if isinstance(text, list) else text)
                if not text.strip():
                    continue
                output["text"] = text
            outputs.append(output)
        if "outputs" in cell:
            cell["outputs"] = outputs
    return nb


# --------------------------------------------------------------------------- running


def run_series(
    runs: Sequence[NotebookRun],
    *,
    profile: str = "full",
    build_dir: str | Path = "build",
    prepare_only: bool = False,
    cell_timeout: float | None = None,
    log_output: bool = True,
) -> list[dict[str, Any]]:
    """Execute (or only prepare) planned notebooks in order, stopping at the first failure.

    Prints ``[i/n] stem (profile) ...`` before each notebook and its wall time after it;
    with ``log_output`` the notebooks' printed output (e.g. epoch lines) streams as it runs.

    Args:
        runs: The plan from :func:`plan_series`.
        profile: Profile name, for the progress lines.
        build_dir: Project build folder: in-place runs execute into ``<build_dir>/full/``
            and a failed notebook is kept in ``<build_dir>/failed/``.
        prepare_only: Inject parameters only, keeping the stored outputs.
        cell_timeout: Seconds one cell may run; ``None`` for no limit.
        log_output: Stream the notebooks' output.

    Returns:
        One ``{"notebook", "seconds", "status"}`` dict per notebook that started.

    Raises:
        NotebookRunError: If a notebook fails; the message names the notebook, the cell and
            the error, and where the partially-run notebook was kept.
    """
    import nbformat
    import papermill

    build_dir = Path(build_dir)
    timings: list[dict[str, Any]] = []
    for index, run in enumerate(runs, start=1):
        print(f"[{index}/{len(runs)}] {run.stem} ({profile}) ...", flush=True)
        if run.parameters:
            shown = ", ".join(f"{k}={v!r}" for k, v in run.parameters.items())
            print(f"    parameters: {shown}", flush=True)
        start = time.perf_counter()
        run.output.parent.mkdir(parents=True, exist_ok=True)
        if prepare_only:
            papermill.execute_notebook(
                str(run.notebook),
                str(run.output),
                parameters=run.parameters,
                prepare_only=True,
                kernel_name=KERNEL_NAME,
                progress_bar=False,
            )
            _add_chdir(run.output, run.cwd)
            print(f"    prepared -> {run.output}", flush=True)
            continue

        target = build_dir / "full" / run.notebook.name if run.in_place else run.output
        target.parent.mkdir(parents=True, exist_ok=True)
        timing = {"notebook": run.stem, "seconds": None, "status": "failed"}
        timings.append(timing)
        try:
            log_level = os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")
            inherited = _absolute_dataset_variables()
            progress = {files.PROGRESS_ENV_VAR: "lines"}  # epochs as lines in the log
            with _environment(
                {"TF_CPP_MIN_LOG_LEVEL": log_level, **progress, **inherited, **run.env}
            ):
                papermill.execute_notebook(
                    str(run.notebook),
                    str(target),
                    parameters=run.parameters or None,
                    kernel_name=KERNEL_NAME,
                    cwd=str(run.cwd),
                    progress_bar=False,
                    log_output=log_output,
                    start_timeout=120,
                    execution_timeout=cell_timeout,
                    coalesce_streams=True,
                )
        except Exception as error:
            timing["seconds"] = round(time.perf_counter() - start, 1)
            kept = target
            if run.in_place and target.exists():
                kept = build_dir / "failed" / run.notebook.name
                kept.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(str(target), kept)
            raise NotebookRunError(_failure_message(run, error, kept), timings) from error

        if run.in_place:
            nb = clean_notebook(nbformat.read(target, as_version=4))
            _write_atomically(nb, run.notebook)
            target.unlink()
        timing["seconds"] = round(time.perf_counter() - start, 1)
        timing["status"] = "ok"
        where = "in place" if run.in_place else f"-> {run.output}"
        print(f"    done in {timing['seconds']:.1f} s ({where})", flush=True)
    return timings


def _failure_message(run: NotebookRun, error: Exception, kept: Path) -> str:
    from papermill.exceptions import PapermillExecutionError

    if isinstance(error, PapermillExecutionError):
        lines = [line for line in (error.source or "").splitlines() if line.strip()]
        excerpt = "\n".join(f"        {line}" for line in lines[:3])
        if len(lines) > 3:
            excerpt += "\n        ..."
        what = f"{error.ename}: {error.evalue}".rstrip(": ")
        message = (
            f"{run.stem} failed in code cell In [{error.exec_count}] "
            f"(cell {error.cell_index + 1} of the executed notebook):\n"
            f"{excerpt}\n    {what}"
        )
    else:
        message = f"{run.stem} failed: {type(error).__name__}: {error}".rstrip()
        if type(error).__name__ == "CellTimeoutError":
            message += "\n    (a longer limit: --cell-timeout SECONDS, 0 for none)"
    kept_note = f"\n    the partially-run notebook is in {kept}" if kept.exists() else ""
    untouched = f"; {run.notebook.name} was left untouched" if run.in_place else ""
    return message + kept_note + untouched


def _write_atomically(nb: Any, destination: Path) -> None:
    """Write a notebook next to ``destination`` and move it over it in one step."""
    import nbformat

    with files.atomic_path(destination) as temporary:
        nbformat.write(nb, temporary)


def _add_chdir(prepared: Path, cwd: Path) -> None:
    """Make a prepared notebook run from ``cwd`` wherever it lies (nbval runs a notebook
    in its own folder; ``make run`` runs them from notebooks/)."""
    import nbformat

    if prepared.parent.resolve() == cwd.resolve():
        return
    nb = nbformat.read(prepared, as_version=4)
    code = (
        "# Added by cifar_utils.series: run from notebooks/, as `make run` does.\n"
        f"import os\n\nos.chdir({str(cwd)!r})"
    )
    tags = [cell.metadata.get("tags", []) for cell in nb.cells]
    injected = [i for i, cell_tags in enumerate(tags) if _INJECTED_TAG in cell_tags]
    if injected:
        cell = nb.cells[injected[0]]
        cell.source = cell.source.rstrip("\n") + "\n" + code
    else:  # nothing injected: add the cell where papermill would have put one
        parameters = [i for i, cell_tags in enumerate(tags) if "parameters" in cell_tags]
        cell = nbformat.v4.new_code_cell(code)
        cell.metadata["tags"] = [_INJECTED_TAG]
        nb.cells.insert(parameters[0] + 1 if parameters else 0, cell)
    nbformat.write(nb, prepared)


# The loader's variables (cifar_utils.data.PATH_ENV_VAR and DATA_DIR_ENV_VAR), named here
# so that planning a run does not import TensorFlow.
_DATASET_VARIABLES = ("CIFAR10_PATH", "CIFAR10_DATA_DIR")


def _absolute_dataset_variables() -> dict[str, str]:
    """The dataset variables whose value is a relative path, made absolute.

    The kernels run in notebooks/, so ``CIFAR10_PATH=data/x.tar.gz make run`` would
    otherwise look for notebooks/data/x.tar.gz; relative to where the runner was started
    is what the user meant.
    """
    values = {}
    for name in _DATASET_VARIABLES:
        value = os.environ.get(name, "")
        if value and not Path(value).expanduser().is_absolute():
            values[name] = str(Path(value).resolve())
    return values


@contextlib.contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables (inherited by the kernels) and restore them afterwards."""
    saved = {name: os.environ.get(name) for name in values}
    try:
        os.environ.update(values)
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class _NotebookOutputHandler(logging.Handler):
    """Print papermill's log of the notebooks' output, indented, without its chatter."""

    _chatter = (
        # papermill's own parameter check: it cannot parse lines with "=" in a comment,
        # and the names were already checked by plan_series.
        "Passed unknown parameter",
        "Unable to parse line",
        "Input Notebook",
        "Output Notebook",
        "Working directory",
        "Executing notebook with kernel",
        "Executing Cell",
        "Ending Cell",
    )

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith(self._chatter) or not message.strip():
            return
        if message.startswith("<Figure size"):  # the text of a figure shown inline
            return
        text = "".join(f"    {line}\n" for line in message.rstrip("\n").splitlines())
        sys.stdout.write(text)
        sys.stdout.flush()


# --------------------------------------------------------------------------- the kernel

#: Kernel option that keeps output written straight to the process's file descriptors (C
#: and C++ libraries) out of the notebook: TensorFlow's start-up messages ("All log messages
#: before absl::InitializeLog() ...", "Could not find cuda drivers ...") are written by
#: absl before TF_CPP_MIN_LOG_LEVEL is read (TensorFlow 2.19 to 2.21 at least), and would
#: show as red boxes under the first import in every notebook. They go to the terminal
#: that started JupyterLab instead. Python's own warnings and errors still show.
KERNEL_OPTIONS = ("--IPKernelApp.capture_fd_output=False",)


def install_kernel(prefix: str | os.PathLike[str] | None = None) -> Path:
    """Register the ``python3`` kernel of this environment, as the notebooks name it.

    One kernel for the environment (JupyterLab's launcher shows one tile), running this
    interpreter, with :data:`KERNEL_OPTIONS`. ``make setup`` calls it.

    Args:
        prefix: Environment to install into (default: ``sys.prefix``, the virtualenv).

    Returns:
        The folder of the kernel spec (holding ``kernel.json``).
    """
    from ipykernel import kernelspec

    folder = Path(
        kernelspec.install(
            kernel_name=KERNEL_NAME,
            display_name="Python 3",
            prefix=str(prefix) if prefix is not None else sys.prefix,
        )
    )
    spec_path = folder / "kernel.json"
    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    argv = [arg for arg in spec["argv"] if arg not in KERNEL_OPTIONS]
    spec["argv"] = argv[:-2] + list(KERNEL_OPTIONS) + argv[-2:]  # before "-f {connection_file}"
    with files.atomic_path(spec_path) as temporary:
        temporary.write_text(json.dumps(spec, indent=1) + "\n", encoding="utf-8")
    return folder


# --------------------------------------------------------------------------- command line


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m cifar_utils.series",
        description=(
            "Run the notebook series with papermill. The full profile rewrites the "
            "committed notebooks in place (only when they run without error); other "
            "profiles, or --output-dir, write copies and leave notebooks/, figures/ and "
            "models/ untouched."
        ),
    )
    parser.add_argument(
        "--profile",
        choices=PROFILES,
        default="full",
        help="parameter profile from notebooks/profiles/<profile>.yaml (default: full)",
    )
    parser.add_argument(
        "--output-dir",
        help="write executed notebooks here (default: in place for full, build/<profile>/ "
        "otherwise); FIGURE_DIR and MODEL_DIR are redirected into it",
    )
    parser.add_argument(
        "--only", nargs="+", default=[], metavar="NN", help="run only these notebooks (01 03)"
    )
    parser.add_argument(
        "-p",
        "--param",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="override a parameter (value parsed like YAML: 3, 0.1, true, null, text); "
        "NAME applies to every selected notebook, NN:NAME to one",
    )
    parser.add_argument(
        "-r",
        "--raw-param",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="like -p but VALUE is always a string",
    )
    parser.add_argument(
        "--data-path",
        help="CIFAR-10 archive or folder: sets DATA_PATH (in place: $CIFAR10_PATH for the "
        "kernels, so no local path is committed)",
    )
    parser.add_argument(
        "--prepare-only",
        action="store_true",
        help="only inject parameters, keeping the stored outputs (for nbval)",
    )
    parser.add_argument(
        "--list", action="store_true", help="check everything, print the plan and exit"
    )
    parser.add_argument(
        "--cell-timeout",
        type=float,
        default=None,
        metavar="SECONDS",
        help=f"time limit per cell, 0 for none (default: none for full, "
        f"{QUICK_CELL_TIMEOUT_S} otherwise)",
    )
    parser.add_argument(
        "--notebooks-dir",
        default="notebooks",
        help="folder holding NN_*.ipynb and profiles/ (default: notebooks)",
    )
    parser.add_argument("--quiet", action="store_true", help="do not stream the notebooks' output")
    parser.add_argument(
        "--install-kernel",
        action="store_true",
        help="register this environment's python3 kernel for the notebooks (make setup does) "
        "and exit",
    )
    return parser.parse_args(argv)


def _print_plan(runs: Sequence[NotebookRun], profile: str) -> None:
    for index, run in enumerate(runs, start=1):
        where = f"in place ({run.notebook})" if run.in_place else str(run.output)
        print(f"[{index}/{len(runs)}] {run.stem} ({profile}) -> {where}")
        for name, value in run.parameters.items():
            print(f"      {name} = {value!r}")
        for name, value in run.env.items():
            print(f"      ${name} = {value}")


def _print_timings(timings: Sequence[Mapping[str, Any]], path: Path) -> None:
    if not timings:
        return
    width = max(len("notebook"), *(len(t["notebook"]) for t in timings))
    print(f"\n{'notebook':<{width}}  {'seconds':>9}  status")
    for timing in timings:
        seconds = "-" if timing["seconds"] is None else f"{timing['seconds']:.1f}"
        print(f"{timing['notebook']:<{width}}  {seconds:>9}  {timing['status']}")
    total = sum(t["seconds"] or 0 for t in timings)
    print(f"{'total':<{width}}  {total:>9.1f}")
    print(f"(timings written to {path})")


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status.

    0: success; 1: a notebook failed (the committed notebook is untouched); 2: bad options,
    profile or parameters (nothing ran).
    """
    args = _parse_args(argv)
    if args.install_kernel:
        print(f"installed the kernel {KERNEL_NAME!r} in {install_kernel()}")
        return 0
    overrides = [(name, _parse_value(value)) for name, value in args.param]
    overrides += [(name, value) for name, value in args.raw_param]
    notebook_dir = Path(args.notebooks_dir).resolve()
    try:
        runs = plan_series(
            notebook_dir,
            args.profile,
            output_dir=args.output_dir,
            only=args.only,
            overrides=overrides,
            data_path=args.data_path,
            prepare_only=args.prepare_only,
        )
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}\nnothing was run.", file=sys.stderr)
        return 2

    if args.list:
        _print_plan(runs, args.profile)
        return 0

    in_place = runs[0].in_place
    cell_timeout = args.cell_timeout
    if cell_timeout is None:
        # By profile, not by destination: a full run into another folder trains as long.
        cell_timeout = None if args.profile == "full" else QUICK_CELL_TIMEOUT_S
    build_dir = notebook_dir.parent / "build"
    out_dir = build_dir / "full" if in_place else runs[0].output.parent

    logger = logging.getLogger("papermill")
    handler = _NotebookOutputHandler()
    saved_level, saved_propagate = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    timings: list[dict[str, Any]] = []
    status = 0
    try:
        timings = run_series(
            runs,
            profile=args.profile,
            build_dir=build_dir,
            prepare_only=args.prepare_only,
            cell_timeout=cell_timeout or None,
            log_output=not args.quiet,
        )
    except NotebookRunError as error:
        print(f"\nerror: {error}", file=sys.stderr)
        timings = error.timings
        status = 1
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved_level)
        logger.propagate = saved_propagate

    if not args.prepare_only:
        path = out_dir / "timings.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        report = {
            "profile": args.profile,
            "status": "ok" if status == 0 else "failed",
            "total_seconds": round(sum(t["seconds"] or 0 for t in timings), 1),
            "notebooks": timings,
        }
        path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        _print_timings(timings, path)
    return status


if __name__ == "__main__":
    sys.exit(main())
