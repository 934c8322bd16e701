"""Tests of cifar_utils.data on small synthetic archives (no network, no real data)."""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import os
import pickle
import subprocess
import sys
import tarfile
import tempfile
import threading
import urllib.error
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from synthetic import (
    CLASS_COLOURS,
    FOLDER_NAME,
    archive_members,
    dumps_py2,
    encode_files,
    expected_arrays,
    file_member,
    make_files,
    write_tar,
)

from cifar_utils import bench, data

ALL_ERRORS = (data.CifarDataError, FileNotFoundError)
HYPOTHESIS = settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(autouse=True)
def _isolated(cifar_env: Path) -> Path:
    """Every test gets an empty cache and Keras home, and no CIFAR10_PATH."""
    return cifar_env


def _no_download(*args: object, **kwargs: object) -> None:
    raise AssertionError("the loader must not download here")


@pytest.fixture
def forbid_download(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(data, "_open_url", _no_download)


def assert_loaded(result, files) -> None:
    """`result` of load_cifar10 matches the synthetic `files`, with the documented types."""
    (x_train, y_train), (x_test, y_test) = result
    (ex_train, ey_train), (ex_test, ey_test) = expected_arrays(files)
    for x, expected in ((x_train, ex_train), (x_test, ex_test)):
        assert x.dtype == np.uint8
        assert x.shape == expected.shape
        assert x.shape[1:] == (32, 32, 3)
        assert x.flags.c_contiguous
        np.testing.assert_array_equal(x, expected)
    for y, expected in ((y_train, ey_train), (y_test, ey_test)):
        assert y.dtype == np.int64
        assert y.shape == expected.shape
        np.testing.assert_array_equal(y, expected)


def leftovers(directory: Path) -> list[str]:
    """Names in `directory` other than a complete extracted cache."""
    if not directory.exists():
        return []
    return sorted(p.name for p in directory.iterdir() if p.name != FOLDER_NAME)


# --------------------------------------------------------------------------------------
# Constants and import
# --------------------------------------------------------------------------------------


def test_constants() -> None:
    assert data.CLASS_NAMES == (
        "airplane",
        "automobile",
        "bird",
        "cat",
        "deer",
        "dog",
        "frog",
        "horse",
        "ship",
        "truck",
    )
    assert data.NUM_CLASSES == len(data.CLASS_NAMES) == 10
    assert data.OFFICIAL_URL == "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
    assert data.OFFICIAL_SHA256 == (
        "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
    )
    assert data.PATH_ENV_VAR == "CIFAR10_PATH"
    assert data.DATA_DIR_ENV_VAR == "CIFAR10_DATA_DIR"
    assert issubclass(data.ChecksumError, data.CifarDataError)
    assert issubclass(data.CifarDataError, ValueError)


def test_import_is_light() -> None:
    code = (
        "import sys, cifar_utils.data; "
        "print(sorted(m for m in ('tensorflow', 'keras', 'sklearn', 'matplotlib', 'tqdm') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --------------------------------------------------------------------------------------
# Every source
# --------------------------------------------------------------------------------------


def test_load_from_archive(make_cifar_archive, cifar_env: Path, forbid_download) -> None:
    archive = make_cifar_archive(n_per_batch=12, n_test=7, seed=3)
    result = data.load_cifar10(archive)
    assert_loaded(result, make_files(n_per_batch=12, n_test=7, seed=3))
    assert result[0][0].shape == (60, 32, 32, 3)
    cache = cifar_env / FOLDER_NAME
    assert sorted(p.name for p in cache.iterdir()) == [
        ".cifar_utils_source.json",
        "batches.meta",
        "data_batch_1",
        "data_batch_2",
        "data_batch_3",
        "data_batch_4",
        "data_batch_5",
        "test_batch",
    ]
    assert leftovers(cifar_env) == []


def test_load_plain_tar_and_protocol_4_pickles(make_cifar_archive) -> None:
    # The shared development archive was pickled by Python 3 (protocol 4, numpy._core).
    files = make_files(n_per_batch=10, n_test=10, seed=5)
    python3 = {name: pickle.dumps(content, protocol=4) for name, content in files.items()}
    archive = make_cifar_archive(files=python3, compress=False, name="cifar.tar")
    assert_loaded(data.load_cifar10(archive), files)


def test_synthetic_fixtures_agree_and_carry_a_class_signal(synthetic_archive, synthetic_dir):
    from_archive = data.load_cifar10(synthetic_archive)
    from_folder = data.load_cifar10(synthetic_dir)
    assert_loaded(from_archive, make_files())
    assert_loaded(from_folder, make_files())
    (x_train, y_train), (x_test, y_test) = from_archive
    assert x_train.shape == (500, 32, 32, 3) and x_test.shape == (100, 32, 32, 3)
    assert np.bincount(y_train, minlength=10).tolist() == [50] * 10
    assert np.bincount(y_test, minlength=10).tolist() == [10] * 10
    # Nearest class colour on the mean colour of each image recovers the label...
    means = x_train.reshape(len(x_train), -1, 3).mean(axis=1)
    nearest = np.linalg.norm(means[:, None] - CLASS_COLOURS[None], axis=2).argmin(axis=1)
    assert (nearest == y_train).mean() > 0.9
    # ...while single pixels are noisy.
    pixel = x_train[:, 0, 0].astype(float)
    nearest_pixel = np.linalg.norm(pixel[:, None] - CLASS_COLOURS[None], axis=2).argmin(axis=1)
    assert (nearest_pixel == y_train).mean() < 0.6


def test_synthetic_archive_layout(synthetic_archive) -> None:
    with tarfile.open(synthetic_archive) as tar:
        names = tar.getnames()
    assert names[0] == FOLDER_NAME
    assert sorted(names[1:]) == sorted(
        f"{FOLDER_NAME}/{n}"
        for n in ["batches.meta", "readme.html", "test_batch"]
        + [f"data_batch_{i}" for i in range(1, 6)]
    )


def test_load_from_folder_parent_and_batch_file(make_cifar_archive, cifar_env) -> None:
    folder = make_cifar_archive(folder=True, seed=4)
    files = make_files(n_per_batch=10, n_test=10, seed=4)
    for path in (folder, folder.parent, str(folder), folder / "data_batch_1"):
        assert_loaded(data.load_cifar10(path, download=False), files)
    assert data.find_cifar10(folder.parent) == folder
    assert data.find_cifar10(folder / "test_batch") == folder
    assert not cifar_env.exists()  # an extracted folder is read in place, nothing cached


def test_find_archive_in_given_folder(make_cifar_archive) -> None:
    archive = make_cifar_archive(name="downloads/cifar-10-python.tar.gz")
    assert data.find_cifar10(archive.parent) == archive


def test_env_var_archive_and_folder(make_cifar_archive, monkeypatch, forbid_download) -> None:
    archive = make_cifar_archive(seed=6)
    folder = make_cifar_archive(folder=True, seed=7, name="extracted")
    monkeypatch.setenv("CIFAR10_PATH", str(archive))
    assert data.find_cifar10() == archive
    assert_loaded(data.load_cifar10(), make_files(n_per_batch=10, n_test=10, seed=6))
    monkeypatch.setenv("CIFAR10_PATH", str(folder.parent))
    assert data.find_cifar10() == folder
    assert_loaded(data.load_cifar10(), make_files(n_per_batch=10, n_test=10, seed=7))


def test_env_var_pointing_nowhere_does_not_download(tmp_path, monkeypatch, forbid_download):
    monkeypatch.setenv("CIFAR10_PATH", str(tmp_path / "missing.tar.gz"))
    with pytest.raises(FileNotFoundError, match="CIFAR10_PATH"):
        data.load_cifar10()


def test_data_dir_archive_then_extracted_cache(make_cifar_archive, cifar_env, forbid_download):
    archive = make_cifar_archive(name="cache/cifar-10-python.tar.gz", seed=8)
    assert archive.parent == cifar_env
    assert data.find_cifar10() == archive
    files = make_files(n_per_batch=10, n_test=10, seed=8)
    assert_loaded(data.load_cifar10(), files)
    assert data.find_cifar10() == cifar_env / FOLDER_NAME
    assert_loaded(data.load_cifar10(download=False), files)


def test_data_dir_with_extracted_folder_only(make_cifar_archive, cifar_env) -> None:
    folder = make_cifar_archive(folder=True, name="cache", seed=9)
    assert folder == cifar_env / FOLDER_NAME
    assert data.find_cifar10() == folder
    assert_loaded(data.load_cifar10(download=False), make_files(n_per_batch=10, n_test=10, seed=9))


KERAS_LAYOUTS = [
    ("cifar-10-batches-py", "folder"),
    ("cifar-10-batches-py-target/cifar-10-batches-py", "folder"),
    ("cifar-10-batches-py-target_archive", "archive"),
    ("cifar-10-batches-py.tar.gz", "archive"),
]


@pytest.mark.parametrize(("relative", "kind"), KERAS_LAYOUTS)
def test_keras_cache_layouts(make_cifar_archive, tmp_path, relative, kind, forbid_download):
    datasets = tmp_path / "keras_home" / "datasets"  # $KERAS_HOME from cifar_env
    if kind == "folder":
        folder = make_cifar_archive(folder=True, seed=10, name="keras_home/datasets/unused")
        target = datasets / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        folder.rename(target)
    else:
        target = make_cifar_archive(seed=10, name=f"keras_home/datasets/{relative}")
    assert data.find_cifar10() == target
    assert_loaded(data.load_cifar10(), make_files(n_per_batch=10, n_test=10, seed=10))


def test_keras_cache_in_home_without_keras_home(make_cifar_archive, tmp_path, monkeypatch):
    monkeypatch.delenv("KERAS_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    archive = make_cifar_archive(name="home/.keras/datasets/cifar-10-batches-py-target_archive")
    assert data.find_cifar10() == archive


def test_search_order(make_cifar_archive, tmp_path, cifar_env, monkeypatch) -> None:
    keras_archive = make_cifar_archive(name="keras_home/datasets/cifar-10-batches-py.tar.gz")
    assert data.find_cifar10() == keras_archive
    cached_archive = make_cifar_archive(name="cache/cifar-10-python.tar.gz")
    assert data.find_cifar10() == cached_archive
    env_archive = make_cifar_archive(name="elsewhere/cifar-10-python.tar.gz")
    monkeypatch.setenv("CIFAR10_PATH", str(env_archive))
    assert data.find_cifar10() == env_archive
    given = make_cifar_archive(name="given/cifar-10-python.tar.gz")
    assert data.find_cifar10(given) == given


def test_nothing_found_lists_places_and_advice(tmp_path, cifar_env, forbid_download) -> None:
    with pytest.raises(FileNotFoundError) as info:
        data.find_cifar10()
    message = str(info.value)
    assert "CIFAR10_PATH" in message
    assert str(cifar_env / FOLDER_NAME) in message
    assert str(tmp_path / "keras_home" / "datasets" / "cifar-10-batches-py.tar.gz") in message
    with pytest.raises(FileNotFoundError, match="download=False"):
        data.load_cifar10(download=False)
    assert not cifar_env.exists()


def test_given_path_missing(tmp_path, forbid_download) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        data.load_cifar10(tmp_path / "nope.tar.gz")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="holds no CIFAR-10 data"):
        data.load_cifar10(tmp_path / "empty")


def test_default_data_dir(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CIFAR10_DATA_DIR", str(tmp_path / "somewhere"))
    assert data.default_data_dir() == tmp_path / "somewhere"
    monkeypatch.delenv("CIFAR10_DATA_DIR")
    checkout = tmp_path / "checkout"
    (checkout / "data").mkdir(parents=True)
    (checkout / "pyproject.toml").write_text("")
    (checkout / "data" / "README.md").write_text("")
    monkeypatch.setattr(data, "_CHECKOUT_ROOT", checkout)
    assert data.default_data_dir() == checkout / "data"
    monkeypatch.setattr(data, "_CHECKOUT_ROOT", tmp_path / "site-packages")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data.default_data_dir() == tmp_path / "home" / ".cache" / "cifar_utils"


def test_this_checkout_uses_its_data_folder(monkeypatch) -> None:
    monkeypatch.delenv("CIFAR10_DATA_DIR")
    root = Path(data.__file__).resolve().parent.parent
    if (root / "data" / "README.md").is_file():
        assert data.default_data_dir() == root / "data"


# --------------------------------------------------------------------------------------
# The extracted cache
# --------------------------------------------------------------------------------------


def _fail_extraction(*args: object, **kwargs: object) -> None:
    raise AssertionError("the archive was extracted again")


def test_second_load_reads_the_cache(make_cifar_archive, monkeypatch) -> None:
    archive = make_cifar_archive(seed=11)
    first = data.load_cifar10(archive)
    monkeypatch.setattr(data, "_extract_archive", _fail_extraction)
    second = data.load_cifar10(archive)
    assert_loaded(second, make_files(n_per_batch=10, n_test=10, seed=11))
    np.testing.assert_array_equal(first[0][0], second[0][0])


def test_old_archive_is_recognised_without_hashing(make_cifar_archive, monkeypatch) -> None:
    archive = make_cifar_archive(seed=12)
    old = 1_500_000_000_000_000_000
    os.utime(archive, ns=(old, old))
    data.load_cifar10(archive)
    monkeypatch.setattr(data, "_extract_archive", _fail_extraction)
    monkeypatch.setattr(data, "_file_sha256", _fail_extraction)
    data.load_cifar10(archive)


def test_a_different_archive_is_never_confused_with_the_cache(make_cifar_archive) -> None:
    # Same path, rewritten with other content; then other paths with equal size and mtime.
    path = make_cifar_archive(seed=13, compress=False, name="a.tar")
    data.load_cifar10(path)
    make_cifar_archive(seed=14, compress=False, name="a.tar")
    assert_loaded(data.load_cifar10(path), make_files(n_per_batch=10, n_test=10, seed=14))
    other = make_cifar_archive(seed=15, compress=False, name="b.tar")
    assert other.stat().st_size == path.stat().st_size
    stat = path.stat()
    os.utime(other, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert_loaded(data.load_cifar10(other), make_files(n_per_batch=10, n_test=10, seed=15))
    assert_loaded(data.load_cifar10(path), make_files(n_per_batch=10, n_test=10, seed=14))


def test_a_copy_of_the_same_archive_reuses_the_cache(make_cifar_archive, monkeypatch) -> None:
    archive = make_cifar_archive(seed=16)
    data.load_cifar10(archive)
    copy = archive.parent / "copy" / "cifar-10-python.tar.gz"
    copy.parent.mkdir()
    copy.write_bytes(archive.read_bytes())
    monkeypatch.setattr(data, "_extract_archive", _fail_extraction)
    assert_loaded(data.load_cifar10(copy), make_files(n_per_batch=10, n_test=10, seed=16))


def test_cache_from_another_archive_is_replaced(make_cifar_archive, cifar_env) -> None:
    # An unmarked folder in the cache (extracted by hand, of other data) is not trusted
    # as the extraction of a given archive.
    make_cifar_archive(folder=True, name="cache", seed=17)
    archive = make_cifar_archive(seed=18, name="other/cifar-10-python.tar.gz")
    assert_loaded(data.load_cifar10(archive), make_files(n_per_batch=10, n_test=10, seed=18))
    assert (cifar_env / FOLDER_NAME / ".cifar_utils_source.json").is_file()
    assert leftovers(cifar_env) == []


def test_data_dir_archive_wins_over_a_cache_of_another_archive(make_cifar_archive, cifar_env):
    elsewhere = make_cifar_archive(seed=19, name="elsewhere/cifar-10-python.tar.gz")
    data.load_cifar10(elsewhere)
    own = make_cifar_archive(seed=20, name="cache/cifar-10-python.tar.gz")
    assert data.find_cifar10() == own
    assert_loaded(data.load_cifar10(), make_files(n_per_batch=10, n_test=10, seed=20))


def test_damaged_cache_says_to_delete_it(make_cifar_archive, cifar_env) -> None:
    archive = make_cifar_archive(seed=21)
    data.load_cifar10(archive)
    batch = cifar_env / FOLDER_NAME / "data_batch_2"
    batch.write_bytes(batch.read_bytes()[:100])
    with pytest.raises(data.CifarDataError, match="Delete the cache folder") as info:
        data.load_cifar10(archive)
    assert str(batch) in str(info.value)


# --------------------------------------------------------------------------------------
# Recognising the official content
# --------------------------------------------------------------------------------------

_REAL_PATH = os.environ.get("CIFAR10_PATH", "")  # read before the fixtures unset it


def _member_sums(**make_files_args) -> dict[str, str]:
    """sha256 of each file the synthetic writer writes for these make_files arguments."""
    files = encode_files(make_files(**make_files_args))
    return {name: hashlib.sha256(content).hexdigest() for name, content in files.items()}


@pytest.fixture
def official_synthetic(monkeypatch) -> dict[str, str]:
    """Make the files of make_cifar_archive()'s default set the "official" ones."""
    sums = _member_sums(n_per_batch=10, n_test=10, seed=0)
    monkeypatch.setattr(data, "OFFICIAL_MEMBER_SHA256", sums)
    return sums


def _marker(cache: Path) -> dict:
    return json.loads((cache / FOLDER_NAME / ".cifar_utils_source.json").read_text())


ALL_MEMBERS = (
    "data_batch_1",
    "data_batch_2",
    "data_batch_3",
    "data_batch_4",
    "data_batch_5",
    "test_batch",
    "batches.meta",
    "readme.html",
)
OTHER_BATCH_2 = make_files(n_per_batch=10, n_test=10, seed=1)["data_batch_2"]


def test_official_member_table() -> None:
    assert tuple(data.OFFICIAL_MEMBER_SHA256) == ALL_MEMBERS
    assert all(
        len(digest) == 64 and int(digest, 16) >= 0
        for digest in data.OFFICIAL_MEMBER_SHA256.values()
    )
    assert len(set(data.OFFICIAL_MEMBER_SHA256.values())) == 8
    assert data.OFFICIAL_MEMBER_SHA256["data_batch_1"] == (
        "54636561a3ce25bd3e19253c6b0d8538147b0ae398331ac4a2d86c6d987368cd"
    )
    with pytest.raises(TypeError):
        data.OFFICIAL_MEMBER_SHA256["data_batch_1"] = "0" * 64  # read-only


def test_synthetic_copies_are_not_official(make_cifar_archive) -> None:
    archive = make_cifar_archive()
    folder = make_cifar_archive(folder=True, name="extracted")
    from_archive = data.compute_content_check(archive)
    from_folder = data.compute_content_check(folder)
    assert from_archive == ("not official", ALL_MEMBERS, (), _sha256(archive))
    assert from_folder == ("not official", ALL_MEMBERS, (), None)
    assert not from_archive.official and not from_folder.official


def test_repackaged_official_files_are_recognised(make_cifar_archive, official_synthetic):
    # The same files in a plain tar, and in a folder: other archive bytes, same content.
    archive = make_cifar_archive()
    plain = make_cifar_archive(compress=False, name="repackaged.tar")
    folder = make_cifar_archive(folder=True, name="extracted")
    assert _sha256(archive) != _sha256(plain)
    for path in (archive, plain):
        check = data.compute_content_check(path)
        assert check == ("official content", (), (), _sha256(path))
        assert check.official
    assert data.compute_content_check(folder) == ("official content", (), (), None)
    assert data.compute_content_check(str(folder)).official


def test_the_official_archive_is_named_as_such(make_cifar_archive, monkeypatch) -> None:
    archive = make_cifar_archive()
    monkeypatch.setattr(data, "OFFICIAL_SHA256", _sha256(archive))
    check = data.compute_content_check(archive)
    assert check.content == "official archive" and check.official


def test_one_different_file_is_named(make_cifar_archive, official_synthetic) -> None:
    archive = make_cifar_archive(files={"data_batch_2": OTHER_BATCH_2})
    folder = make_cifar_archive(folder=True, name="extracted", files={"test_batch": b"x"})
    assert data.compute_content_check(archive)[:3] == ("not official", ("data_batch_2",), ())
    assert data.compute_content_check(folder)[:3] == ("not official", ("test_batch",), ())


def test_missing_files_are_named(make_cifar_archive, official_synthetic, tmp_path) -> None:
    archive = make_cifar_archive(files={"batches.meta": None})
    folder = make_cifar_archive(folder=True, name="extracted", files={"data_batch_3": None})
    assert data.compute_content_check(archive)[:3] == ("not official", (), ("batches.meta",))
    assert data.compute_content_check(folder)[:3] == ("not official", (), ("data_batch_3",))
    # The synthetic writer always adds readme.html: leave it out by hand.
    files = encode_files(make_files(n_per_batch=10, n_test=10))
    del files["readme.html"]
    no_readme = write_tar(tmp_path / "no_readme.tar.gz", archive_members(files))
    assert data.compute_content_check(no_readme)[:3] == ("not official", (), ("readme.html",))


def test_a_file_that_appears_twice_is_not_official(tmp_path, official_synthetic) -> None:
    files = encode_files(make_files(n_per_batch=10, n_test=10))
    members = archive_members(files)
    members.append(file_member(f"{FOLDER_NAME}/readme.html", files["readme.html"]))
    archive = write_tar(tmp_path / "twice.tar.gz", members)
    assert data.compute_content_check(archive)[:3] == ("not official", ("readme.html",), ())


def test_content_check_of_nothing_or_of_a_broken_archive(tmp_path, make_cifar_archive) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        data.compute_content_check(tmp_path / "missing.tar.gz")
    broken = make_cifar_archive()
    broken.write_bytes(broken.read_bytes()[:-100])
    with pytest.raises(data.CifarDataError, match="truncated or corrupt"):
        data.compute_content_check(broken)


MARKED_CASES = {
    "official content": ({}, "official content", [], []),
    "one file differs": ({"data_batch_2": OTHER_BATCH_2}, "not official", ["data_batch_2"], []),
    "meta missing": ({"batches.meta": None}, "not official", [], ["batches.meta"]),
}


@pytest.mark.parametrize("case", MARKED_CASES, ids=list(MARKED_CASES))
def test_extraction_records_the_content_in_one_pass(
    make_cifar_archive, cifar_env, official_synthetic, monkeypatch, case
) -> None:
    files, content, differing, missing = MARKED_CASES[case]
    archive = make_cifar_archive(files=files)
    with monkeypatch.context() as patch:
        # The files are hashed while they are extracted: no second read of anything.
        patch.setattr(data, "_scan_archive", _fail_extraction)
        patch.setattr(data, "_file_sha256", _fail_extraction)
        data.load_cifar10(archive)
    marker = _marker(cifar_env)
    assert marker["sha256"] == _sha256(archive)
    assert (marker["content"], marker["differing"], marker["missing"]) == (
        content,
        differing,
        missing,
    )
    cache = cifar_env / FOLDER_NAME
    recorded = data._cache_content(cache, data._read_marker(cache))
    assert recorded == data.compute_content_check(archive)


def test_extraction_records_the_official_archive(make_cifar_archive, cifar_env, monkeypatch):
    archive = make_cifar_archive()
    monkeypatch.setattr(data, "OFFICIAL_SHA256", _sha256(archive))
    data.load_cifar10(archive)
    assert _marker(cifar_env)["content"] == "official archive"


def test_extraction_records_a_copy_that_is_not_official(make_cifar_archive, cifar_env):
    data.load_cifar10(make_cifar_archive())
    marker = _marker(cifar_env)
    assert (marker["content"], marker["differing"], marker["missing"]) == (
        "not official",
        list(ALL_MEMBERS),
        [],
    )


def test_refreshed_marker_keeps_the_content(make_cifar_archive, cifar_env, official_synthetic):
    archive = make_cifar_archive()
    data.load_cifar10(archive)
    copy = archive.parent / "copy" / "cifar-10-python.tar.gz"
    copy.parent.mkdir()
    copy.write_bytes(archive.read_bytes())
    data.load_cifar10(copy)  # same sha256: the cache is kept and its marker rewritten
    marker = _marker(cifar_env)
    assert marker["archive"] == str(copy.resolve())
    assert (marker["content"], marker["differing"], marker["missing"]) == (
        "official content",
        [],
        [],
    )


def _make_legacy(cache: Path) -> None:
    """Rewrite the cache's marker as a loader from before the content was recorded did."""
    path = cache / FOLDER_NAME / ".cifar_utils_source.json"
    marker = json.loads(path.read_text())
    for key in ("content", "differing", "missing"):
        del marker[key]
    path.write_text(json.dumps(marker))


@pytest.mark.parametrize("official", [True, False])
def test_marker_without_the_content_still_works(
    make_cifar_archive, cifar_env, monkeypatch, official
) -> None:
    archive = make_cifar_archive(seed=0 if official else 1)
    old = 1_500_000_000_000_000_000
    os.utime(archive, ns=(old, old))
    monkeypatch.setattr(data, "OFFICIAL_MEMBER_SHA256", _member_sums(n_per_batch=10, n_test=10))
    data.load_cifar10(archive)
    _make_legacy(cifar_env)
    cache = cifar_env / FOLDER_NAME
    marker = data._read_marker(cache)
    assert marker is not None and data._marker_content(marker) is None
    # Still the cache of this archive: not extracted again.
    with monkeypatch.context() as patch:
        patch.setattr(data, "_extract_archive", _fail_extraction)
        data.load_cifar10(archive)
    # Computed from the extracted files instead; the cache has no readme.html, by design.
    assert not (cache / "readme.html").exists()
    content = data._cache_content(cache, marker)
    if official:
        assert content == ("official content", (), (), _sha256(archive))
    else:
        # Another seed: other images, same batches.meta; readme.html is not in the cache.
        assert content == ("not official", ALL_MEMBERS[:6], (), _sha256(archive))


@pytest.mark.parametrize(
    "damage",
    [
        {"content": "maybe"},
        {"differing": "data_batch_1"},
        {"missing": [1]},
    ],
)
def test_damaged_content_fields_count_as_unknown(make_cifar_archive, cifar_env, damage) -> None:
    data.load_cifar10(make_cifar_archive())
    path = cifar_env / FOLDER_NAME / ".cifar_utils_source.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **damage}))
    marker = data._read_marker(cifar_env / FOLDER_NAME)
    assert marker is not None and data._marker_content(marker) is None


def test_download_still_needs_the_official_archive(
    make_cifar_archive, tmp_path, official_synthetic
):
    # Official content in a repackaged archive is recognised, but never downloaded as the
    # official archive: the download checks the archive's own sha256.
    source = make_cifar_archive(name="mirror/cifar-10-python.tar.gz")
    assert data.compute_content_check(source).content == "official content"
    with pytest.raises(data.ChecksumError, match=data.OFFICIAL_SHA256):
        data.download_cifar10(tmp_path / "target", url=source.as_uri(), progress=False)
    assert not (tmp_path / "target" / "cifar-10-python.tar.gz").exists()


@pytest.mark.real_data
def test_real_archive_holds_the_official_files() -> None:
    check = data.compute_content_check(_REAL_PATH)
    assert check.official, check
    assert check.differing == () and check.missing == ()
    assert check.archive_sha256 == _sha256(Path(_REAL_PATH))


# --------------------------------------------------------------------------------------
# load_batch_ids, split_train_val
# --------------------------------------------------------------------------------------


def test_load_batch_ids(make_cifar_archive) -> None:
    archive = make_cifar_archive(n_per_batch=7)
    ids = data.load_batch_ids(archive)
    assert ids.dtype == np.uint8
    np.testing.assert_array_equal(ids, np.repeat(np.arange(1, 6), 7))
    (x_train, _), _ = data.load_cifar10(archive)
    assert len(ids) == len(x_train)


def test_load_batch_ids_validates_batches(make_cifar_archive) -> None:
    files = make_files(n_per_batch=10, n_test=10)
    files["data_batch_4"][b"labels"][0] = 12
    folder = make_cifar_archive(folder=True, files={"data_batch_4": files["data_batch_4"]})
    with pytest.raises(data.CifarDataError, match="data_batch_4"):
        data.load_batch_ids(folder)


def _labels(n_per_class: int = 20) -> np.ndarray:
    return np.random.default_rng(0).permutation(np.repeat(np.arange(10), n_per_class))


def test_split_train_val_is_stratified_and_seeded() -> None:
    y = _labels()
    x = np.arange(len(y) * 2).reshape(len(y), 2)
    (x_train, y_train), (x_val, y_val) = data.split_train_val(x, y, val_size=50, seed=1)
    assert len(x_val) == len(y_val) == 50 and len(x_train) == len(y_train) == 150
    assert np.bincount(y_val).tolist() == [5] * 10
    # Rows stay paired with their labels, and no row is lost or duplicated.
    np.testing.assert_array_equal(y[x_train[:, 0] // 2], y_train)
    assert sorted(np.concatenate([x_train[:, 0], x_val[:, 0]]).tolist()) == list(range(0, 400, 2))
    again = data.split_train_val(x, y, val_size=50, seed=1)
    np.testing.assert_array_equal(again[1][0], x_val)
    other = data.split_train_val(x, y, val_size=50, seed=2)
    assert not np.array_equal(other[1][0], x_val)


def test_split_train_val_fraction_and_column_labels() -> None:
    y = _labels()[:, None]
    x = np.zeros((len(y), 32, 32, 3), np.uint8)
    (x_train, y_train), (x_val, y_val) = data.split_train_val(x, y, val_size=0.1)
    assert x_val.shape == (20, 32, 32, 3) and y_val.shape == (20, 1)
    assert x_train.shape[0] == 180 and y_train.shape == (180, 1)


@pytest.mark.parametrize(
    ("val_size", "match"),
    [
        (0, "between"),
        (5, "between"),
        (195, "between"),
        (200, "between"),
        (0.0, r"\(0, 1\)"),
        (1.5, r"\(0, 1\)"),
        (True, "int count"),
        ("10", "int count"),
    ],
)
def test_split_train_val_bad_sizes(val_size, match) -> None:
    y = _labels()
    with pytest.raises(ValueError, match=match):
        data.split_train_val(np.zeros(len(y)), y, val_size=val_size)


def test_split_train_val_bad_inputs() -> None:
    y = _labels()
    with pytest.raises(ValueError, match="x has 199 examples but y has 200"):
        data.split_train_val(np.zeros(199), y, val_size=20)
    with pytest.raises(ValueError, match="shape"):
        data.split_train_val(np.zeros(200), np.zeros((200, 2)), val_size=20)
    y_single = y.copy()
    y_single[0] = 10  # class 10 has a single example
    with pytest.raises(ValueError, match="at least 2 per class"):
        data.split_train_val(np.zeros(200), y_single, val_size=20)


def test_compute_load_times(make_cifar_archive, cifar_env, forbid_download) -> None:
    archive = make_cifar_archive()
    times = bench.compute_load_times(archive, repeats=1)
    assert set(times) == {"archive_best_s", "archive_median_s", "cache_best_s", "cache_median_s"}
    assert all(value > 0 for value in times.values())
    assert not cifar_env.exists()  # timed in a temporary cache
    folder_times = bench.compute_load_times(make_cifar_archive(folder=True, name="f"), repeats=1)
    assert set(folder_times) == {"folder_best_s", "folder_median_s"}
    with pytest.raises(ValueError, match="repeats"):
        bench.compute_load_times(archive, repeats=0)


def test_bench_main_prints_a_table(make_cifar_archive, capsys) -> None:
    archive = make_cifar_archive()
    assert bench.main(["--load", "--path", str(archive), "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert "first load from the archive" in out and "load from the extracted cache" in out
    assert bench.main(["--load", "--path", str(archive.parent / "missing")]) == 1
    assert "does not exist" in capsys.readouterr().err


# --------------------------------------------------------------------------------------
# Download
# --------------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def local_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An http.server on 127.0.0.1 serving tmp_path/served; yields (base URL, folder)."""
    served = tmp_path / "served"
    served.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(served), **kwargs)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", served
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_download_from_file_url(make_cifar_archive, tmp_path) -> None:
    source = make_cifar_archive(name="source/archive.tar.gz")
    target_dir = tmp_path / "target"
    path = data.download_cifar10(
        target_dir, url=source.as_uri(), sha256=_sha256(source), progress=False
    )
    assert path == target_dir / "cifar-10-python.tar.gz"
    assert path.read_bytes() == source.read_bytes()
    assert sorted(os.listdir(target_dir)) == ["cifar-10-python.tar.gz"]


def test_download_from_local_http_server(make_cifar_archive, tmp_path, local_server, capsys):
    base_url, _ = local_server
    source = make_cifar_archive(name="served/cifar-10-python.tar.gz")
    path = data.download_cifar10(
        tmp_path / "target", url=f"{base_url}/cifar-10-python.tar.gz", sha256=_sha256(source)
    )
    assert path.read_bytes() == source.read_bytes()
    assert "cifar-10-python.tar.gz" in capsys.readouterr().err  # the progress bar


def test_download_skips_a_verified_existing_file(make_cifar_archive, tmp_path, forbid_download):
    archive = make_cifar_archive(name="target/cifar-10-python.tar.gz")
    assert data.download_cifar10(archive.parent, sha256=_sha256(archive)) == archive


def test_load_downloads_when_nothing_is_found(make_cifar_archive, cifar_env, monkeypatch):
    source = make_cifar_archive(name="mirror/cifar-10-python.tar.gz", seed=22)
    monkeypatch.setattr(data, "OFFICIAL_URL", source.as_uri())
    monkeypatch.setattr(data, "OFFICIAL_SHA256", _sha256(source))
    assert_loaded(data.load_cifar10(), make_files(n_per_batch=10, n_test=10, seed=22))
    assert (cifar_env / "cifar-10-python.tar.gz").read_bytes() == source.read_bytes()
    assert leftovers(cifar_env) == ["cifar-10-python.tar.gz"]


def test_wrong_hash_leaves_nothing(make_cifar_archive, cifar_env, monkeypatch) -> None:
    source = make_cifar_archive(name="mirror/cifar-10-python.tar.gz")
    target_dir = cifar_env / "target"
    with pytest.raises(data.ChecksumError, match="sha256") as info:
        data.download_cifar10(target_dir, url=source.as_uri(), progress=False)
    assert data.OFFICIAL_SHA256 in str(info.value)
    assert os.listdir(target_dir) == []
    # Through load_cifar10: nothing left that a later call would trust.
    monkeypatch.setattr(data, "OFFICIAL_URL", source.as_uri())
    with pytest.raises(data.ChecksumError):
        data.load_cifar10()
    assert leftovers(cifar_env) == ["target"]
    assert not (cifar_env / FOLDER_NAME).exists()
    with pytest.raises(FileNotFoundError):
        data.find_cifar10()


def test_network_error_gives_advice(cifar_env, monkeypatch) -> None:
    def offline(url, timeout):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(data, "_open_url", offline)
    with pytest.raises(OSError, match="CIFAR10_PATH") as info:
        data.load_cifar10()
    assert "offline" in str(info.value)
    assert not isinstance(info.value, data.CifarDataError)
    assert os.listdir(cifar_env) == []


def test_interrupted_download_leaves_nothing(tmp_path, local_server, monkeypatch) -> None:
    base_url, served = local_server
    (served / "short.tar.gz").write_bytes(b"x" * 1000)

    class Truncated(io.BytesIO):
        headers: ClassVar[dict[str, str]] = {"Content-Length": "5000"}

        def read(self, size=-1):
            chunk = super().read(size)
            if not chunk:
                raise ConnectionResetError("connection reset by peer")
            return chunk

    target_dir = tmp_path / "target"
    # A short file from a real server, and a response that fails mid-stream.
    with pytest.raises(data.ChecksumError):
        data.download_cifar10(target_dir, url=f"{base_url}/short.tar.gz", progress=False)
    assert os.listdir(target_dir) == []
    monkeypatch.setattr(data, "_open_url", lambda url, timeout: Truncated(b"y" * 1000))
    with pytest.raises(OSError, match="could not download"):
        data.download_cifar10(target_dir, progress=False)
    assert os.listdir(target_dir) == []


# --------------------------------------------------------------------------------------
# Bad inputs: one test each
# --------------------------------------------------------------------------------------


def test_corrupt_gzip(tmp_path, cifar_env) -> None:
    archive = tmp_path / "cifar-10-python.tar.gz"
    archive.write_bytes(b"\x1f\x8b\x08\x00" + bytes(range(256)) * 20)
    with pytest.raises(data.CifarDataError, match=r"cifar-10-python\.tar\.gz") as info:
        data.load_cifar10(archive)
    assert "CIFAR10_PATH" in str(info.value)
    assert leftovers(cifar_env) == [] and not (cifar_env / FOLDER_NAME).exists()


def test_gzip_crc_mismatch_is_caught(make_cifar_archive, cifar_env) -> None:
    archive = make_cifar_archive()
    raw = bytearray(archive.read_bytes())
    raw[-8] ^= 0xFF  # the stored CRC32
    archive.write_bytes(bytes(raw))
    with pytest.raises(data.CifarDataError, match="CRC"):
        data.load_cifar10(archive)
    assert not (cifar_env / FOLDER_NAME).exists()


@pytest.mark.parametrize("compress", [True, False])
@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9])
def test_truncated_archive(make_cifar_archive, cifar_env, compress, fraction) -> None:
    archive = make_cifar_archive(compress=compress)
    raw = archive.read_bytes()
    archive.write_bytes(raw[: int(len(raw) * fraction)])
    with pytest.raises(data.CifarDataError, match="truncated or corrupt"):
        data.load_cifar10(archive)
    assert leftovers(cifar_env) == [] and not (cifar_env / FOLDER_NAME).exists()


def test_not_an_archive(tmp_path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    with pytest.raises(data.CifarDataError, match="not a valid"):
        data.load_cifar10(path)


def test_missing_batch_in_archive(make_cifar_archive, cifar_env) -> None:
    archive = make_cifar_archive(files={"data_batch_3": None})
    with pytest.raises(data.CifarDataError, match="data_batch_3"):
        data.load_cifar10(archive)
    assert leftovers(cifar_env) == [] and not (cifar_env / FOLDER_NAME).exists()


def test_archive_in_another_layout(tmp_path) -> None:
    files = encode_files(make_files(n_per_batch=10, n_test=10))
    archive = write_tar(tmp_path / "flat.tar.gz", [file_member(n, c) for n, c in files.items()])
    with pytest.raises(data.CifarDataError, match="cifar-10-batches-py/data_batch_1"):
        data.load_cifar10(archive)


def test_missing_batch_in_folder(make_cifar_archive) -> None:
    folder = make_cifar_archive(folder=True, files={"test_batch": None, "data_batch_5": None})
    with pytest.raises(FileNotFoundError, match="data_batch_5, test_batch"):
        data.load_cifar10(folder)


def _batch_with(**changes):
    """data_batch_1 of the default small set with keys replaced (None removes a key)."""
    batch = dict(make_files(n_per_batch=10, n_test=10)["data_batch_1"])
    for key, value in changes.items():
        if value is None:
            batch.pop(key.encode())
        else:
            batch[key.encode()] = value
    return batch


BAD_BATCHES = {
    "data 3071 wide": (_batch_with(data=np.zeros((10, 3071), np.uint8)), r"shape \(n, 3072\)"),
    "data float": (_batch_with(data=np.zeros((10, 3072), np.float32)), "uint8"),
    "data 3-d": (_batch_with(data=np.zeros((10, 3, 1024), np.uint8)), "uint8 array of shape"),
    "no images": (_batch_with(data=np.zeros((0, 3072), np.uint8), labels=[]), "n >= 1"),
    "data a list": (_batch_with(data=[1, 2, 3]), "found a list"),
    "labels short": (_batch_with(labels=list(range(9))), "10 images but 9 labels"),
    "labels long": (_batch_with(labels=[0] * 11), "10 images but 11 labels"),
    "label 10": (_batch_with(labels=[10] + [0] * 9), "outside 0-9"),
    "label -1": (_batch_with(labels=[0] * 9 + [-1]), "outside 0-9"),
    "labels float": (_batch_with(labels=[0.5] * 10), "must be integers"),
    "labels nested": (_batch_with(labels=[[0]] * 10), "flat list"),
    "labels a dict": (_batch_with(labels={0: 1}), "flat list"),
    "no labels key": (_batch_with(labels=None), "missing key"),
    "no data key": (_batch_with(data=None), "missing key"),
    "not a dict": ([1, 2, 3], "expected a pickled dict"),
    "not a pickle": (b"this is not a pickle", "not a readable CIFAR-10 pickle"),
    "empty file": (b"", "not a readable CIFAR-10 pickle"),
}


@pytest.mark.parametrize("case", list(BAD_BATCHES))
def test_bad_batch_in_folder(make_cifar_archive, case) -> None:
    content, match = BAD_BATCHES[case]
    folder = make_cifar_archive(folder=True, files={"data_batch_2": content})
    with pytest.raises(data.CifarDataError, match=match) as info:
        data.load_cifar10(folder)
    assert str(folder / "data_batch_2") in str(info.value)


def test_bad_batch_in_archive_is_not_cached(make_cifar_archive, cifar_env) -> None:
    content, _ = BAD_BATCHES["label 10"]
    archive = make_cifar_archive(files={"test_batch": content})
    with pytest.raises(data.CifarDataError, match="member cifar-10-batches-py/test_batch"):
        data.load_cifar10(archive)
    assert leftovers(cifar_env) == [] and not (cifar_env / FOLDER_NAME).exists()


def test_bad_meta(make_cifar_archive) -> None:
    meta = {b"label_names": [b"apple", b"aquarium_fish"], b"num_vis": 3072}
    folder = make_cifar_archive(folder=True, files={"batches.meta": meta})
    with pytest.raises(data.CifarDataError, match="not the CIFAR-10 python version"):
        data.load_cifar10(folder)


def test_meta_is_optional(make_cifar_archive) -> None:
    folder = make_cifar_archive(folder=True, files={"batches.meta": None})
    assert_loaded(data.load_cifar10(folder), make_files(n_per_batch=10, n_test=10))


class _RunsCode:
    """Pickles to a call of `function(*args)`: what an attacker would put in a batch file."""

    def __init__(self, function, *args):
        self.function, self.args = function, args

    def __reduce__(self):
        return self.function, self.args


def _evil_payloads(marker: Path) -> dict[str, object]:
    create = f"open({str(marker)!r}, 'w').close()"
    return {
        "exec": _RunsCode(exec, create),
        "os.system": _RunsCode(os.system, f"touch {marker}"),
        "subprocess": _RunsCode(subprocess.call, ["touch", str(marker)]),
        "nested in the dict": {b"data": _RunsCode(exec, create), b"labels": []},
    }


@pytest.mark.parametrize("payload", ["exec", "os.system", "subprocess", "nested in the dict"])
@pytest.mark.parametrize("container", ["folder", "archive"])
def test_pickle_that_runs_code_is_refused(
    make_cifar_archive, tmp_path, cifar_env, payload, container
) -> None:
    marker = tmp_path / "code_ran"
    evil = dumps_py2(_evil_payloads(marker)[payload])
    # The payload really runs with a plain unpickler (so the test would catch a leak)...
    pickle.loads(evil)
    assert marker.exists()
    marker.unlink()
    # ...and is refused by the loader, before running.
    path = make_cifar_archive(folder=container == "folder", files={"data_batch_1": evil})
    with pytest.raises(data.CifarDataError, match="refused to load the Python object") as info:
        data.load_cifar10(path)
    message = str(info.value)
    assert "data_batch_1" in message and "Nothing was run" in message
    # (a protocol-2 pickle spells subprocess.call as Python 2's commands.call)
    assert any(name in message for name in ("builtins.exec", "system", "commands.call"))
    assert not marker.exists()
    assert not (cifar_env / FOLDER_NAME).exists()


def _member(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    return info


BAD_MEMBERS = {
    "dot-dot": (file_member(f"{FOLDER_NAME}/../../escaped.txt", b"pwned"), "'..'"),
    "leading dot-dot": (file_member("../escaped.txt", b"pwned"), "'..'"),
    "absolute": (file_member("/tmp/cifar_utils_test_escaped.txt", b"pwned"), "absolute"),
    "symlink out": (_member(f"{FOLDER_NAME}/link", tarfile.SYMTYPE, "../../.."), "points outside"),
    "symlink absolute": (_member(f"{FOLDER_NAME}/l", tarfile.SYMTYPE, "/etc/passwd"), "outside"),
    "hardlink out": (_member(f"{FOLDER_NAME}/h", tarfile.LNKTYPE, "../escaped.txt"), "outside"),
    "char device": (_member(f"{FOLDER_NAME}/tty", tarfile.CHRTYPE), "devices"),
    "block device": (_member(f"{FOLDER_NAME}/sda", tarfile.BLKTYPE), "devices"),
    "fifo": (_member(f"{FOLDER_NAME}/pipe", tarfile.FIFOTYPE), "pipes"),
    "batch is a symlink": (
        _member(f"{FOLDER_NAME}/data_batch_1", tarfile.SYMTYPE, "readme.html"),
        "not a regular file",
    ),
}


@pytest.mark.parametrize("position", ["first", "last"])
@pytest.mark.parametrize("case", list(BAD_MEMBERS))
def test_dangerous_tar_member_is_refused(tmp_path, cifar_env, case, position) -> None:
    bad, match = BAD_MEMBERS[case]
    files = encode_files(make_files(n_per_batch=10, n_test=10))
    if case == "batch is a symlink":
        files.pop("data_batch_1")
    members = archive_members(files)
    members = [bad, *members] if position == "first" else [*members, bad]
    archive = write_tar(tmp_path / "archives" / "evil.tar.gz", members)
    cifar_env.mkdir()
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(data.CifarDataError, match=match) as info:
        data.load_cifar10(archive)
    assert "refused archive member" in str(info.value) or "not a regular" in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert not (tmp_path / "escaped.txt").exists()
    assert not Path("/tmp/cifar_utils_test_escaped.txt").exists()
    assert leftovers(cifar_env) == [] and not (cifar_env / FOLDER_NAME).exists()


def test_duplicate_member_is_refused(tmp_path) -> None:
    files = encode_files(make_files(n_per_batch=10, n_test=10))
    members = [*archive_members(files), file_member(f"{FOLDER_NAME}/data_batch_1", b"other")]
    archive = write_tar(tmp_path / "dup.tar.gz", members)
    with pytest.raises(data.CifarDataError, match="appears twice"):
        data.load_cifar10(archive)


def test_oversized_member_is_refused_before_it_is_written(tmp_path, cifar_env, monkeypatch) -> None:
    """A gzip bomb: a member declaring far more bytes than any CIFAR-10 batch."""
    files = encode_files(make_files(n_per_batch=10, n_test=10))
    archive = write_tar(tmp_path / "bomb.tar.gz", archive_members(files))
    largest = max(len(content) for content in files.values())
    monkeypatch.setattr(data, "_MAX_MEMBER_BYTES", largest - 1)
    cifar_env.mkdir()
    with pytest.raises(data.CifarDataError, match="far larger than a CIFAR-10 batch"):
        data.load_cifar10(archive)
    assert leftovers(cifar_env) == [] and not (cifar_env / FOLDER_NAME).exists()
    monkeypatch.setattr(data, "_MAX_MEMBER_BYTES", largest)  # at the limit: accepted
    (x_train, _), _ = data.load_cifar10(archive)
    assert len(x_train) == 50


def test_cache_folder_that_cannot_be_created_says_what_to_do(
    tmp_path, cifar_env, monkeypatch, synthetic_archive
) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("CIFAR10_DATA_DIR", str(blocker / "cache"))
    with pytest.raises(
        OSError, match=r"cannot create the CIFAR-10 cache folder .*a_file/cache"
    ) as info:
        data.load_cifar10(synthetic_archive)
    assert "Set CIFAR10_DATA_DIR to a folder you can write to" in str(info.value)


def test_harmless_extra_members_are_skipped(tmp_path) -> None:
    files = make_files(n_per_batch=10, n_test=10)
    extra = [
        file_member("__MACOSX/._data_batch_1", b"resource fork"),
        _member(f"{FOLDER_NAME}/latest", tarfile.SYMTYPE, "data_batch_5"),
        file_member(f"./{FOLDER_NAME}/notes.txt", b"hello"),
    ]
    archive = write_tar(tmp_path / "extra.tar.gz", [*archive_members(encode_files(files)), *extra])
    assert_loaded(data.load_cifar10(archive), files)


# --------------------------------------------------------------------------------------
# Property tests: damaged input only ever gives CifarDataError / FileNotFoundError
# --------------------------------------------------------------------------------------


def _load_or_data_error(path: Path) -> None:
    try:
        (x_train, y_train), (x_test, y_test) = data.load_cifar10(path, download=False)
    except ALL_ERRORS:
        return
    # Loaded: then it must be well-formed.
    for x, y in ((x_train, y_train), (x_test, y_test)):
        assert x.dtype == np.uint8 and x.shape[1:] == (32, 32, 3) and len(x) == len(y) > 0
        assert y.dtype == np.int64 and y.min() >= 0 and y.max() <= 9


@HYPOTHESIS
@given(content=st.binary(max_size=4096))
def test_random_bytes_as_archive(content: bytes) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "cifar-10-python.tar.gz"
        path.write_bytes(content)
        with pytest.raises(ALL_ERRORS):
            data.load_cifar10(path, download=False)


@HYPOTHESIS
@given(content=st.binary(max_size=4096))
def test_random_bytes_after_a_gzip_header(content: bytes) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "cifar-10-python.tar.gz"
        path.write_bytes(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + content)
        with pytest.raises(ALL_ERRORS):
            data.load_cifar10(path, download=False)


_TINY_FILES = make_files(n_per_batch=2, n_test=2)


def _tiny_archive(compress: bool) -> bytes:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "tiny"
        return write_tar(
            path, archive_members(encode_files(_TINY_FILES)), compress=compress
        ).read_bytes()


_TINY_GZ = _tiny_archive(compress=True)
_TINY_TAR = _tiny_archive(compress=False)


def _mutate(original: bytes, edits: list[tuple[int, int]], cut: int | None) -> bytes:
    mutated = bytearray(original)
    for position, value in edits:
        mutated[position % len(mutated)] = value
    return bytes(mutated[:cut] if cut is not None else mutated)


_EDITS = st.lists(st.tuples(st.integers(0, 2**31), st.integers(0, 255)), min_size=1, max_size=8)


@HYPOTHESIS
@given(edits=_EDITS, cut=st.none() | st.integers(0, len(_TINY_GZ)), compress=st.booleans())
def test_mutated_archive(edits, cut, compress) -> None:
    original = _TINY_GZ if compress else _TINY_TAR
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "cifar-10-python.tar.gz"
        path.write_bytes(_mutate(original, edits, cut))
        _load_or_data_error(path)


_TINY_PICKLES = {name: dumps_py2(content) for name, content in _TINY_FILES.items()}


@HYPOTHESIS
@given(
    name=st.sampled_from(sorted(_TINY_PICKLES)),
    edits=_EDITS,
    cut=st.none() | st.integers(0, 200),
    header_only=st.booleans(),
)
def test_mutated_pickle(name, edits, cut, header_only) -> None:
    original = _TINY_PICKLES[name]
    if header_only:  # hit the opcodes around the dict keys and numpy globals, not pixels
        edits = [(position % 160, value) for position, value in edits]
    with tempfile.TemporaryDirectory() as directory:
        folder = Path(directory) / FOLDER_NAME
        folder.mkdir()
        for file_name, content in _TINY_PICKLES.items():
            (folder / file_name).write_bytes(content)
        (folder / name).write_bytes(_mutate(original, edits, cut))
        _load_or_data_error(folder)


# A cache extracted for another archive is not used silently ----------------------------


def test_cache_of_a_copy_that_is_not_official_is_not_used_without_asking(
    make_cifar_archive, cifar_env, monkeypatch, forbid_download
):
    """`make test` once extracted the tests' synthetic archive into the user's cache, and a
    later `make run` trained on it as if it were CIFAR-10 (issue 14, point 10)."""
    synthetic = make_cifar_archive()
    monkeypatch.setenv("CIFAR10_PATH", str(synthetic))
    data.load_cifar10()  # extracts into the cache, on behalf of $CIFAR10_PATH
    assert (cifar_env / FOLDER_NAME).is_dir()
    monkeypatch.delenv("CIFAR10_PATH")

    with pytest.raises(FileNotFoundError, match="CIFAR-10 was not found") as caught:
        data.find_cifar10()
    message = str(caught.value)
    assert f"{cifar_env / FOLDER_NAME} was ignored" in message
    assert f"set CIFAR10_PATH={synthetic.resolve()}" in message
    # Asked for by path, the same copy is still used.
    assert data.find_cifar10(synthetic) == synthetic


def test_cache_of_another_copy_of_the_official_files_is_used(
    make_cifar_archive, cifar_env, monkeypatch, official_synthetic
):
    archive = make_cifar_archive()  # "official" content under the injected table
    monkeypatch.setenv("CIFAR10_PATH", str(archive))
    data.load_cifar10()
    monkeypatch.delenv("CIFAR10_PATH")
    assert data.find_cifar10() == cifar_env / FOLDER_NAME


def test_cache_with_an_old_marker_is_judged_by_its_files(
    make_cifar_archive, cifar_env, monkeypatch, forbid_download
):
    monkeypatch.setenv("CIFAR10_PATH", str(make_cifar_archive()))
    data.load_cifar10()
    monkeypatch.delenv("CIFAR10_PATH")
    marker_path = cifar_env / FOLDER_NAME / ".cifar_utils_source.json"
    marker = json.loads(marker_path.read_text())
    for key in ("content", "differing", "missing"):
        del marker[key]  # as written before the content was recorded
    marker_path.write_text(json.dumps(marker))
    with pytest.raises(FileNotFoundError, match="was ignored"):
        data.find_cifar10()
    # The same files, when they are the official ones, are used.
    monkeypatch.setattr(data, "OFFICIAL_MEMBER_SHA256", _member_sums(n_per_batch=10, n_test=10))
    assert data.find_cifar10() == cifar_env / FOLDER_NAME


def test_cache_folder_put_there_by_hand_is_used(make_cifar_archive, cifar_env):
    folder = make_cifar_archive(folder=True)
    cifar_env.mkdir()
    folder.rename(cifar_env / FOLDER_NAME)
    assert data.find_cifar10() == cifar_env / FOLDER_NAME
