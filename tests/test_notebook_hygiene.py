"""Static checks of every committed notebook, notebooks/NN_*.ipynb (nothing is executed).

The conventions are the project's (notebooks.md, /work/shared/STYLE.md): committed notebooks
carry the outputs of a clean `make run` (full profile), one `parameters` cell of commented
literals, kernelspec python3, no run metadata, the anatomy of the series, and figures saved
under figures/<stem>/. A failure message says what to change.
"""

from __future__ import annotations

import ast
import base64
import io
import re
import tokenize
from pathlib import Path

import nbformat
import pytest
import yaml

from cifar_utils import series

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob(series.NOTEBOOK_GLOB))
COLAB_URL = (
    "https://colab.research.google.com/github/cifar10-notebook-series/"
    "cifar10-notebook-series/blob/main/notebooks/{name}"
)
SECTIONS = ("## Setup", "## Parameters", "## Summary", "## Exercises")

pytestmark = pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda path: path.stem)


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def code_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [cell for cell in nb.cells if cell.cell_type == "code"]


def tags(cell: nbformat.NotebookNode) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def parameters_cell(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    cells = [cell for cell in nb.cells if "parameters" in tags(cell)]
    assert len(cells) == 1, f"expected exactly one cell tagged 'parameters', found {len(cells)}"
    return cells[0]


def python_source(cell: nbformat.NotebookNode) -> str:
    """The cell's code with IPython magics and shell lines replaced by `pass`."""
    lines = []
    for line in cell.source.splitlines():
        stripped = line.lstrip()
        if stripped.startswith(("%", "!")):
            line = line[: len(line) - len(stripped)] + "pass"
        lines.append(line)
    return "\n".join(lines)


def markdown(nb: nbformat.NotebookNode) -> str:
    return "\n\n".join(cell.source for cell in nb.cells if cell.cell_type == "markdown")


def outputs(nb: nbformat.NotebookNode):
    for index, cell in enumerate(code_cells(nb)):
        for output in cell.get("outputs", []):
            yield index, output


# --------------------------------------------------------------------------- format


def test_is_a_valid_notebook_with_the_python3_kernel(path):
    nb = read(path)
    nbformat.validate(nb)
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3", (
        "set the kernelspec to python3 (`make run` does it)"
    )


def test_has_no_run_metadata(path):
    nb = read(path)
    assert "papermill" not in nb.metadata, "metadata.papermill: commit the output of `make run`"
    assert "widgets" not in nb.metadata, "metadata.widgets: clear the widget state"
    for index, cell in enumerate(nb.cells):
        leftovers = {"papermill", "execution"} & set(cell.get("metadata", {}))
        assert not leftovers, f"cell {index} has metadata {sorted(leftovers)}"
        forbidden = {"injected-parameters", "papermill-error-cell-tag"} & set(tags(cell))
        assert not forbidden, f"cell {index} is a papermill cell {sorted(forbidden)}"


def test_outputs_come_from_a_clean_top_to_bottom_run(path):
    cells = code_cells(read(path))
    counts = [cell.execution_count for cell in cells]
    for index, cell in enumerate(cells):
        if cell.get("outputs"):
            assert cell.execution_count is not None, (
                f"code cell {index} has outputs but no execution count (nbval fails on it)"
            )
    assert counts == list(range(1, len(counts) + 1)), (
        f"execution counts {counts}: commit the output of a clean run (`make run`)"
    )


def test_has_no_error_or_noisy_outputs(path):
    for index, output in outputs(read(path)):
        assert output.output_type != "error", (
            f"code cell {index} has an error output: {output.get('ename')}"
        )
        text = output.get("text", "") + output.get("data", {}).get("text/plain", "")
        if output.output_type == "execute_result":  # the value of the cell's last line
            assert not re.match(r"<(Figure size|matplotlib\.)", text), (
                f"code cell {index} ends with a plot object ({text[:40]}...): "
                "end it with plt.show()"
            )
        if output.output_type != "stream":
            continue  # rich displays (model.summary) may colour their text/plain
        assert "\x1b[" not in text and "\b" not in text, (
            f"code cell {index} has progress-bar escape codes: use fit(..., verbose=2)"
        )


# --------------------------------------------------------------------------- parameters


def test_parameters_cell_holds_commented_literals_only(path):
    cell = parameters_cell(read(path))
    tree = ast.parse(cell.source)
    comment_lines = {
        token.start[0]
        for token in tokenize.generate_tokens(io.StringIO(cell.source).readline)
        if token.type == tokenize.COMMENT
    }
    names = []
    for statement in tree.body:
        assert (
            isinstance(statement, ast.Assign)
            and len(statement.targets) == 1
            and isinstance(statement.targets[0], ast.Name)
        ), f"line {statement.lineno}: only `NAME = literal  # comment` belongs here"
        name = statement.targets[0].id
        try:
            ast.literal_eval(statement.value)
        except ValueError:
            pytest.fail(f"{name}: the value must be a literal; derive values in the next cell")
        assert {statement.lineno, statement.end_lineno} & comment_lines, (
            f"{name}: add a comment saying what it does"
        )
        names.append(name)
    assert len(names) == len(set(names)), f"a parameter is assigned twice: {names}"


def test_common_parameters_follow_the_conventions(path):
    defaults = series.read_parameters(path)
    assert isinstance(defaults.get("SEED"), int), "SEED = 42  # seeds Python, NumPy and TF"
    assert defaults.get("DATA_PATH") == "", 'DATA_PATH = ""  # "" = $CIFAR10_PATH, then ...'
    # Folders default to "" and are resolved from the project, not the working directory
    # (papermill and nbconvert run from anywhere), in the cell after the parameters.
    assert defaults.get("FIGURE_DIR") == "", 'FIGURE_DIR = ""  # "" = build/figures/ ...'
    cells = code_cells(read(path))
    index = next(i for i, cell in enumerate(cells) if "parameters" in tags(cell))
    derived = cells[index + 1].source
    assert f'figure_dir = FIGURE_DIR or plotting.default_figure_dir("{path.stem}")' in derived
    if "MODEL_DIR" in defaults:
        assert defaults["MODEL_DIR"] == ""
        assert "model_dir = MODEL_DIR or training.default_model_dir()" in derived
    for name in ("FIGURE_DIR", "MODEL_DIR"):
        later = [cell.source for cell in cells[index + 2 :]]
        assert not any(re.search(rf"\b{name}\b", source) for source in later), (
            f"{name} is read only in the cell after the parameters; use its resolved value"
        )


def test_full_profile_equals_the_parameter_defaults(path):
    defaults = series.read_parameters(path)
    profile = series.load_profile("full", NOTEBOOK_DIR)
    expected = yaml.safe_dump({path.stem: defaults}, sort_keys=False, allow_unicode=True)
    assert profile.get(path.stem) == defaults, (
        f"notebooks/profiles/full.yaml must list the defaults of {path.name}'s parameters "
        f"cell; its entry should read:\n{expected}"
    )
    # Same values but also same types (yaml 1 vs 1.0 compare equal):
    types = {name: type(value) for name, value in defaults.items()}
    assert {name: type(value) for name, value in profile[path.stem].items()} == types


# --------------------------------------------------------------------------- anatomy


def test_follows_the_anatomy_of_the_series(path):
    nb = read(path)
    text = markdown(nb)
    number = path.stem.split("_", 1)[0]
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith(f"# {number} · "), (
        f"the first cell is the title, `# {number} · Title`"
    )
    assert COLAB_URL.format(name=path.name) in first.source, (
        f"the title cell needs the Open in Colab badge linking {COLAB_URL.format(name=path.name)}"
    )
    assert "You will" in first.source, "the title cell needs a 'You will:' list"
    positions = []
    for section in SECTIONS:
        match = re.search(rf"(?m)^{re.escape(section)}\s*$", text)
        assert match, f"missing the section heading `{section}`"
        positions.append(match.start())
    assert positions == sorted(positions), f"sections must come in the order {SECTIONS}"


def test_setup_installs_the_package_only_on_colab(path):
    sources = [cell.source for cell in code_cells(read(path))]
    assert sources and 'if "google.colab" in sys.modules' in sources[0], (
        "the first code cell is the Colab install cell of the series"
    )


def test_setup_asks_for_onednn_before_tensorflow_is_imported(path):
    """TensorFlow reads TF_ENABLE_ONEDNN_OPTS once, at import: the first code cell sets it,
    and imports nothing that imports TensorFlow."""
    first = code_cells(read(path))[0]
    # setdefault returns the value: as a cell's last line it would print '1' under the cell.
    assert not first.outputs, "the first code cell shows nothing (end it with the Colab `if`)"
    tree = ast.parse(python_source(first))
    calls = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "setdefault"
        and [ast.literal_eval(arg) for arg in node.args] == ["TF_ENABLE_ONEDNN_OPTS", "1"]
    ]
    assert calls, 'the first code cell sets os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")'
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in (
            node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")]
        )
    }
    assert imported <= {"os", "sys"}, f"the first code cell imports {sorted(imported)}"


def test_parameters_cell_follows_its_heading(path):
    nb = read(path)
    index = nb.cells.index(parameters_cell(nb))
    headings = [cell.source for cell in nb.cells[:index] if cell.cell_type == "markdown"]
    assert headings and headings[-1].lstrip().startswith("## Parameters"), (
        "the parameters cell comes right under `## Parameters`"
    )


def test_figures_are_saved_under_figures_stem(path):
    for index, cell in enumerate(code_cells(read(path))):
        tree = ast.parse(python_source(cell))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            where = f"code cell {index}, line {node.lineno}"
            assert node.func.attr != "savefig", (
                f"{where}: save figures with plotting.save_fig(fig, name, figure_dir)"
            )
            if node.func.attr == "save_fig":
                directory = node.args[2] if len(node.args) > 2 else None
                directory = next(
                    (k.value for k in node.keywords if k.arg == "directory"), directory
                )
                assert isinstance(directory, ast.Name) and directory.id == "figure_dir", (
                    f"{where}: pass figure_dir (FIGURE_DIR resolved) as the folder of save_fig"
                )


def test_training_prints_one_line_per_epoch(path):
    for index, cell in enumerate(code_cells(read(path))):
        for node in ast.walk(ast.parse(python_source(cell))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "fit"
                and any(k.arg == "epochs" for k in node.keywords)  # Keras, not scikit-learn
            ):
                verbose = next((k.value for k in node.keywords if k.arg == "verbose"), None)
                assert isinstance(verbose, ast.Constant) and verbose.value in (0, 2), (
                    f"code cell {index}: call fit(..., verbose=2) (no progress bars in outputs)"
                )


# Cells that show CIFAR-10 images carry this tag. Their figures are committed like every
# other output (issue 13: the notebooks show the data, as the original notebook and the
# CIFAR-10 tutorials do); the tag marks them for the checks below.
DATASET_IMAGES_TAG = "dataset-images"
# The text the runner used to put in place of those figures (before issue 13).
_PLACEHOLDER = "[figure not stored"
_DRAWS_DATASET_IMAGES = re.compile(
    r"plot_samples_per_class|plot_image_grid|plot_predictions|plot_grad_cam|imshow"
)
_SAVED_FIGURE = re.compile(r"save_fig\(\s*\w+(?:\.figure)?,\s*\"([^\"]+)\"")
# Size guards, so that the repository stays light. Once the CIFAR-10 figures are stored
# (PNG at the inline backend's default 100 dpi), the largest notebook is estimated at about
# 0.65 MB and the largest images of one notebook at about 0.45 MB decoded: the limits leave
# room for about three and two times that.
MAX_NOTEBOOK_BYTES = 2_000_000
MAX_IMAGE_BYTES = 1_000_000  # decoded image outputs (PNG bytes) of one notebook


def image_outputs(cell: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [
        output
        for output in cell.get("outputs", [])
        if any(key.startswith("image/") for key in output.get("data", {}))
    ]


def test_cells_that_draw_dataset_images_are_tagged(path):
    for index, cell in enumerate(read(path).cells):
        if cell.cell_type != "code" or DATASET_IMAGES_TAG in tags(cell):
            continue
        if _DRAWS_DATASET_IMAGES.search(cell.source) and "photo" not in cell.source:
            raise AssertionError(
                f"cell {index} draws images; if they are CIFAR-10 images tag the cell "
                f"{DATASET_IMAGES_TAG!r} (the tests then check that its figure is committed)"
            )


def test_has_no_figure_placeholders(path):
    for index, output in outputs(read(path)):
        text = output.get("text", "") + output.get("data", {}).get("text/plain", "")
        assert _PLACEHOLDER not in text, (
            f"code cell {index} stores the placeholder {text.strip()[:60]!r}... instead of "
            "its figure: re-run the notebook with `make run` (the runner keeps figures now)"
        )


def test_dataset_image_cells_store_their_figure(path):
    for index, cell in enumerate(code_cells(read(path))):
        if DATASET_IMAGES_TAG not in tags(cell):
            continue
        pngs = [output for output in image_outputs(cell) if "image/png" in output.data]
        assert pngs, (
            f"code cell {index} is tagged {DATASET_IMAGES_TAG!r} but stores no image/png "
            "output: commit the notebook as `make run` writes it, figures included "
            "(and end the cell with plt.show())"
        )


def test_notebook_and_its_images_stay_small(path):
    size = path.stat().st_size
    assert size < MAX_NOTEBOOK_BYTES, (
        f"{path.name} is {size / 1e6:.2f} MB (limit {MAX_NOTEBOOK_BYTES / 1e6:.1f} MB): "
        "show fewer or smaller figures, or lower their dpi"
    )
    sizes = []  # (decoded bytes, code cell index, MIME type) of each image
    for index, cell in enumerate(code_cells(read(path))):
        for output in image_outputs(cell):
            for key, value in output.data.items():
                if key.startswith("image/"):
                    text = "".join(value) if isinstance(value, list) else value
                    raw = text.encode() if key == "image/svg+xml" else base64.b64decode(text)
                    sizes.append((len(raw), index, key))
    total = sum(size for size, _, _ in sizes)
    largest = ", ".join(
        f"cell {i} {k} {n / 1e3:.0f} kB" for n, i, k in sorted(sizes, reverse=True)[:3]
    )
    assert total < MAX_IMAGE_BYTES, (
        f"the images of {path.name} take {total / 1e6:.2f} MB decoded (limit "
        f"{MAX_IMAGE_BYTES / 1e6:.1f} MB); largest: {largest}. Show fewer images, use "
        "PNG (not 'retina') at the default 100 dpi, or shrink the figure"
    )


def test_figures_of_dataset_image_cells_are_kept_in_git(path):
    """The sample grid, augmentation examples, test predictions and error galleries belong
    in figures/ as the original notebook's dataset.png and Test_pred.png did: none of the
    PNG files those cells save may be git-ignored."""
    import subprocess

    stem = Path(path).stem
    saved = []
    for index, cell in enumerate(read(path).cells):
        if DATASET_IMAGES_TAG not in tags(cell):
            continue
        for name in _SAVED_FIGURE.findall(cell.source):
            figure = f"figures/{stem}/{name}.png"
            saved.append(figure)
            ignored = subprocess.run(
                ["git", "check-ignore", "-q", "--no-index", figure],
                cwd=Path(__file__).resolve().parents[1],
                check=False,
            )
            assert ignored.returncode == 1, (
                f"cell {index} saves {figure}, which .gitignore hides: figures that show "
                "CIFAR-10 images are committed"
            )


def _readme_run_times() -> dict[str, tuple[str, str]]:
    """The README's run-order table: notebook number -> (full, quick) run time."""
    times = {}
    for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines():
        match = re.match(r"\| (\d\d) \| \[.*?\]\(notebooks/\d\d_\w+\.ipynb\) \|", line)
        if match:
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            times[match.group(1)] = (cells[-2], cells[-1])
    return times


def test_run_times_have_one_source(path):
    """The header's table and the README's run-order table give the same measured times
    (they used to disagree: 24 s against ~30 s)."""
    readme = _readme_run_times()
    number = path.name[:2]
    assert number in readme, f"the README's run-order table has no row for {path.name}"
    header = read(path).cells[0].source
    rows = {}
    for line in header.splitlines():
        match = re.match(r"\| (full|quick)\b[^|]*\| ([^|]+) \|", line)
        if match:
            rows[match.group(1)] = match.group(2).strip()
    assert set(rows) == {"full", "quick"}, (
        f"{path.name}: the header's run-time table needs a 'full' and a 'quick' row"
    )
    assert (rows["full"], rows["quick"]) == readme[number], (
        f"{path.name}: the header says full {rows['full']}, quick {rows['quick']}; the "
        f"README says full {readme[number][0]}, quick {readme[number][1]}: make them agree"
    )


_MACHINE_PATH = re.compile(r"(?<![\w.~])/(?:home|root|work|tmp|Users|opt|mnt|usr/local)/[^\s\"']*")


def test_committed_outputs_show_no_machine_paths(path):
    """Outputs print paths relative to the project (``models/resnet.keras``,
    ``../shared/...``, ``~/...``) through ``files.shorten_paths``: the folders of the machine
    that ran the series mean nothing to a reader."""
    for index, cell in enumerate(code_cells(read(path))):
        for output in cell.get("outputs", []):
            texts = [output.get("text", "")]
            texts += [v for k, v in output.get("data", {}).items() if k.startswith("text/")]
            for text in texts:
                found = _MACHINE_PATH.findall("".join(text))
                assert not found, f"code cell {index} prints this machine's paths: {found}"
