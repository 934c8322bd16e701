"""Tests of cifar_utils.pretrained: shipping trained models with the package.

Tiny models (a few hundred parameters) with hand-set weights stand in for the ResNet and
the baseline CNN, so every prediction, and so every accuracy, is known in advance. The
shipped folder is always a temporary one: nothing is written to the package's own
``pretrained_models/`` or to ``models/``.

The last test checks the real shipped models on the real test set; it runs only when
``CIFAR10_PATH`` points to the real archive and the package ships its models.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import keras
import numpy as np
import pytest

from cifar_utils import data, models, pretrained, training

# Keras 3.15 saving calls np.array(x, copy=False) on a TensorFlow variable (its own
# business, not ours); keep that warning out of the test report.
DATE = "2026-12-06"
SHIP_ARGS = {
    "notebook": "03_resnet",
    "commit": "abc1234",
    "date": DATE,
    "machine": "Test CPU @ 1.00GHz",
    "precision": "mixed_bfloat16",
    "trained_on": pretrained.TRAINED_ON,
}

# Solid red, green and blue images. The colour models below answer class 0 for red,
# 1 for green and 2 for blue; two labels disagree, so the accuracy is 8/10 by hand count.
RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)
COLOURS = [RED, RED, RED, RED, GREEN, GREEN, GREEN, BLUE, BLUE, BLUE]
LABELS = np.array([0, 0, 0, 3, 1, 1, 7, 2, 2, 2])  # the 4th (red, 3) and 7th (green, 7) are wrong
EXPECTED_ACCURACY = 8 / 10


def _solid_images(colours) -> np.ndarray:
    return np.stack([np.full((32, 32, 3), colour, dtype=np.uint8) for colour in colours])


X_TEST = _solid_images(COLOURS)


@pytest.fixture(autouse=True)
def _float32_policy() -> Iterator[None]:
    """Every test starts under the float32 policy and leaves it so."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("float32")
    yield
    keras.config.set_dtype_policy(previous)


def _colour_model(*, policy: str = "float32", scaled_bias: bool = True) -> keras.Model:
    """Conv2D (3x3, identity at the centre) [+ ScaledBias] + pooling + Dense: 124 weights.

    The pooled channels are the image's normalised mean colour; the Dense layer turns red,
    green and blue into classes 0, 1 and 2 (the other classes are ruled out).
    """
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        inputs = keras.Input((32, 32, 3), name="image")
        x = keras.layers.Conv2D(3, 3, padding="same", name="conv")(inputs)
        if scaled_bias:
            x = models.ScaledBias(2.0, name="shift")(x)
        x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
        x = keras.layers.Dense(10, name="logits")(x)
        outputs = keras.layers.Activation("softmax", dtype="float32", name="probabilities")(x)
        model = keras.Model(inputs, outputs, name="colours")
    finally:
        keras.config.set_dtype_policy(previous)
    kernel = np.zeros((3, 3, 3, 3), dtype=np.float32)
    kernel[1, 1] = np.eye(3)
    model.get_layer("conv").set_weights([kernel, np.zeros(3, dtype=np.float32)])
    if scaled_bias:  # small shifts: they change the probabilities, not the answers
        model.get_layer("shift").set_weights([np.array([0.1, -0.1, 0.05], dtype=np.float32)])
    dense = np.zeros((3, 10), dtype=np.float32)
    dense[:, :3] = 4 * np.eye(3)
    bias = np.full(10, -100.0, dtype=np.float32)
    bias[:3] = 0.0
    model.get_layer("logits").set_weights([dense, bias])
    return model


def _ship(model_path: Path, name: str, directory: Path, **overrides) -> dict:
    arguments = {**SHIP_ARGS, "notebook": pretrained.MODEL_NOTEBOOKS[name], **overrides}
    return pretrained.save_pretrained(
        model_path, name, x_test=X_TEST, y_test=LABELS, directory=directory, **arguments
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A "training run" folder: resnet.keras built under mixed_bfloat16 (with a ScaledBias),
    baseline_cnn.keras in float32 (without)."""
    folder = tmp_path_factory.mktemp("run_models")
    training.save_model(_colour_model(policy="mixed_bfloat16"), folder / "resnet.keras")
    training.save_model(_colour_model(scaled_bias=False), folder / "baseline_cnn.keras")
    return folder


@pytest.fixture(scope="module")
def shipped(trained: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both models shipped by save_pretrained into a temporary folder. Read only: copy it
    (see ``shipped_copy``) to damage it."""
    directory = tmp_path_factory.mktemp("shipped")
    _ship(trained / "resnet.keras", "resnet", directory)
    _ship(trained / "baseline_cnn.keras", "baseline_cnn", directory, precision="float32")
    return directory


@pytest.fixture
def shipped_copy(shipped: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(shipped, tmp_path / "shipped"))


@pytest.fixture
def no_own_models(tmp_path: Path) -> Path:
    """An empty folder of your own models."""
    folder = tmp_path / "own_models"
    folder.mkdir()
    return folder


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# save_pretrained -----------------------------------------------------------------------


def test_the_colour_model_answers_as_designed():
    # The hand count of EXPECTED_ACCURACY rests on these answers.
    predicted = np.argmax(_colour_model().predict(data.normalize(X_TEST), verbose=0), axis=1)
    np.testing.assert_array_equal(predicted, [0, 0, 0, 0, 1, 1, 1, 2, 2, 2])


def test_save_pretrained_writes_the_file_and_its_manifest_entry(shipped: Path):
    manifest = pretrained.read_manifest(shipped)
    assert sorted(manifest) == ["baseline_cnn", "resnet"]  # the second save kept the first
    for name, entry in manifest.items():
        path = shipped / f"{name}.keras"
        assert entry["file"] == path.name
        assert entry["sha256"] == _sha256(path)
        assert entry["bytes"] == path.stat().st_size
        assert entry["test_accuracy"] == pytest.approx(EXPECTED_ACCURACY)
        assert entry["test_images"] == 10
        assert entry["notebook"] == pretrained.MODEL_NOTEBOOKS[name]
        assert entry["commit"] == "abc1234" and entry["date"] == DATE
        assert entry["machine"] == "Test CPU @ 1.00GHz"
        assert entry["trained_on"].startswith("official CIFAR-10 (45,000 training images")
    assert manifest["resnet"]["precision"] == "mixed_bfloat16"
    assert manifest["baseline_cnn"]["precision"] == "float32"
    document = json.loads((shipped / pretrained.MANIFEST_NAME).read_text())
    assert document["format"] == pretrained.MANIFEST_FORMAT
    assert not [p.name for p in shipped.iterdir() if p.name.startswith(".")]  # no leftovers


def test_the_shipped_file_is_float32_when_the_model_trained_in_mixed_bfloat16(
    trained: Path, shipped: Path
):
    original = models.load_model(trained / "resnet.keras")
    assert pretrained.precision_of(original) == "mixed_bfloat16"

    loaded = keras.models.load_model(shipped / "resnet.keras", compile=False)

    assert pretrained.precision_of(loaded) == "float32"
    assert {layer.dtype_policy.name for layer in loaded.layers} == {"float32"}
    assert {layer.compute_dtype for layer in loaded.layers} == {"float32"}
    assert {variable.dtype for variable in loaded.weights} == {"float32"}
    with zipfile.ZipFile(shipped / "resnet.keras") as archive:
        assert "bfloat16" not in archive.read("config.json").decode()
    # The same weights: identical to a float32 build, and to the bfloat16 original within
    # bfloat16's precision (8 bits of mantissa).
    images = data.normalize(np.random.default_rng(0).integers(0, 256, (16, 32, 32, 3)))
    reference = _colour_model().predict(images, verbose=0)
    np.testing.assert_allclose(loaded.predict(images, verbose=0), reference, atol=1e-6)
    np.testing.assert_allclose(
        loaded.predict(images, verbose=0), original.predict(images, verbose=0), atol=2e-2
    )


def test_save_pretrained_restores_the_dtype_policy(trained: Path, tmp_path: Path):
    keras.config.set_dtype_policy("mixed_bfloat16")
    _ship(trained / "resnet.keras", "resnet", tmp_path)
    assert keras.config.dtype_policy().name == "mixed_bfloat16"
    # (Loaded under a global mixed policy, the input layer would take it: load in float32.)
    keras.config.set_dtype_policy("float32")
    loaded = keras.models.load_model(tmp_path / "resnet.keras", compile=False)
    assert {layer.dtype_policy.name for layer in loaded.layers} == {"float32"}


def test_save_pretrained_checks_its_arguments(trained: Path, tmp_path: Path):
    with pytest.raises(ValueError, match=r"unknown model name 'vgg'.*'resnet', 'baseline_cnn'"):
        pretrained.save_pretrained(
            trained / "resnet.keras", "vgg", x_test=X_TEST, y_test=LABELS, **SHIP_ARGS
        )
    with pytest.raises(ValueError, match=r"x_test must be raw uint8 images"):
        pretrained.save_pretrained(
            trained / "resnet.keras",
            "resnet",
            x_test=data.normalize(X_TEST),
            y_test=LABELS,
            directory=tmp_path,
            **SHIP_ARGS,
        )
    with pytest.raises(ValueError, match=r"y_test must hold one integer label per image \(10\)"):
        pretrained.save_pretrained(
            trained / "resnet.keras",
            "resnet",
            x_test=X_TEST,
            y_test=LABELS[:5],
            directory=tmp_path,
            **SHIP_ARGS,
        )
    with pytest.raises(ValueError, match=r"commit must be a non-empty string"):
        _ship(trained / "resnet.keras", "resnet", tmp_path, commit=" ")
    with pytest.raises(FileNotFoundError, match=r"run notebook 03_resnet\.ipynb first"):
        _ship(tmp_path / "nothere.keras", "resnet", tmp_path)
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_save_pretrained_refuses_a_model_that_is_not_a_cifar10_classifier(
    tmp_path: Path, pooled_classifier
):
    five = pooled_classifier(classes=5, activation=None)
    path = training.save_model(five, tmp_path / "five.keras")
    with pytest.raises(ValueError, match=r"shape \(10, 5\).*not a CIFAR-10 classifier"):
        _ship(path, "resnet", tmp_path / "shipped")
    assert not (tmp_path / "shipped" / "resnet.keras").exists()


# load_model ----------------------------------------------------------------------------


def test_load_model_uses_the_shipped_model_and_says_so(shipped: Path, no_own_models: Path):
    model, source = pretrained.load_model("resnet", model_dir=no_own_models, directory=shipped)

    assert source == (
        f"the shipped model: resnet.keras, trained by 03_resnet on {DATE} (80.0% accuracy on "
        "10 CIFAR-10 test images); train your own with notebook 03_resnet"
    )
    assert {variable.dtype for variable in model.weights} == {"float32"}
    predicted = np.argmax(model.predict(data.normalize(X_TEST), verbose=0), axis=1)
    assert np.mean(predicted == LABELS) == pytest.approx(EXPECTED_ACCURACY)

    _, source = pretrained.load_model("baseline_cnn", model_dir=no_own_models, directory=shipped)
    assert source.startswith("the shipped model: baseline_cnn.keras, trained by 02_baseline_cnn")


def test_load_model_prefers_your_own_model_and_says_so(
    shipped: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    own_dir = tmp_path / "own_models"
    own = _colour_model(scaled_bias=False)
    bias = np.full(10, -100.0, dtype=np.float32)
    bias[5] = 100.0  # always "dog": not the shipped model
    own.get_layer("logits").set_weights([np.zeros((3, 10), dtype=np.float32), bias])
    training.save_model(own, own_dir / "resnet.keras")

    model, source = pretrained.load_model("resnet", model_dir=own_dir, directory=shipped)

    assert source == f"your own model: {own_dir / 'resnet.keras'} (trained by notebook 03_resnet)"
    assert set(np.argmax(model.predict(data.normalize(X_TEST), verbose=0), axis=1)) == {5}

    # By default, your own models are in training.default_model_dir(), shown relative to
    # the working folder when inside it.
    monkeypatch.setenv(training.MODEL_DIR_ENV_VAR, str(own_dir))
    monkeypatch.chdir(tmp_path)
    _, source = pretrained.load_model("resnet", directory=shipped)
    assert source == "your own model: own_models/resnet.keras (trained by notebook 03_resnet)"
    # From notebooks/ (where the notebooks run), models/ of the project, without the
    # machine's folders.
    project_models = pretrained.files.project_folder("models", "resnet.keras")
    monkeypatch.chdir(pretrained.files.project_folder("notebooks"))
    assert pretrained._shown(project_models) == "models/resnet.keras"


def test_load_model_source_chooses_own_or_shipped(shipped: Path, tmp_path: Path):
    own_dir = tmp_path / "own_models"
    own = _colour_model(scaled_bias=False)
    bias = np.full(10, -100.0, dtype=np.float32)
    bias[5] = 100.0  # always "dog": not the shipped model
    own.get_layer("logits").set_weights([np.zeros((3, 10), dtype=np.float32), bias])
    training.save_model(own, own_dir / "resnet.keras")

    model, source = pretrained.load_model(
        "resnet", model_dir=own_dir, directory=shipped, source="shipped"
    )
    assert source.startswith("the shipped model: resnet.keras")
    predicted = np.argmax(model.predict(data.normalize(X_TEST), verbose=0), axis=1)
    assert np.mean(predicted == LABELS) == pytest.approx(EXPECTED_ACCURACY)

    _, source = pretrained.load_model("resnet", model_dir=own_dir, directory=shipped, source="own")
    assert source.startswith("your own model: ")
    with pytest.raises(FileNotFoundError, match=r"no trained model at .*run notebook 03_resnet"):
        pretrained.load_model("resnet", model_dir=tmp_path / "none", source="own")
    with pytest.raises(ValueError, match=r"source must be one of \('auto', 'own', 'shipped'\)"):
        pretrained.load_model("resnet", model_dir=own_dir, source="mine")


def test_load_model_of_a_broken_own_model_says_what_to_do(shipped: Path, tmp_path: Path):
    (tmp_path / "resnet.keras").write_bytes(b"PK\x03\x04 half a zip file")
    with pytest.raises(ValueError, match=r"run notebook 03_resnet\.ipynb again.*delete"):
        pretrained.load_model("resnet", model_dir=tmp_path, directory=shipped)


@pytest.mark.parametrize("change", ["same size", "longer"])
def test_load_model_refuses_a_changed_shipped_file(
    shipped_copy: Path, no_own_models: Path, change: str
):
    path = shipped_copy / "resnet.keras"
    content = bytearray(path.read_bytes())
    if change == "same size":
        content[len(content) // 2] ^= 0xFF
    else:
        content += b"\0"
    path.write_bytes(bytes(content))

    with pytest.raises(
        ValueError,
        match=r"refused to load the shipped model .*changed or damaged.*Reinstall the package "
        r".*run notebook 03_resnet\.ipynb",
    ):
        pretrained.load_model("resnet", model_dir=no_own_models, directory=shipped_copy)


def test_load_model_without_any_model_names_the_notebook(tmp_path: Path, no_own_models: Path):
    with pytest.raises(
        FileNotFoundError,
        match=r"no trained baseline_cnn model: .* ships no trained models .*"
        r"Run notebook 02_baseline_cnn\.ipynb",
    ):
        pretrained.load_model("baseline_cnn", model_dir=no_own_models, directory=tmp_path)


def test_load_model_when_the_manifest_lacks_the_model(shipped_copy: Path, no_own_models: Path):
    manifest_path = shipped_copy / pretrained.MANIFEST_NAME
    document = json.loads(manifest_path.read_text())
    del document["models"]["resnet"]
    manifest_path.write_text(json.dumps(document))
    with pytest.raises(
        FileNotFoundError, match=r"lists none \(only baseline_cnn\).*Run notebook 03_resnet"
    ):
        pretrained.load_model("resnet", model_dir=no_own_models, directory=shipped_copy)


def test_load_model_when_the_shipped_file_is_missing(shipped_copy: Path, no_own_models: Path):
    (shipped_copy / "resnet.keras").unlink()
    with pytest.raises(
        FileNotFoundError, match=r"listed in the manifest, is missing. Reinstall the package"
    ):
        pretrained.load_model("resnet", model_dir=no_own_models, directory=shipped_copy)


def test_load_model_of_an_unknown_name_lists_the_names(shipped: Path):
    with pytest.raises(ValueError, match=r"unknown model name 'ResNet'.*'resnet', 'baseline_cnn'"):
        pretrained.load_model("ResNet", directory=shipped)


# read_manifest -------------------------------------------------------------------------


def test_read_manifest_when_missing(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match=r"no manifest of shipped models at .*Reinstall"):
        pretrained.read_manifest(tmp_path)


def _damage(document: dict) -> dict:
    document["models"]["resnet"]["sha256"] = 12
    return document


def _escape(document: dict) -> dict:
    document["models"]["resnet"]["file"] = "../resnet.keras"
    return document


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (lambda document: "{ not json", r"damaged \(not valid JSON"),
        (lambda document: [document], r"not a manifest of format 1 \(found 'list'\)"),
        (lambda document: {**document, "format": 99}, r"not a manifest of format 1 \(found 99\)"),
        (lambda document: {"format": 1}, r"has no 'models' object"),
        (_damage, r"the entry for 'resnet' has no valid 'sha256' \(got 12\)"),
        (_escape, r"names the file '\.\./resnet\.keras', which is not a plain file name"),
    ],
)
def test_read_manifest_when_damaged(shipped_copy: Path, content, match: str):
    manifest_path = shipped_copy / pretrained.MANIFEST_NAME
    damaged = content(json.loads(manifest_path.read_text()))
    manifest_path.write_text(damaged if isinstance(damaged, str) else json.dumps(damaged))
    with pytest.raises(ValueError, match=match):
        pretrained.read_manifest(shipped_copy)
    with pytest.raises(ValueError, match=r"(?i)reinstall the package"):
        pretrained.load_model("resnet", model_dir=shipped_copy / "none", directory=shipped_copy)


# Command line --------------------------------------------------------------------------


def _run(capsys: pytest.CaptureFixture[str], *argv) -> tuple[int, str, str]:
    code = pretrained.main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_update_ships_every_model_found(
    trained: Path, synthetic_archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    directory = tmp_path / "shipped"
    code, out, err = _run(
        capsys,
        "update",
        "--model-dir",
        trained,
        "--data-path",
        synthetic_archive,
        "--pretrained-dir",
        directory,
        "--commit",
        "def5678",
        "--machine",
        "Another CPU",
    )

    assert code == pretrained.EXIT_OK, err
    manifest = pretrained.read_manifest(directory)
    assert sorted(manifest) == ["baseline_cnn", "resnet"]
    _, (x_test, y_test) = data.load_cifar10(synthetic_archive, download=False)
    expected = {
        name: pretrained.compute_accuracy(
            _colour_model(scaled_bias=name == "resnet"), x_test, y_test
        )
        for name in pretrained.MODEL_NOTEBOOKS
    }
    for name, entry in manifest.items():
        assert entry["test_images"] == len(x_test) == 100
        assert entry["test_accuracy"] == pytest.approx(expected[name], abs=0.5 / len(x_test))
        assert entry["commit"] == "def5678" and entry["machine"] == "Another CPU"
        assert entry["date"] == datetime.date.today().isoformat()
        assert entry["notebook"] == pretrained.MODEL_NOTEBOOKS[name]
        assert entry["trained_on"] == pretrained.TRAINED_ON
    # The precision is read from the trained model's dtype policy.
    assert manifest["resnet"]["precision"] == "mixed_bfloat16"
    assert manifest["baseline_cnn"]["precision"] == "float32"
    lines = out.splitlines()
    assert lines[0].startswith("resnet: ") and "(trained in mixed_bfloat16)" in lines[0]
    assert f"{expected['resnet']:.2%} accuracy on 100 test images" in lines[0]
    assert lines[1].startswith("baseline_cnn: ")
    assert lines[2].startswith("manifest: ")
    assert "is not the official CIFAR-10" in err and "warning: the test set" in err  # synthetic

    # --models ships only those named; the other entry stays.
    before = manifest["baseline_cnn"]
    code, out, _ = _run(
        capsys,
        *("update", "--models", "resnet", "--model-dir", trained),
        *("--data-path", synthetic_archive, "--pretrained-dir", directory),
        *("--commit", "0000000", "--date", "2027-01-01", "--machine", "M"),
    )
    assert code == pretrained.EXIT_OK
    manifest = pretrained.read_manifest(directory)
    assert manifest["resnet"]["commit"] == "0000000" and manifest["resnet"]["date"] == "2027-01-01"
    assert manifest["baseline_cnn"] == before


def test_cli_update_failures(
    trained: Path, synthetic_archive: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    empty = tmp_path / "empty"
    empty.mkdir()
    data_args = ("--data-path", synthetic_archive, "--pretrained-dir", tmp_path / "out")

    code, out, err = _run(capsys, "update", "--model-dir", empty, *data_args)
    assert code == pretrained.EXIT_FAILED and out == ""
    assert err.startswith(f"python -m cifar_utils.pretrained: error: no trained models in {empty}")
    assert "resnet.keras (03_resnet), baseline_cnn.keras (02_baseline_cnn)" in err

    shutil.copy(trained / "resnet.keras", empty / "resnet.keras")
    code, _, err = _run(
        capsys, "update", "--models", "baseline_cnn", "--model-dir", empty, *data_args
    )
    assert code == pretrained.EXIT_FAILED
    assert "no baseline_cnn.keras in" in err and "run notebook 02_baseline_cnn first" in err

    code, _, err = _run(
        capsys,
        *("update", "--model-dir", empty, "--pretrained-dir", tmp_path / "out"),
        *("--data-path", tmp_path / "nothere.tar.gz"),
    )
    assert code == pretrained.EXIT_FAILED and "cannot load the CIFAR-10 test set" in err

    (tmp_path / "out").mkdir()
    (tmp_path / "out" / pretrained.MANIFEST_NAME).write_text("{ not json")
    code, _, err = _run(capsys, "update", "--model-dir", empty, *data_args)
    assert (
        code == pretrained.EXIT_FAILED and "not valid JSON" in err and "delete the manifest" in err
    )
    assert not (tmp_path / "out" / "resnet.keras").exists()


@pytest.mark.parametrize("argv", [[], ["ship"], ["update", "--models", "vgg"], ["show", "--bogus"]])
def test_cli_usage_errors(argv, capsys: pytest.CaptureFixture[str]):
    code, out, err = _run(capsys, *argv)
    assert code == pretrained.EXIT_USAGE
    assert out == "" and "usage: python -m cifar_utils.pretrained" in err


def test_cli_update_refuses_a_bad_date_before_anything_else(
    trained: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    code, out, err = _run(
        capsys,
        "update",
        "--model-dir",
        trained,
        "--date",
        "06/12/2026",
        "--pretrained-dir",
        tmp_path,
    )
    assert code == pretrained.EXIT_USAGE and out == ""
    assert "error: --date must be YYYY-MM-DD, got '06/12/2026'" in err
    assert list(tmp_path.iterdir()) == []


def test_cli_show_prints_the_manifest_and_checks_the_files(
    shipped_copy: Path, capsys: pytest.CaptureFixture[str]
):
    code, out, err = _run(capsys, "show", "--pretrained-dir", shipped_copy)

    assert code == pretrained.EXIT_OK and err == ""
    lines = out.splitlines()
    assert lines[0].split() == [
        *("model", "file", "MB", "accuracy", "images", "notebook", "commit", "date"),
        *("precision", "file", "check"),
    ]
    rows = {line.split()[0]: line.split() for line in lines[1:3]}
    assert rows["resnet"][1] == "resnet.keras" and rows["resnet"][3] == "80.00%"
    assert rows["resnet"][4:] == ["10", "03_resnet", "abc1234", DATE, "mixed_bfloat16", "ok"]
    assert rows["baseline_cnn"][-2:] == ["float32", "ok"]
    assert "resnet: trained on official CIFAR-10 (45,000 training images" in out
    assert "machine: Test CPU @ 1.00GHz" in out

    content = bytearray((shipped_copy / "baseline_cnn.keras").read_bytes())
    content[100] ^= 0xFF
    (shipped_copy / "baseline_cnn.keras").write_bytes(bytes(content))
    (shipped_copy / "resnet.keras").unlink()
    code, out, err = _run(capsys, "show", "--pretrained-dir", shipped_copy)
    assert code == pretrained.EXIT_FAILED
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:3]}
    assert rows["baseline_cnn"][-1] == "CHANGED" and rows["resnet"][-1] == "MISSING"
    assert "error: shipped file(s) missing or changed: baseline_cnn, resnet" in err


def test_cli_show_without_a_manifest(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    code, out, err = _run(capsys, "show", "--pretrained-dir", tmp_path)
    assert code == pretrained.EXIT_FAILED and out == ""
    assert err.startswith("python -m cifar_utils.pretrained: error: no manifest of shipped models")


def test_git_commit_is_a_short_hash_or_unknown():
    assert re.fullmatch(r"[0-9a-f]{4,40}(-dirty)?|unknown", pretrained.git_commit())


def test_importing_the_module_imports_neither_tensorflow_nor_keras():
    check = (
        "import sys; from cifar_utils import pretrained; "
        "print('tensorflow' in sys.modules or 'keras' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def test_the_package_folder_is_package_data():
    # The folder ships with the package (pyproject.toml's package-data); its README says
    # how to replace the models.
    assert pretrained.PRETRAINED_DIR.name == "pretrained_models"
    assert pretrained.PRETRAINED_DIR.parent == Path(pretrained.__file__).resolve().parent
    assert (pretrained.PRETRAINED_DIR / "README.md").is_file()


# The real shipped models on the real test set ------------------------------------------

_REAL_PATH = os.environ.get("CIFAR10_PATH", "")


@pytest.fixture(scope="module")
def real_test_set() -> tuple[np.ndarray, np.ndarray]:
    try:
        manifest = pretrained.read_manifest()
    except FileNotFoundError:
        pytest.skip(
            f"the package ships no models yet (no {pretrained.MANIFEST_NAME} in "
            f"{pretrained.PRETRAINED_DIR}); see its README.md"
        )
    if not all(
        (pretrained.PRETRAINED_DIR / entry["file"]).is_file() for entry in manifest.values()
    ):
        pytest.skip("the manifest lists shipped models whose files are not there yet")
    if not _REAL_PATH or not Path(_REAL_PATH).exists():
        reason = (
            "set CIFAR10_PATH to the real cifar-10-python.tar.gz to check the shipped models' "
            f"accuracy (CIFAR10_PATH is {_REAL_PATH or 'unset'})"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(f"in CI the real archive is required: {reason}")
        pytest.skip(reason)
    _, (x_test, y_test) = data.load_cifar10(_REAL_PATH, download=False)
    return x_test, y_test


@pytest.mark.slow
@pytest.mark.real_data
@pytest.mark.parametrize("name", list(pretrained.MODEL_NOTEBOOKS))
def test_shipped_model_reaches_its_recorded_accuracy_on_the_real_test_set(
    name: str, real_test_set: tuple[np.ndarray, np.ndarray], tmp_path: Path
):
    manifest = pretrained.read_manifest()
    if name not in manifest:
        pytest.skip(f"the package ships no {name} model")
    x_test, y_test = real_test_set
    entry = manifest[name]
    assert entry["test_images"] == len(x_test) == 10_000

    model, source = pretrained.load_model(name, model_dir=tmp_path)  # sha256 checked
    accuracy = pretrained.compute_accuracy(model, x_test, y_test)

    assert source.startswith("the shipped model: ")
    # Within 5 images of 10,000, not exactly: another CPU (or oneDNN build) sums the float32
    # products in another order, which can flip a handful of near-ties between two classes.
    assert abs(accuracy - entry["test_accuracy"]) * len(x_test) <= 5 + 1e-9, (
        f"{name}: {accuracy:.2%} here, {entry['test_accuracy']:.2%} in the manifest"
    )
