"""Tests for cifar_utils.series, the papermill runner behind `make run`.

Most tests build tiny fixture notebooks in tmp_path (a parameters cell plus cells that
write files or raise) and call `series.main([...])` on them. The ones that execute a
notebook start a real `python3` kernel (no TensorFlow), a few seconds each.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from xml.etree import ElementTree

import nbformat
import pytest
import yaml

from cifar_utils import series

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
REAL_NOTEBOOKS = sorted(NOTEBOOK_DIR.glob(series.NOTEBOOK_GLOB))

PARAMETERS = textwrap.dedent(
    """\
    SEED = 42  # seeds everything
    EPOCHS = 10  # training epochs
    LEARNING_RATE = 0.1  # step size
    NAME = "model"  # a name
    AUGMENT = False  # a switch
    TRAIN_SIZE = None  # None = all
    FIGURE_DIR = "../figures/{stem}"  # where figures go
    MODEL_DIR = "../models"  # where models go
    DATA_PATH = ""  # data
    """
)

# Writes the parameters it ran with under FIGURE_DIR and reads a file relative to the
# working directory (as notebook 04 reads photos/), so the tests see what happened where.
BODY = textwrap.dedent(
    """\
    import json
    from pathlib import Path

    Path(FIGURE_DIR).mkdir(parents=True, exist_ok=True)
    Path(MODEL_DIR).mkdir(parents=True, exist_ok=True)
    ran = {"EPOCHS": EPOCHS, "LEARNING_RATE": LEARNING_RATE, "NAME": NAME,
           "DATA_PATH": DATA_PATH, "photo": Path("photos/cat.txt").read_text()}
    (Path(FIGURE_DIR) / "ran.json").write_text(json.dumps(ran))
    (Path(MODEL_DIR) / "model.txt").write_text(NAME)
    print("epochs:", EPOCHS)
    print("done")
    """
)


def make_notebook(stem: str, *, body: str = BODY, parameters: str = PARAMETERS):
    """A small series notebook: title, parameters cell (tagged), body cell."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    title = nbformat.v4.new_markdown_cell(f"# {stem}")
    params = nbformat.v4.new_code_cell(parameters.format(stem=stem))
    params.metadata["tags"] = ["parameters"]
    nb.cells = [title, params, nbformat.v4.new_code_cell(body)]
    return nb


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project folder with notebooks/01_first, 02_second, profiles and a photo."""
    notebooks = tmp_path / "notebooks"
    (notebooks / "profiles").mkdir(parents=True)
    (notebooks / "photos").mkdir()
    (notebooks / "photos" / "cat.txt").write_text("meow")
    for stem in ("01_first", "02_second"):
        nbformat.write(make_notebook(stem), notebooks / f"{stem}.ipynb")
    full = {
        stem: {
            "SEED": 42,
            "EPOCHS": 10,
            "LEARNING_RATE": 0.1,
            "NAME": "model",
            "AUGMENT": False,
            "TRAIN_SIZE": None,
            "FIGURE_DIR": f"../figures/{stem}",
            "MODEL_DIR": "../models",
            "DATA_PATH": "",
        }
        for stem in ("01_first", "02_second")
    }
    quick = {"01_first": {"EPOCHS": 1}, "02_second": {"EPOCHS": 2, "TRAIN_SIZE": 100}}
    write_profiles(notebooks, full=full, quick=quick)
    return tmp_path


def write_profiles(notebooks: Path, **profiles: dict) -> None:
    for name, content in profiles.items():
        (notebooks / "profiles" / f"{name}.yaml").write_text(yaml.safe_dump(content))


def run_main(project: Path, *args: str) -> int:
    return series.main(["--notebooks-dir", str(project / "notebooks"), "--quiet", *args])


def snapshot(*folders: Path) -> dict[str, bytes]:
    """Every file under the folders, with its content."""
    return {
        str(path): path.read_bytes()
        for folder in folders
        if folder.exists()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


# --------------------------------------------------------------------------- validation


def test_unknown_parameter_is_rejected_before_any_notebook_runs(project, capsys):
    write_profiles(
        project / "notebooks",
        quick={"01_first": {"EPOCHS": 1}, "02_second": {"EPOCS": 1}},
    )
    before = snapshot(project)

    status = run_main(project, "--profile", "quick")

    assert status == 2
    message = capsys.readouterr().err
    assert "02_second" in message
    assert "'EPOCS'" in message
    assert "valid names: SEED, EPOCHS, LEARNING_RATE" in message
    assert "nothing was run" in message
    # Not even 01_first (which is valid and comes first) ran: no file appeared anywhere.
    assert snapshot(project) == before


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("EPOCHS", 1.5, "is float, but its default 10 is int"),
        ("EPOCHS", True, "is bool, but its default 10 is int"),
        ("LEARNING_RATE", 1, "is int, but its default 0.1 is float (write 1.0, not 1)"),
        ("NAME", 3, "is int, but its default 'model' is str"),
        ("AUGMENT", "yes", "is str, but its default False is bool"),
    ],
)
def test_value_of_the_wrong_type_is_rejected(project, capsys, name, value, expected):
    write_profiles(project / "notebooks", quick={"01_first": {name: value}, "02_second": {}})

    assert run_main(project, "--profile", "quick") == 2

    message = capsys.readouterr().err
    assert f"01_first: parameter {name} = {value!r} (from profiles/quick.yaml) {expected}" in (
        message
    )
    assert not (project / "build").exists()


def test_none_default_accepts_any_type(project):
    write_profiles(
        project / "notebooks",
        quick={"01_first": {"TRAIN_SIZE": 500}, "02_second": {"TRAIN_SIZE": "half"}},
    )
    runs = series.plan_series(project / "notebooks", "quick")
    assert [run.parameters["TRAIN_SIZE"] for run in runs] == [500, "half"]


def test_command_line_overrides_are_checked_and_parsed(project, capsys):
    assert run_main(project, "--profile", "quick", "--list", "-p", "EPOCHS", "3") == 0
    assert capsys.readouterr().out.count("EPOCHS = 3") == 2

    assert run_main(project, "--profile", "quick", "--list", "-p", "02:EPOCHS", "4") == 0
    plan = capsys.readouterr().out
    assert "EPOCHS = 1" in plan  # 01_first keeps its profile value
    assert "EPOCHS = 4" in plan

    assert run_main(project, "--profile", "quick", "--list", "-r", "NAME", "7") == 0
    assert "NAME = '7'" in capsys.readouterr().out

    assert run_main(project, "--profile", "quick", "-p", "EPOCHS", "three") == 2
    assert "parameter EPOCHS = 'three' (from -p) is str" in capsys.readouterr().err

    assert run_main(project, "--profile", "quick", "-p", "BATCH", "3") == 2
    assert "unknown parameter 'BATCH' (from -p)" in capsys.readouterr().err


def test_notebook_missing_from_the_profile_is_rejected(project, capsys):
    write_profiles(project / "notebooks", quick={"01_first": {"EPOCHS": 1}})
    assert run_main(project, "--profile", "quick") == 2
    assert "02_second: no entry in profiles/quick.yaml" in capsys.readouterr().err


def test_only_selects_notebooks_and_rejects_unknown_ones(project, capsys):
    runs = series.plan_series(project / "notebooks", "quick", only=["02"])
    assert [run.stem for run in runs] == ["02_second"]

    assert run_main(project, "--profile", "quick", "--only", "07") == 2
    assert "--only 07: no such notebook (notebooks: 01_first, 02_second)" in (
        capsys.readouterr().err
    )


def test_full_profile_in_place_must_equal_the_defaults(project, capsys):
    write_profiles(project / "notebooks", full={"01_first": {"EPOCHS": 3}, "02_second": {}})
    assert run_main(project) == 2
    message = capsys.readouterr().err
    assert "01_first: a full run in place must use the notebook's defaults" in message
    assert "EPOCHS = 3 differs from the parameters cell (EPOCHS = 10)" in message

    write_profiles(project / "notebooks", full={"01_first": {}, "02_second": {}})
    assert run_main(project, "-p", "SEED", "1") == 2
    assert "SEED = 1 differs" in capsys.readouterr().err


def test_missing_data_path_is_rejected(project, capsys):
    assert run_main(project, "--profile", "quick", "--data-path", "nowhere.tar.gz") == 2
    assert "does not exist" in capsys.readouterr().err


def test_list_prints_the_plan_and_runs_nothing(project, capsys):
    before = snapshot(project)
    assert run_main(project, "--profile", "quick", "--list") == 0
    plan = capsys.readouterr().out
    out = (project / "build" / "quick").resolve()
    assert f"[1/2] 01_first (quick) -> {out / '01_first.ipynb'}" in plan
    assert f"FIGURE_DIR = '{out / 'figures' / '01_first'}'" in plan
    assert f"MODEL_DIR = '{out / 'models'}'" in plan
    assert snapshot(project) == before


# --------------------------------------------------------------------------- profiles


def test_load_profile_reports_a_missing_or_malformed_file(project):
    with pytest.raises(FileNotFoundError, match="profiles there: \\['full', 'quick'\\]"):
        series.load_profile("tiny", project / "notebooks")
    (project / "notebooks" / "profiles" / "bad.yaml").write_text("01_first: [1, 2]\n")
    with pytest.raises(ValueError, match="must map parameter names to values"):
        series.load_profile("bad", project / "notebooks")


def test_read_parameters_returns_names_and_literal_defaults(project):
    defaults = series.read_parameters(project / "notebooks" / "01_first.ipynb")
    assert defaults == {
        "SEED": 42,
        "EPOCHS": 10,
        "LEARNING_RATE": 0.1,
        "NAME": "model",
        "AUGMENT": False,
        "TRAIN_SIZE": None,
        "FIGURE_DIR": "../figures/01_first",
        "MODEL_DIR": "../models",
        "DATA_PATH": "",
    }


@pytest.mark.parametrize("profile", series.PROFILES)
def test_profile_files_of_the_project_parse(profile):
    content = series.load_profile(profile, NOTEBOOK_DIR)
    assert all(isinstance(values, dict) for values in content.values())


@pytest.mark.parametrize("profile", series.PROFILES)
@pytest.mark.parametrize("notebook", REAL_NOTEBOOKS, ids=lambda path: path.stem)
def test_profiles_match_the_real_notebooks(profile, notebook):
    """Every committed notebook has an entry, with valid names and types, in each profile."""
    content = series.load_profile(profile, NOTEBOOK_DIR)
    assert notebook.stem in content, f"add {notebook.stem} to notebooks/profiles/{profile}.yaml"
    defaults = series.read_parameters(notebook)
    problems = series.check_parameters(
        notebook.stem, content[notebook.stem], defaults, source=f"profiles/{profile}.yaml"
    )
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("value", "accepted"), [(True, True), (False, True), ("auto", True), (1, False), (None, False)]
)
def test_an_auto_parameter_also_takes_true_or_false(value, accepted):
    """XLA = "auto" (measured) or a fixed True/False; nothing else."""
    problems = series.check_parameters("nb", {"XLA": value}, {"XLA": "auto"}, source="-p")
    assert (problems == []) is accepted, problems
    if not accepted:
        assert "parameter XLA" in problems[0] and "its default 'auto' is str" in problems[0]


@pytest.mark.parametrize("profile", series.PROFILES)
@pytest.mark.parametrize("stem", ["05_error_analysis", "07_robustness"])
def test_profiles_give_the_validation_split_of_the_models_measured(profile, stem):
    """05 and 07 fit a temperature on the held-out images of the 03 run whose model they
    measure: SEED and VAL_SIZE must agree with that run (the full profile's for the shipped
    models, which that profile trained; the same profile's otherwise)."""
    content = series.load_profile(profile, NOTEBOOK_DIR)
    measuring = {**series.read_parameters(NOTEBOOK_DIR / f"{stem}.ipynb"), **content[stem]}
    trained_by = "full" if measuring["MODEL_SOURCE"] == "shipped" else profile
    resnet = {
        **series.read_parameters(NOTEBOOK_DIR / "03_resnet.ipynb"),
        **series.load_profile(trained_by, NOTEBOOK_DIR)["03_resnet"],
    }
    for name in ("SEED", "VAL_SIZE"):
        assert resnet[name] == measuring[name], name


# --------------------------------------------------------------------------- cleaning


def test_clean_notebook_removes_run_metadata_and_keeps_counts_and_tags():
    nb = nbformat.v4.new_notebook()
    nb.metadata.update(
        papermill={"duration": 3.2},
        widgets={"state": {}},
        kernelspec={"name": "conda-env-x-py", "display_name": "x"},
    )
    cell = nbformat.v4.new_code_cell("x = 1", execution_count=4)
    cell.metadata.update(
        tags=["parameters"], papermill={"status": "completed"}, execution={"iopub": "t"}
    )
    untagged = nbformat.v4.new_markdown_cell("# Title")
    untagged.metadata["tags"] = []
    nb.cells = [cell, untagged]

    cleaned = series.clean_notebook(nb)

    assert "papermill" not in cleaned.metadata
    assert "widgets" not in cleaned.metadata
    assert cleaned.metadata.kernelspec == {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    assert cleaned.cells[0].metadata == {"tags": ["parameters"]}
    assert cleaned.cells[0].execution_count == 4
    assert cleaned.cells[1].metadata == {}  # papermill's empty tag lists are dropped


def test_clean_notebook_drops_tensorflow_startup_noise_but_keeps_real_stderr():
    noise = (
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
        "I0000 00:00:1795620288.989211   10489 cudart_stub.cc:31] Could not find cuda drivers\n"
        "E0000 00:00:1795620299.024104   10489 cuda_platform.cc:52] failed call to cuInit\n"
    )
    only_noise = nbformat.v4.new_code_cell("import tensorflow", execution_count=1)
    only_noise.outputs = [nbformat.v4.new_output("stream", name="stderr", text=noise)]
    mixed = nbformat.v4.new_code_cell("warn()", execution_count=2)
    mixed.outputs = [
        nbformat.v4.new_output("stream", name="stderr", text=noise + "UserWarning: real\n"),
        nbformat.v4.new_output("stream", name="stdout", text="I0000 kept on stdout\n"),
    ]
    nb = nbformat.v4.new_notebook(cells=[only_noise, mixed])

    cleaned = series.clean_notebook(nb)

    assert cleaned.cells[0].outputs == []
    assert [output["text"] for output in cleaned.cells[1].outputs] == [
        "UserWarning: real\n",
        "I0000 kept on stdout\n",
    ]


# --------------------------------------------------------------------------- running


def test_full_profile_rewrites_notebooks_in_place_cleaned(project, capsys):
    notebook = project / "notebooks" / "01_first.ipynb"
    second = (project / "notebooks" / "02_second.ipynb").read_bytes()

    status = run_main(project, "--only", "01")

    assert status == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "[1/1] 01_first (full) ..." in out
    assert "done in" in out
    nb = nbformat.read(notebook, as_version=4)
    nbformat.validate(nb)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert [cell.execution_count for cell in code] == [1, 2]
    assert code[0].metadata == {"tags": ["parameters"]}  # no papermill/execution metadata
    assert code[1].metadata == {}
    assert not any(cell.metadata.get("tags") == ["injected-parameters"] for cell in nb.cells)
    assert "papermill" not in nb.metadata
    assert nb.metadata.kernelspec.name == "python3"
    # Streams are coalesced into one output, so the committed diff stays small.
    assert [output.text for output in code[1].outputs] == ["epochs: 10\ndone\n"]
    # Defaults were used, relative to notebooks/: figures/ and models/ of the project.
    ran = json.loads((project / "figures" / "01_first" / "ran.json").read_text())
    assert ran == {
        "EPOCHS": 10,
        "LEARNING_RATE": 0.1,
        "NAME": "model",
        "DATA_PATH": "",
        "photo": "meow",
    }
    assert (project / "models" / "model.txt").exists()
    assert (project / "notebooks" / "02_second.ipynb").read_bytes() == second
    assert not (project / "build" / "full" / "01_first.ipynb").exists()  # temp copy gone
    # files.atomic_path's temporary names: .<name>.<pid>-<random>.partial<suffixes>
    assert not [p for p in (project / "notebooks").iterdir() if ".partial" in p.name]
    timings = json.loads((project / "build" / "full" / "timings.json").read_text())
    assert timings["status"] == "ok"
    assert [t["notebook"] for t in timings["notebooks"]] == ["01_first"]


def test_failure_keeps_the_committed_notebook_and_reports_the_cell(project, capsys):
    failing = make_notebook("01_first", body='print("about to fail")\nraise ValueError("boom")')
    nbformat.write(failing, project / "notebooks" / "01_first.ipynb")
    before = snapshot(project / "notebooks")

    status = run_main(project)

    assert status == 1
    message = capsys.readouterr().err
    assert "01_first failed in code cell In [2]" in message
    assert 'raise ValueError("boom")' in message
    assert "ValueError: boom" in message
    assert "01_first.ipynb was left untouched" in message
    kept = project / "build" / "failed" / "01_first.ipynb"
    assert str(kept.resolve()) in message
    assert "about to fail" in json.dumps(nbformat.read(kept, as_version=4).cells[-1].outputs)
    assert snapshot(project / "notebooks") == before  # 01 untouched, 02 never ran
    assert not (project / "figures" / "02_second").exists()
    timings = json.loads((project / "build" / "full" / "timings.json").read_text())
    assert timings["status"] == "failed"
    assert timings["notebooks"][0]["status"] == "failed"


def test_cell_timeout_stops_a_hanging_cell(project, capsys):
    hanging = make_notebook("01_first", body='import time\nprint("waiting")\ntime.sleep(60)')
    nbformat.write(hanging, project / "notebooks" / "01_first.ipynb")

    status = run_main(project, "--profile", "quick", "--only", "01", "--cell-timeout", "1")

    assert status == 1
    message = capsys.readouterr().err
    assert "01_first failed: CellTimeoutError" in message
    assert "--cell-timeout SECONDS" in message


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--profile", "full"], None),  # in place
        (["--profile", "full", "--output-dir", "elsewhere"], None),  # a teacher's copy
        (["--profile", "quick"], series.QUICK_CELL_TIMEOUT_S),
        (["--profile", "quick", "--output-dir", "elsewhere"], series.QUICK_CELL_TIMEOUT_S),
        (["--profile", "full", "--output-dir", "elsewhere", "--cell-timeout", "60"], 60.0),
        (["--profile", "quick", "--cell-timeout", "0"], None),
    ],
)
def test_cell_time_limit_follows_the_profile_not_the_destination(
    project, tmp_path, monkeypatch, args, expected
):
    """A full run into another folder trains for as long as one in place: no 900 s limit
    (it used to die with "Timeout waiting for execute reply (900s)" in 03's training)."""
    seen = []

    def fake_run_series(runs, *, cell_timeout, **kwargs):
        seen.append(cell_timeout)
        return []

    monkeypatch.setattr(series, "run_series", fake_run_series)
    args = [str(tmp_path / arg) if arg == "elsewhere" else arg for arg in args]
    assert run_main(project, *args) == 0
    assert seen == [expected]


def test_quick_profile_writes_only_into_the_output_dir(project, tmp_path, capsys):
    data = tmp_path / "cifar.tar.gz"
    data.write_bytes(b"not really")
    committed = snapshot(project / "notebooks")
    out = tmp_path / "out"

    status = run_main(
        project, "--profile", "quick", "--output-dir", str(out), "--data-path", str(data)
    )

    assert status == 0, capsys.readouterr().err
    assert snapshot(project / "notebooks") == committed
    assert not (project / "figures").exists()
    assert not (project / "models").exists()
    assert not (project / "build").exists()
    for stem, epochs in (("01_first", 1), ("02_second", 2)):
        ran = json.loads((out / "figures" / stem / "ran.json").read_text())
        assert ran["EPOCHS"] == epochs
        assert ran["DATA_PATH"] == str(data.resolve())
        assert ran["photo"] == "meow"  # the kernel ran in notebooks/
        executed = nbformat.read(out / f"{stem}.ipynb", as_version=4)
        assert executed.cells[2].metadata.tags == ["injected-parameters"]
    assert (out / "models" / "model.txt").exists()
    assert json.loads((out / "timings.json").read_text())["status"] == "ok"


ENV_BODY = textwrap.dedent(
    """\
    import json
    import os
    from pathlib import Path

    Path(FIGURE_DIR).mkdir(parents=True, exist_ok=True)
    names = ("CIFAR10_PATH", "CIFAR10_DATA_DIR")
    seen = {name: os.environ.get(name) for name in names}
    (Path(FIGURE_DIR) / "env.json").write_text(json.dumps(seen))
    """
)


def test_relative_dataset_variables_reach_the_kernels_as_absolute_paths(
    project, tmp_path, monkeypatch, capsys
):
    # The kernels run in notebooks/: a relative CIFAR10_PATH set where the user started
    # the run must still name the same file there.
    notebooks = project / "notebooks"
    for stem in ("01_first", "02_second"):
        nbformat.write(make_notebook(stem, body=ENV_BODY), notebooks / f"{stem}.ipynb")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CIFAR10_PATH", "shared/cifar.tar.gz")
    monkeypatch.setenv("CIFAR10_DATA_DIR", str(tmp_path / "cache"))  # absolute: unchanged
    out = tmp_path / "out"

    status = run_main(project, "--profile", "quick", "--output-dir", str(out), "--only", "01")

    assert status == 0, capsys.readouterr().err
    seen = json.loads((out / "figures" / "01_first" / "env.json").read_text())
    assert seen == {
        "CIFAR10_PATH": str(tmp_path / "shared" / "cifar.tar.gz"),
        "CIFAR10_DATA_DIR": str(tmp_path / "cache"),
    }
    assert os.environ["CIFAR10_PATH"] == "shared/cifar.tar.gz"  # restored afterwards


RUN_ENV_BODY = textwrap.dedent(
    """\
    import json
    import os
    from pathlib import Path

    Path(FIGURE_DIR).mkdir(parents=True, exist_ok=True)
    names = ("CIFAR10_FIGURE_DIR", "CIFAR10_PROGRESS")
    (Path(FIGURE_DIR) / "env.json").write_text(json.dumps({n: os.environ.get(n) for n in names}))
    """
)


@pytest.mark.parametrize("in_place", [True, False])
def test_runs_print_epochs_as_lines_and_only_in_place_runs_write_the_committed_figures(
    project, tmp_path, monkeypatch, in_place
):
    notebook = project / "notebooks" / "01_first.ipynb"
    nbformat.write(make_notebook("01_first", body=RUN_ENV_BODY), notebook)
    monkeypatch.setenv("CIFAR10_FIGURE_DIR", str(tmp_path / "user_setting"))
    out = tmp_path / "out"
    where = [] if in_place else ["--output-dir", str(out)]

    assert run_main(project, "--profile", "full", "--only", "01", *where) == 0

    figures = project / "figures" if in_place else out / "figures"
    seen = json.loads((figures / "01_first" / "env.json").read_text())
    assert seen["CIFAR10_PROGRESS"] == "lines"  # the log shows each epoch as it ends
    # In place: FIGURE_DIR = "" resolves to the project's figures/ (committed); elsewhere
    # the runner passes FIGURE_DIR itself, and the user's setting is left alone.
    expected = str(project / "figures") if in_place else str(tmp_path / "user_setting")
    assert seen["CIFAR10_FIGURE_DIR"] == expected


STREAM_BODY = textwrap.dedent(
    """\
    import os
    print("epoch 1 of 2", flush=True)
    print("data:", os.environ.get("CIFAR10_PATH"))
    """
)


def test_in_place_run_streams_progress_and_hands_data_path_to_the_kernel_only(
    project, tmp_path, capsys
):
    notebook = project / "notebooks" / "01_first.ipynb"
    nbformat.write(make_notebook("01_first", body=STREAM_BODY), notebook)
    archive = tmp_path / "my data" / "cifar.tar.gz"
    archive.parent.mkdir()
    archive.write_bytes(b"only its path matters here")
    argv = ["--notebooks-dir", str(project / "notebooks"), "--profile", "full", "--only", "01"]

    status = series.main([*argv, "--data-path", str(archive)])  # no --quiet: streamed

    out = capsys.readouterr().out
    assert status == 0
    assert "    epoch 1 of 2\n" in out  # the notebook's own lines, indented, as they come
    assert f"    data: {archive}\n" in out  # the kernel got the path ($CIFAR10_PATH)
    executed = nbformat.read(notebook, as_version=4)
    assert [c.metadata.get("tags", []) for c in executed.cells if c.cell_type == "code"] == [
        ["parameters"],
        [],
    ], "no injected-parameters cell in a committed notebook"
    assert str(archive) not in "".join(c.source for c in executed.cells)
    assert f"data: {archive}" in "".join(executed.cells[2].outputs[-1].text)


def test_quiet_run_streams_nothing(project, capsys):
    nbformat.write(
        make_notebook("01_first", body=STREAM_BODY), project / "notebooks" / "01_first.ipynb"
    )
    assert run_main(project, "--profile", "full", "--only", "01") == 0
    assert "epoch 1 of 2" not in capsys.readouterr().out


def test_dataset_variables_are_the_loaders():
    from cifar_utils import data

    assert series._DATASET_VARIABLES == (data.PATH_ENV_VAR, data.DATA_DIR_ENV_VAR)


def test_prepare_only_injects_parameters_and_keeps_outputs(project, tmp_path):
    notebook = project / "notebooks" / "01_first.ipynb"
    nb = nbformat.read(notebook, as_version=4)
    nb.cells[2].execution_count = 2
    nb.cells[2].outputs = [nbformat.v4.new_output("stream", name="stdout", text="stored\n")]
    nbformat.write(nb, notebook)
    out = tmp_path / "nbval"

    status = run_main(project, "--prepare-only", "--profile", "quick", "--output-dir", str(out))

    assert status == 0
    prepared = nbformat.read(out / "01_first.ipynb", as_version=4)
    injected = prepared.cells[2]
    assert injected.metadata.tags == ["injected-parameters"]
    assert injected.execution_count is None  # so nbval does not compare it
    assert "EPOCHS = 1" in injected.source
    assert f"os.chdir({str(project.resolve() / 'notebooks')!r})" in injected.source
    assert prepared.cells[3].outputs[0].text == "stored\n"
    assert not (out / "timings.json").exists()


# --------------------------------------------------------------------------- nbval


def stored_cell(source: str, outputs: list, count: int, tags: tuple[str, ...] = ()):
    cell = nbformat.v4.new_code_cell(source, execution_count=count)
    cell.outputs = outputs
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def stream(text: str, name: str = "stdout"):
    return nbformat.v4.new_output("stream", name=name, text=text)


def test_nbval_compares_only_tagged_cells_of_prepared_notebooks(project, tmp_path):
    """The `make test-notebooks` step on a fixture notebook whose last cell must fail."""
    nb = make_notebook("01_first", body='print("unchecked")')
    nb.cells[1].execution_count = 1
    nb.cells[2].execution_count = 2
    nb.cells[2].outputs = [stream("a different stored output\n")]  # untagged: not compared
    nb.cells += [
        stored_cell(  # tagged: compared, after sanitizing addresses and timings
            'import sys\nprint("classes: cat dog", object.__repr__(object()).split()[-1])\n'
            'print("took 0.1 s")\nprint("warning", file=sys.stderr)',
            [stream("classes: cat dog 0x7f0000000000>\ntook 12.5 s\n")],
            3,
            ("nbval-check-output",),
        ),
        stored_cell(  # tagged, with a stderr output only in the stored notebook
            'print("shape (32, 32, 3)")',
            [stream("shape (32, 32, 3)\n"), stream("W0000 TF chatter\n", "stderr")],
            4,
            ("nbval-check-output",),
        ),
        stored_cell(  # not compared; it sees the injected parameters and runs in notebooks/
            "print(EPOCHS, open('photos/cat.txt').read())",
            [stream("10 meow\n")],
            5,
            ("nbval-ignore-output",),
        ),
        stored_cell(  # tagged and really different: the one failure
            'print("classes: cat dog")',
            [stream("classes: cat bird\n")],
            6,
            ("nbval-check-output",),
        ),
    ]
    nbformat.write(nb, project / "notebooks" / "01_first.ipynb")
    out = tmp_path / "nbval"
    prepare = ["--prepare-only", "--profile", "quick", "--only", "01", "--output-dir", str(out)]
    assert run_main(project, *prepare) == 0

    report = tmp_path / "report.xml"
    command = [
        *(sys.executable, "-m", "pytest", "-p", "nbval.plugin", "-p", "tests.nbval_plugin"),
        "-p",
        "no:cacheprovider",
        *("--nbval-lax", "--nbval-current-env"),
        *("--nbval-sanitize-with", str(ROOT / "tests" / "nbval_sanitize.cfg")),
        *("--rootdir", str(out), "--junitxml", str(report), "-q", str(out / "01_first.ipynb")),
    ]
    # Only nbval and our plugin: loading every installed pytest plugin takes seconds.
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    log = result.stdout + result.stderr

    assert result.returncode == 1, log
    # 7 code cells: parameters, injected (no count: run, not compared), body, 4 stored.
    assert "1 failed, 6 passed" in log, log
    failures = [
        (case.get("name"), case.find("failure").text)
        for case in ElementTree.parse(report).iter("testcase")
        if case.find("failure") is not None
    ]
    assert len(failures) == 1, log
    name, text = failures[0]
    assert name == "Cell 6", failures
    assert "Cell outputs differ" in text
    assert "classes: cat bird" in text  # the stored output, shown against the new one


def test_clean_notebook_keeps_the_figures_of_dataset_image_cells():
    """The committed notebooks show CIFAR-10 images (issue 13): cleaning keeps every figure.

    ``dataset-images`` only marks the cells that draw CIFAR-10 images; the runner must not
    replace or drop their outputs.
    """
    png = {"image/png": "iVBORw0KGgo=", "text/plain": "<Figure size 100x100 with 1 Axes>"}
    tagged = nbformat.v4.new_code_cell("plot_samples_per_class(x)", execution_count=1)
    tagged.metadata["tags"] = ["dataset-images"]
    tagged.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="50,000 images\n"),
        nbformat.v4.new_output("display_data", data=png),
    ]
    untagged = nbformat.v4.new_code_cell("plot_history(h)", execution_count=2)
    untagged.outputs = [nbformat.v4.new_output("display_data", data=png)]
    nb = nbformat.v4.new_notebook(cells=[tagged, untagged])
    expected = [copy.deepcopy(cell.outputs) for cell in nb.cells]

    cleaned = series.clean_notebook(nb)

    assert [cell.outputs for cell in cleaned.cells] == expected
    assert cleaned.cells[0].outputs[1]["data"]["image/png"] == "iVBORw0KGgo="
    assert cleaned.cells[0].metadata["tags"] == ["dataset-images"]  # the marker stays
    nbformat.validate(cleaned)


# install_kernel -------------------------------------------------------------------------------


def test_install_kernel_registers_one_python3_kernel_with_its_options(tmp_path):
    folder = series.install_kernel(prefix=tmp_path)
    assert folder == tmp_path / "share" / "jupyter" / "kernels" / "python3"
    spec = json.loads((folder / "kernel.json").read_text())
    assert spec["display_name"] == "Python 3"
    assert spec["argv"][0] == sys.executable
    assert spec["argv"][-2:] == ["-f", "{connection_file}"]
    assert spec["argv"].count("--IPKernelApp.capture_fd_output=False") == 1
    series.install_kernel(prefix=tmp_path)  # again: the option is not added twice
    again = json.loads((folder / "kernel.json").read_text())
    assert again["argv"] == spec["argv"]
    assert [p.name for p in (tmp_path / "share" / "jupyter" / "kernels").iterdir()] == ["python3"]


def test_installed_kernel_keeps_c_level_stderr_out_of_the_notebook(tmp_path):
    """What TensorFlow's absl start-up messages do: write to file descriptor 2 directly."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    folder = series.install_kernel(prefix=tmp_path)
    specs = KernelSpecManager(kernel_dirs=[str(folder.parent)])
    manager = KernelManager(kernel_name="python3", kernel_spec_manager=specs)
    assert "--IPKernelApp.capture_fd_output=False" in manager.kernel_spec.argv
    # ipykernel never watches the file descriptors under pytest: start it as JupyterLab does.
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    manager.start_kernel(env=env)
    client = manager.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        code = (
            "import os, sys\n"
            "os.write(2, b'C-level noise\\n')\n"
            "print('python output')\n"
            "print('python warning', file=sys.stderr)\n"
            "import time; time.sleep(0.5); sys.stderr.flush()\n"  # let a watcher forward it
        )
        streams: list[tuple[str, str]] = []
        reply = client.execute_interactive(
            code,
            timeout=60,
            output_hook=lambda msg: (
                streams.append((msg["content"]["name"], msg["content"]["text"]))
                if msg["msg_type"] == "stream"
                else None
            ),
        )
        assert reply["content"]["status"] == "ok"
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    text = "".join(t for _, t in streams)
    assert ("stdout", "python output\n") in streams
    assert "python warning" in text  # Python's own stderr still reaches the notebook
    assert "C-level noise" not in text


# A real notebook run by plain papermill from another folder -----------------------------------


@pytest.mark.notebooks
def test_plain_papermill_from_another_folder_writes_into_the_project_not_beside_it(
    synthetic_archive, tmp_path, monkeypatch
):
    """`papermill notebooks/01_data_exploration.ipynb out.ipynb` from the repository root
    (or anywhere): the figures go to the project's build/figures/, never to ../figures
    relative to where papermill was started, and the committed figures stay as they are."""
    import papermill

    monkeypatch.delenv("CIFAR10_FIGURE_DIR", raising=False)  # the student's default
    monkeypatch.setenv("CIFAR10_PATH", str(synthetic_archive))
    elsewhere = tmp_path / "somewhere" / "else"
    elsewhere.mkdir(parents=True)
    committed = snapshot(ROOT / "figures")
    target = ROOT / "build" / "figures" / "01_data_exploration"
    shutil.rmtree(target, ignore_errors=True)

    papermill.execute_notebook(
        str(NOTEBOOK_DIR / "01_data_exploration.ipynb"),
        str(tmp_path / "out.ipynb"),
        parameters={"SAMPLES_PER_CLASS": 2},
        cwd=str(elsewhere),
        kernel_name=series.KERNEL_NAME,
        progress_bar=False,
    )

    assert sorted(p.name for p in target.iterdir()) == [
        "channel_histograms.png",
        "dataset.png",
        "one_image_channels.png",
    ]
    assert not (tmp_path / "somewhere" / "figures").exists()
    assert list(elsewhere.iterdir()) == []
    assert snapshot(ROOT / "figures") == committed
