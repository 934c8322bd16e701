"""environment.yml and pyproject.toml must not drift apart.

pyproject.toml is the single list of Python dependencies. environment.yml only adds
Python itself, pip and Graphviz from conda-forge, then installs this project through pip
(``-e ".[dev]"``). The checks are functions returning a list of problems, so that they
are also tested on drifted copies of the two files.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

if sys.version_info >= (3, 11):
    import tomllib
else:  # requires-python allows 3.10, which has no tomllib
    tomllib = pytest.importorskip(
        "tomli", reason="reading pyproject.toml on Python 3.10 needs tomli"
    )

REPO_ROOT = Path(__file__).resolve().parent.parent
CONDA_ONLY = {"python", "pip", "graphviz"}
_CONDA_SPEC = re.compile(
    r"^\s*(?:(?P<channel>[\w.-]+)::)?(?P<name>[A-Za-z0-9_.-]+)\s*(?P<spec>.*)$"
)
_PROJECT_SPEC = re.compile(
    r"""^(?:(?:-e|--editable)\s+)?["']?(?P<path>\.{1,2}(?:/[^\["']*)?|file:[^\["']+)"""
    r"""(?:\[(?P<extras>[^\]]*)\])?["']?\s*$"""
)


def _load() -> tuple[dict[str, Any], dict[str, Any]]:
    environment = yaml.safe_load((REPO_ROOT / "environment.yml").read_text(encoding="utf-8"))
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return environment, pyproject


def _conda_packages(environment: dict[str, Any]) -> dict[str, tuple[str | None, str]]:
    """Conda dependencies (not the pip section): name -> (channel prefix, version spec)."""
    packages = {}
    for entry in environment.get("dependencies") or []:
        if isinstance(entry, str):
            match = _CONDA_SPEC.match(entry)
            if match is None:
                raise ValueError(f"cannot read the conda dependency {entry!r}")
            name = canonicalize_name(match["name"])
            packages[name] = (match["channel"], match["spec"].strip())
    return packages


def _pip_entries(environment: dict[str, Any]) -> list[str]:
    entries: list[str] = []
    for entry in environment.get("dependencies") or []:
        if isinstance(entry, dict) and "pip" in entry:
            entries.extend(str(item) for item in entry["pip"] or [])
    return entries


def _project_dependencies(pyproject: dict[str, Any]) -> set[str]:
    """Canonical names of every dependency of the project, extras included."""
    project = pyproject["project"]
    requirements = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        requirements.extend(extra)
    return {canonicalize_name(Requirement(requirement).name) for requirement in requirements}


def _python_pin_problems(environment: dict[str, Any], pyproject: dict[str, Any]) -> list[str]:
    requires = SpecifierSet(pyproject["project"]["requires-python"])
    packages = _conda_packages(environment)
    if "python" not in packages:
        return ["environment.yml does not pin python (e.g. `- python=3.11`)."]
    spec = packages["python"][1].replace(" ", "")
    # conda: "=3.11" (or "3.11") means any 3.11.x; "==3.11.4" means exactly 3.11.4.
    exact = spec.startswith("==")
    version_text = spec.lstrip("=")
    try:
        version = Version(version_text)
    except InvalidVersion:
        return [f"cannot read the python pin {spec!r} in environment.yml; use e.g. python=3.11."]
    lowest = version if exact else Version(f"{version_text}.0")
    if lowest not in requires:
        return [
            f"environment.yml pins python {spec!r}, which requires-python "
            f"{str(requires)!r} of pyproject.toml does not allow."
        ]
    return []


def _channel_problems(environment: dict[str, Any]) -> list[str]:
    problems = []
    channels = environment.get("channels") or []
    packages = _conda_packages(environment)
    for name in ("pip", "graphviz"):
        if name not in packages:
            problems.append(f"environment.yml must install {name} with conda.")
            continue
        channel = packages[name][0] or (channels[0] if channels else None)
        if channel != "conda-forge":
            problems.append(f"environment.yml must install {name} from conda-forge, not {channel}.")
    return problems


def _duplicate_problems(environment: dict[str, Any], pyproject: dict[str, Any]) -> list[str]:
    """Python dependencies of pyproject listed again by hand in environment.yml."""
    dependencies = _project_dependencies(pyproject)
    listed = set(_conda_packages(environment))
    for entry in _pip_entries(environment):
        if _PROJECT_SPEC.match(entry):
            continue
        try:
            listed.add(canonicalize_name(Requirement(entry).name))
        except InvalidRequirement:
            listed.add(canonicalize_name(re.split(r"[\s=<>!~\[;@]", entry.strip())[0]))
    return [
        f"{name} is a dependency in pyproject.toml and is listed again in environment.yml: "
        "remove it there (pyproject.toml is the single list of Python dependencies)."
        for name in sorted((listed - CONDA_ONLY) & dependencies)
    ]


def _project_install_problems(
    environment: dict[str, Any], pyproject: dict[str, Any], folder: Path
) -> list[str]:
    """The pip section must install this folder, with extras that pyproject defines."""
    extras_defined = set(pyproject["project"].get("optional-dependencies", {}))
    installs = [
        match for entry in _pip_entries(environment) if (match := _PROJECT_SPEC.match(entry))
    ]
    if not installs:
        return ['environment.yml must install the project through pip: `- pip: [-e ".[dev]"]`.']
    problems = []
    for match in installs:
        path = match["path"].removeprefix("file:")
        if (folder / path).resolve() != folder.resolve():
            problems.append(f"environment.yml installs {path!r}, not the project folder.")
        for extra in filter(None, (part.strip() for part in (match["extras"] or "").split(","))):
            if extra not in extras_defined:
                problems.append(
                    f"environment.yml asks for the extra {extra!r}, which pyproject.toml does "
                    f"not define (it has {sorted(extras_defined)})."
                )
    return problems


def _all_problems(environment: dict[str, Any], pyproject: dict[str, Any]) -> list[str]:
    return [
        *_python_pin_problems(environment, pyproject),
        *_channel_problems(environment),
        *_duplicate_problems(environment, pyproject),
        *_project_install_problems(environment, pyproject, REPO_ROOT),
    ]


# The real files ------------------------------------------------------------------------------


def test_python_pin_is_allowed_by_requires_python():
    environment, pyproject = _load()
    assert _python_pin_problems(environment, pyproject) == []


def test_pip_and_graphviz_come_from_conda_forge():
    environment, _ = _load()
    assert _channel_problems(environment) == []


def test_no_python_dependency_is_listed_twice():
    environment, pyproject = _load()
    assert _duplicate_problems(environment, pyproject) == []


def test_pip_installs_the_project_with_existing_extras():
    environment, pyproject = _load()
    assert _project_install_problems(environment, pyproject, REPO_ROOT) == []


def test_dev_extra_has_the_test_tools():
    _, pyproject = _load()
    dev = {
        canonicalize_name(Requirement(requirement).name)
        for requirement in pyproject["project"]["optional-dependencies"]["dev"]
    }
    assert {"pytest", "ruff"} <= dev


# The checks catch drift ----------------------------------------------------------------------


def _drifted(**changes: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    environment, pyproject = _load()
    if "dependencies" in changes:
        environment["dependencies"] = changes.pop("dependencies")
    if "channels" in changes:
        environment["channels"] = changes.pop("channels")
    if "requires_python" in changes:
        pyproject["project"]["requires-python"] = changes.pop("requires_python")
    assert not changes
    return environment, pyproject


@pytest.mark.parametrize(
    ("dependencies", "requires_python", "message"),
    [
        (["python=3.9", "pip", "graphviz", {"pip": ["-e .[dev]"]}], None, "python '=3.9'"),
        (["python==3.14.0", "pip", "graphviz", {"pip": ["-e ."]}], None, "does not allow"),
        (["python=3.11", "pip", "graphviz", {"pip": ["-e ."]}], ">=3.12", "does not allow"),
        (["pip", "graphviz", {"pip": ["-e ."]}], None, "does not pin python"),
    ],
)
def test_a_bad_python_pin_is_reported(dependencies, requires_python, message):
    changes: dict[str, Any] = {"dependencies": dependencies}
    if requires_python:
        changes["requires_python"] = requires_python
    problems = _all_problems(*_drifted(**changes))
    assert len(problems) == 1
    assert message in problems[0]


@pytest.mark.parametrize(
    ("entry", "where"),
    [
        ("numpy=1.26", "conda"),
        ("conda-forge::tensorflow", "conda"),
        ("pytest>=7", "conda"),
        ("scikit_learn==1.3", "pip"),
        ("PyYAML", "pip"),
    ],
)
def test_a_dependency_listed_by_hand_is_named(entry, where):
    dependencies: list[Any] = ["python=3.11", "pip", "graphviz"]
    pip = ['-e ".[dev]"']
    (dependencies if where == "conda" else pip).append(entry)
    problems = _all_problems(*_drifted(dependencies=[*dependencies, {"pip": pip}]))
    name = canonicalize_name(re.split(r"[=<>:]", entry)[-1 if "::" in entry else 0])
    assert len(problems) == 1
    assert problems[0].startswith(f"{name} is a dependency in pyproject.toml")


@pytest.mark.parametrize(
    ("pip", "message"),
    [
        ([], "must install the project through pip"),
        (["numpy"], "must install the project through pip"),
        (['-e ".[docs]"'], "the extra 'docs'"),
        (["-e .[dev,gpu]"], "the extra 'gpu'"),
        (["-e ./notebooks"], "not the project folder"),
    ],
)
def test_a_wrong_project_install_is_reported(pip, message):
    dependencies = ["python=3.11", "pip", "graphviz", {"pip": pip}]
    problems = _all_problems(*_drifted(dependencies=dependencies))
    assert any(message in problem for problem in problems), problems


@pytest.mark.parametrize(
    ("dependencies", "channels", "message"),
    [
        (["python=3.11", "graphviz", {"pip": ["-e ."]}], ["conda-forge"], "install pip with"),
        (["python=3.11", "pip", "graphviz", {"pip": ["-e ."]}], ["defaults"], "not defaults"),
        (
            ["python=3.11", "pip", "defaults::graphviz", {"pip": ["-e ."]}],
            ["conda-forge"],
            "graphviz from conda-forge",
        ),
    ],
)
def test_packages_from_another_channel_are_reported(dependencies, channels, message):
    problems = _all_problems(*_drifted(dependencies=dependencies, channels=channels))
    assert problems
    assert all(message in problem for problem in problems), problems


@pytest.mark.parametrize("entry", ['-e ".[dev]"', "-e .", ".[dev]", "--editable '.[dev]'", "-e ./"])
def test_equivalent_spellings_of_the_project_are_accepted(entry):
    dependencies = ["python=3.11", "pip", "graphviz", {"pip": [entry]}]
    assert _all_problems(*_drifted(dependencies=dependencies)) == []


def test_make_lab_uses_one_kernel_and_trusts_the_notebooks():
    """`make lab` used to register a second kernel ("Python (CIFAR-10 series)") beside the
    "Python 3" the notebooks select, and left the notebooks untrusted (no styled tables)."""
    import subprocess

    root = Path(__file__).resolve().parents[1]
    commands = subprocess.run(
        ["make", "-n", "-W", "pyproject.toml", "lab"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "kernelspec install" not in commands and "--user" not in commands
    assert "ipykernel install" not in commands  # series.install_kernel: with its options
    assert commands.count("cifar_utils.series --install-kernel") == 1
    lab = commands.splitlines()
    trust = next(i for i, line in enumerate(lab) if "jupyter trust notebooks/" in line)
    start = next(i for i, line in enumerate(lab) if "jupyter lab notebooks/" in line)
    assert trust < start
