"""Tests for cifar_utils.predict: photo loading (formats, modes, EXIF, bad files), top-k, CLI.

Every image is written by Pillow into tmp_path; nothing here reads the dataset.
"""

from __future__ import annotations

import dataclasses
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from cifar_utils import data, predict

RED = (230, 20, 20)
BLUE = (20, 20, 230)


def _halves(width: int, height: int) -> Image.Image:
    """An RGB image whose left half is red and right half blue."""
    pixels = np.empty((height, width, 3), dtype=np.uint8)
    pixels[:, : width // 2] = RED
    pixels[:, width // 2 :] = BLUE
    return Image.fromarray(pixels)


def _close(color, expected, tolerance=40) -> bool:
    return bool(np.all(np.abs(np.asarray(color, dtype=int) - expected) <= tolerance))


# Formats and modes ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("suffix", "save_kwargs"),
    [
        (".jpg", {"quality": 95}),
        (".png", {}),
        (".gif", {}),
        (".webp", {"quality": 95}),
        (".bmp", {}),
    ],
)
def test_load_photo_formats(tmp_path, suffix, save_kwargs):
    path = tmp_path / f"photo{suffix}"
    _halves(80, 60).save(path, **save_kwargs)

    photo = predict.load_photo(path)

    assert photo.dtype == np.uint8
    assert photo.shape == (32, 32, 3)
    assert _close(photo[16, 2], RED)  # centre crop keeps the left/right halves
    assert _close(photo[16, 29], BLUE)


def test_load_photo_size_parameter(tmp_path):
    path = tmp_path / "photo.png"
    _halves(50, 50).save(path)
    assert predict.load_photo(path, size=8).shape == (8, 8, 3)


@pytest.mark.parametrize(
    ("mode", "suffix"),
    [
        ("L", ".png"),
        ("LA", ".png"),
        ("P", ".png"),
        ("1", ".png"),
        ("CMYK", ".jpg"),
        ("YCbCr", ".tif"),
        ("LAB", ".tif"),
        ("I", ".tif"),
        ("F", ".tif"),
    ],
)
def test_load_photo_any_mode_gives_rgb(tmp_path, mode, suffix):
    source = _halves(40, 40)
    if mode == "1":  # black and white: make the halves white and black
        is_red = np.all(np.asarray(source) == RED, axis=-1)
        source = Image.fromarray(np.where(is_red, 255, 0).astype(np.uint8))
    path = tmp_path / f"photo{suffix}"
    if mode == "P":  # an adaptive palette holds both colours exactly, without dithering
        source.convert(mode, palette=Image.Palette.ADAPTIVE, colors=4).save(path)
    else:
        source.convert(mode).save(path)
    with Image.open(path) as stored:
        assert stored.mode == mode  # the file really has that mode
        # Pillow's own I -> RGB conversion clips wrongly: compare those with the grey values.
        expected = np.asarray(
            source.convert("L").convert("RGB") if mode in {"I", "F"} else stored.convert("RGB")
        )

    photo = predict.load_photo(path)

    assert photo.shape == (32, 32, 3) and photo.dtype == np.uint8
    assert _close(photo[16, 1], expected[20, 1], tolerance=12)
    assert _close(photo[16, 30], expected[20, 38], tolerance=12)


def test_load_photo_float_image_in_0_to_1(tmp_path):
    path = tmp_path / "float.tif"
    Image.fromarray(np.full((16, 16), 0.5, dtype=np.float32), mode="F").save(path)
    np.testing.assert_array_equal(predict.load_photo(path)[0, 0], (128, 128, 128))


def test_load_photo_rgba_is_composited_on_white(tmp_path):
    pixels = np.zeros((32, 32, 4), dtype=np.uint8)
    pixels[:, :16] = (*RED, 255)  # opaque red on the left
    pixels[:, 16:] = (0, 0, 0, 0)  # fully transparent black on the right
    path = tmp_path / "logo.png"
    Image.fromarray(pixels, mode="RGBA").save(path)

    photo = predict.load_photo(path)

    np.testing.assert_array_equal(photo[10, 5], RED)
    np.testing.assert_array_equal(photo[10, 28], (255, 255, 255))  # not black


def test_load_photo_palette_with_transparency(tmp_path):
    image = Image.new("P", (32, 32), 0)
    image.putpalette([0, 0, 0, *RED] + [0] * (256 - 2) * 3)
    image.paste(1, (0, 0, 16, 32))
    path = tmp_path / "sticker.gif"
    image.save(path, transparency=0)

    photo = predict.load_photo(path)

    np.testing.assert_array_equal(photo[5, 3], RED)
    np.testing.assert_array_equal(photo[5, 30], (255, 255, 255))


def test_load_photo_16_bit_is_scaled_not_clipped(tmp_path):
    values = np.full((32, 32), 65535, dtype=np.uint16)
    values[:, 16:] = 32896  # 128 * 257: mid grey in 16 bits
    path = tmp_path / "scan16.png"
    Image.fromarray(values).save(path)
    with Image.open(path) as check:
        assert check.mode == "I;16"

    photo = predict.load_photo(path)

    np.testing.assert_array_equal(photo[8, 4], (255, 255, 255))
    np.testing.assert_array_equal(photo[8, 28], (128, 128, 128))  # clipping would give 255


def test_load_photo_uses_first_gif_frame(tmp_path):
    frames = [Image.new("RGB", (32, 32), color) for color in (RED, BLUE)]
    path = tmp_path / "animation.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert _close(predict.load_photo(path)[16, 16], RED)


@pytest.mark.parametrize("width", [40, 2400])  # 2400 x 1200: decoded at a reduced scale
def test_load_photo_honours_exif_orientation(tmp_path, width):
    # Stored 2:1 wide: red left, blue right. Orientation 6 says "rotate 90 degrees
    # clockwise to display", so the photo as seen is 1:2 tall with red on top, blue below.
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "phone.jpg"
    _halves(width, width // 2).save(path, exif=exif, quality=95)

    photo = predict.load_photo(path)

    assert _close(photo[2, 16], RED)
    assert _close(photo[29, 16], BLUE)
    assert _close(photo[16, 2], photo[16, 29], tolerance=10)  # left and right now alike


def test_load_photo_letterbox_keeps_the_whole_photo(tmp_path):
    path = tmp_path / "wide.png"
    Image.new("RGB", (64, 32), RED).save(path)

    boxed = predict.load_photo(path, mode="letterbox")
    cropped = predict.load_photo(path, mode="center_crop")

    np.testing.assert_array_equal(boxed[0, 16], predict.BACKGROUND)  # bar at the top
    np.testing.assert_array_equal(boxed[31, 16], predict.BACKGROUND)  # and the bottom
    np.testing.assert_array_equal(boxed[16, 0], RED)  # full width kept
    assert np.all(cropped == RED)


# Bad files -----------------------------------------------------------------------------


def test_load_photo_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nothere\.jpg"):
        predict.load_photo(tmp_path / "nothere.jpg")


def test_load_photo_empty_file(tmp_path):
    path = tmp_path / "empty.jpg"
    path.touch()
    with pytest.raises(ValueError, match=r"empty\.jpg: the file is empty"):
        predict.load_photo(path)


def test_load_photo_not_an_image(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("this is not a photo\n")
    with pytest.raises(ValueError, match=r"notes\.jpg: not an image file.*JPEG, PNG"):
        predict.load_photo(path)


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_load_photo_truncated_file(tmp_path, suffix):
    buffer = io.BytesIO()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(
        buffer, format="JPEG" if suffix == ".jpg" else "PNG"
    )
    path = tmp_path / f"cut{suffix}"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(ValueError, match=rf"cut\{suffix}: the image file is broken"):
        predict.load_photo(path)


@pytest.mark.parametrize("side", [12, 20])  # 144 pixels: Pillow warns; 400 (> 2x): it refuses
def test_load_photo_refuses_decompression_bombs(tmp_path, monkeypatch, side):
    path = tmp_path / "bomb.png"
    Image.new("RGB", (side, side)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with pytest.raises(ValueError, match=r"bomb\.png: refused to open, the image is too large"):
        predict.load_photo(path)


def test_load_photo_folder_and_bad_arguments(tmp_path):
    path = tmp_path / "photo.png"
    _halves(8, 8).save(path)
    with pytest.raises(ValueError, match="folder"):
        predict.load_photo(tmp_path)
    with pytest.raises(ValueError, match="mode must be one of"):
        predict.load_photo(path, mode="stretch")
    with pytest.raises(ValueError, match="size"):
        predict.load_photo(path, size=0)


def test_load_photos_reports_bad_files_and_keeps_going(tmp_path):
    _halves(40, 40).save(tmp_path / "b_good.png")
    (tmp_path / "a_broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    (tmp_path / "README.md").write_text("# photos\n")
    (tmp_path / ".DS_Store").write_bytes(b"\x00")
    (tmp_path / "sub").mkdir()
    _halves(40, 40).convert("L").save(tmp_path / "C_grey.JPG")

    results = predict.load_photos(tmp_path)

    assert [path.name for path, _ in results] == ["a_broken.jpg", "b_good.png", "C_grey.JPG"]
    error = results[0][1]
    assert isinstance(error, ValueError) and "a_broken.jpg" in str(error)
    assert "\n" not in str(error)  # one line in the notebook
    for _, photo in results[1:]:
        assert isinstance(photo, np.ndarray) and photo.shape == (32, 32, 3)


def test_load_photos_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="create it"):
        predict.load_photos(tmp_path / "photos")
    with pytest.raises(ValueError, match="mode"):
        predict.load_photos(tmp_path, mode="zoom")


# predict_top_k -------------------------------------------------------------------------


class _FixedModel:
    """Returns the given softmax rows and remembers what it was called with."""

    def __init__(self, rows):
        self.rows = np.asarray(rows, dtype=np.float32)
        self.inputs = None

    def predict(self, x, verbose=0):
        self.inputs = x
        return self.rows[: len(x)]


def _rows(*tops):
    """Softmax-like rows over 10 classes: class i gets probability p, the rest share 1 - p."""
    rows = []
    for index, probability in tops:
        row = np.full(10, (1 - probability) / 9)
        row[index] = probability
        rows.append(row)
    return np.array(rows)


def _batch(count):
    return np.random.default_rng(0).integers(0, 256, (count, 32, 32, 3), dtype=np.uint8)


def test_predict_top_k_orders_classes_and_normalizes_inputs():
    row = np.array([0.05, 0.6, 0.0, 0.25, 0.0, 0.1, 0.0, 0.0, 0.0, 0.0])
    model = _FixedModel([row])
    images = _batch(1)

    (prediction,) = predict.predict_top_k(model, images)

    assert prediction.top_classes == (
        data.CLASS_NAMES[1],
        data.CLASS_NAMES[3],
        data.CLASS_NAMES[5],
    )
    assert prediction.top_probabilities == pytest.approx((0.6, 0.25, 0.1))
    assert prediction.unsure is False
    assert prediction.reason == "top probability 0.60 >= 0.50"
    np.testing.assert_allclose(model.inputs, data.normalize(images))  # same preprocessing


def test_predict_top_k_flags_unsure_predictions():
    model = _FixedModel(_rows((0, 0.31), (9, 0.99)))
    unsure, sure = predict.predict_top_k(model, _batch(2), k=2)
    assert unsure.unsure and not sure.unsure
    assert unsure.reason == (
        "top probability 0.31 < 0.50: the model is unsure; "
        "the photo may show none of the ten classes"
    )
    assert len(unsure.top_classes) == len(unsure.top_probabilities) == 2
    assert sure.top_classes[0] == data.CLASS_NAMES[9]
    (strict,) = predict.predict_top_k(_FixedModel(_rows((9, 0.99))), _batch(1), min_confidence=1)
    assert strict.unsure


def test_predict_top_k_single_image_and_custom_names():
    names = tuple("abcdefghij")
    model = _FixedModel(_rows((4, 0.7)))
    (prediction,) = predict.predict_top_k(model, _batch(1)[0], k=1, class_names=names)
    assert prediction.top_classes == ("e",)
    with pytest.raises(dataclasses.FrozenInstanceError):
        prediction.unsure = True  # type: ignore[misc]


def test_predict_top_k_rejects_bad_input():
    model = _FixedModel(_rows((0, 0.9)))
    with pytest.raises(ValueError, match="raw uint8"):
        predict.predict_top_k(model, _batch(1).astype(np.float32) / 255)
    with pytest.raises(ValueError, match=r"\(N, H, W, 3\)"):
        predict.predict_top_k(model, np.zeros((1, 32, 32), dtype=np.uint8))
    with pytest.raises(ValueError, match="k must be between 1 and 10"):
        predict.predict_top_k(model, _batch(1), k=11)
    with pytest.raises(ValueError, match="min_confidence"):
        predict.predict_top_k(model, _batch(1), min_confidence=50)


def test_predict_top_k_rejects_outputs_that_are_not_probabilities():
    logits = _FixedModel([np.linspace(-3, 3, 10)])
    with pytest.raises(ValueError, match="softmax"):
        predict.predict_top_k(logits, _batch(1))
    wrong_classes = _FixedModel([np.full(5, 0.2)])
    with pytest.raises(ValueError, match=r"expected \(1, 10\)"):
        predict.predict_top_k(wrong_classes, _batch(1))


def test_predict_top_k_with_a_tiny_keras_model(pooled_classifier):
    import keras

    keras.utils.set_random_seed(0)
    model = pooled_classifier()
    predictions = predict.predict_top_k(model, _batch(3), k=3)
    assert len(predictions) == 3
    for prediction in predictions:
        assert set(prediction.top_classes) <= set(data.CLASS_NAMES)
        assert list(prediction.top_probabilities) == sorted(
            prediction.top_probabilities, reverse=True
        )


# Command line --------------------------------------------------------------------------

CAT = data.CLASS_NAMES.index("cat")


@pytest.fixture(scope="module")
def cat_model_path(tmp_path_factory, pooled_classifier):
    """A tiny saved Keras model that answers "cat" with probability ~0.94 for any image."""
    from cifar_utils import training

    bias = np.zeros(10, dtype=np.float32)
    bias[CAT] = 5.0  # softmax: e^5 / (e^5 + 9) = 0.943
    model = pooled_classifier(bias=bias)
    return training.save_model(model, tmp_path_factory.mktemp("models") / "tiny.keras")


DOG, SHIP = data.CLASS_NAMES.index("dog"), data.CLASS_NAMES.index("ship")


@pytest.fixture(scope="module")
def colour_model_path(tmp_path_factory, pooled_classifier):
    """A tiny saved model whose answer depends on the photo: mostly red -> cat, green ->
    dog, blue -> ship (the mean of each normalised channel, weighted 5 towards its class)."""
    from cifar_utils import training

    kernel = np.zeros((3, 10), dtype=np.float32)
    kernel[0, CAT], kernel[1, DOG], kernel[2, SHIP] = 5.0, 5.0, 5.0
    model = pooled_classifier(kernel=kernel)
    return training.save_model(model, tmp_path_factory.mktemp("models") / "colours.keras")


def test_main_gives_each_photo_its_own_prediction(tmp_path, capsys, colour_model_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.new("RGB", (40, 30), (0, 220, 0)).save(folder / "a_green.jpg", quality=95)
    Image.new("RGB", (32, 32), (0, 0, 230)).save(folder / "b_blue.webp")
    Image.new("RGB", (50, 50), (230, 0, 0)).save(folder / "c_red.png")
    single = tmp_path / "z_also_green.png"
    Image.new("RGB", (20, 20), (10, 200, 10)).save(single)

    code, out, _ = _run(capsys, single, folder, "--model", colour_model_path, "--top-k", "1")

    assert code == predict.EXIT_OK
    answers = {
        line.split(": ")[0]: line.split(": ")[1].split()[0] for line in out.splitlines()[:-1]
    }
    assert answers == {
        str(single): "dog",
        str(folder / "a_green.jpg"): "dog",
        str(folder / "b_blue.webp"): "ship",
        str(folder / "c_red.png"): "cat",
    }
    # In the order given, a folder's photos sorted by name.
    assert [line.split(": ")[0] for line in out.splitlines()[:-1]] == [
        str(single),
        str(folder / "a_green.jpg"),
        str(folder / "b_blue.webp"),
        str(folder / "c_red.png"),
    ]


def test_main_reports_a_photo_it_may_not_read(tmp_path, capsys, cat_model_path, monkeypatch):
    folder = _photo_folder(tmp_path / "photos")
    real_open = Image.open

    def guarded_open(path, *args, **kwargs):  # chmod 000 does not stop root: stand in
        if Path(path).name == "a_photo.jpg":
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(Image, "open", guarded_open)
    code, out, _ = _run(capsys, folder, "--model", cat_model_path)
    assert code == predict.EXIT_SOME_FAILED
    assert (
        f"{folder / 'a_photo.jpg'}: error: cannot be read (permission denied). "
        "Fix its permissions or copy it." in out
    )
    assert f"{folder / 'b_photo.png'}: cat 94%" in out  # the others still predicted


def test_main_reports_a_folder_it_may_not_list(tmp_path, capsys, cat_model_path, monkeypatch):
    locked = _photo_folder(tmp_path / "locked")
    other = tmp_path / "other.png"
    _halves(32, 32).save(other)
    real_photo_files = predict._photo_files

    def guarded(path):
        if Path(path) == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return real_photo_files(path)

    monkeypatch.setattr(predict, "_photo_files", guarded)
    code, out, _ = _run(capsys, locked, other, "--model", cat_model_path)
    assert code == predict.EXIT_SOME_FAILED
    assert f"{locked}: error: cannot list the folder ([Errno 13] Permission denied" in out
    assert f"{other}: cat 94%" in out


def _photo_folder(folder):
    """Two good photos and a note that is skipped."""
    folder.mkdir(exist_ok=True)
    _halves(60, 40).save(folder / "a_photo.jpg", quality=90)
    _halves(30, 50).convert("P").save(folder / "b_photo.png")
    (folder / "README.md").write_text("# my photos\n")
    return folder


def _run(capsys, *argv):
    code = predict.main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_main_predicts_every_photo_of_a_folder(tmp_path, capsys, cat_model_path):
    folder = _photo_folder(tmp_path / "photos")
    single = tmp_path / "single.webp"
    _halves(40, 40).save(single)

    code, out, err = _run(capsys, folder, single, "--model", cat_model_path)

    assert code == predict.EXIT_OK
    lines = out.splitlines()
    assert lines[0].startswith(f"{folder / 'a_photo.jpg'}: cat 94%, ")
    assert lines[1].startswith(f"{folder / 'b_photo.png'}: cat 94%, ")
    assert lines[2].startswith(f"{single}: cat 94%, ")
    assert len(lines[0].split(", ")) == 3  # --top-k 3 by default
    assert lines[-1] == "3 photos predicted, 0 could not be read"
    assert len(lines) == 4  # no "unsure" line at 94% >= 50%; README.md skipped
    assert "error" not in err


def test_main_reports_each_bad_file_and_predicts_the_others(tmp_path, capsys, cat_model_path):
    folder = _photo_folder(tmp_path / "photos")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a JPEG")
    (folder / "empty.png").touch()
    (folder / "letter.gif").write_text("Dear model, this is text.\n")
    notes = tmp_path / "notes.txt"  # named on the command line: tried, and reported
    notes.write_text("not a photo\n")

    code, out, _ = _run(capsys, folder, notes, tmp_path / "nothere.jpg", "--model", cat_model_path)

    assert code == predict.EXIT_SOME_FAILED
    lines = out.splitlines()
    assert f"{folder / 'broken.jpg'}: error: the image file is broken or truncated" in out
    assert f"{folder / 'empty.png'}: error: the file is empty (0 bytes)" in out
    assert f"{folder / 'letter.gif'}: error: not an image file Pillow can read" in out
    assert f"{notes}: error: not an image file" in out
    assert f"{tmp_path / 'nothere.jpg'}: error: no such file or folder" in out
    assert sum(": error: " in line for line in lines) == 5
    assert sum(": cat 94%" in line for line in lines) == 2  # the good ones still predicted
    assert lines[-1] == "2 photos predicted, 5 could not be read"


def test_main_refuses_a_decompression_bomb_without_loading_it(
    tmp_path, capsys, monkeypatch, cat_model_path
):
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.new("RGB", (8, 8), RED).save(folder / "a_small.png")  # 64 pixels: fine
    Image.new("RGB", (12, 12)).save(folder / "b_warns.png")  # 144: Pillow only warns
    Image.new("RGB", (40, 40)).save(folder / "c_bomb.png")  # 1600 > 2 x 100: Pillow refuses
    loaded_sizes = []
    original_load = ImageFile.ImageFile.load

    def recording_load(self):
        loaded_sizes.append(self.size)
        return original_load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", recording_load)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)

    code, out, _ = _run(capsys, folder, "--model", cat_model_path)

    assert code == predict.EXIT_SOME_FAILED
    assert f"{folder / 'a_small.png'}: cat 94%" in out
    for name in ("b_warns.png", "c_bomb.png"):
        assert f"{folder / name}: error: refused to open, the image is too large" in out
    assert (8, 8) in loaded_sizes
    assert (12, 12) not in loaded_sizes and (40, 40) not in loaded_sizes  # never decoded


def test_main_json_output(tmp_path, capsys, cat_model_path):
    folder = _photo_folder(tmp_path / "photos")
    (folder / "empty.jpg").touch()

    code, out, _ = _run(capsys, folder, "--model", cat_model_path, "--json", "--top-k", "4")

    assert code == predict.EXIT_SOME_FAILED
    document = json.loads(out)  # nothing but the JSON document on stdout
    assert document["predicted"] == 2 and document["failed"] == 1
    assert document["model"] == str(cat_model_path)
    assert document["crop"] == "center_crop" and document["min_confidence"] == 0.5
    by_name = {Path(result["path"]).name: result for result in document["results"]}
    assert list(by_name) == ["a_photo.jpg", "b_photo.png", "empty.jpg"]
    assert "the file is empty" in by_name["empty.jpg"]["error"]
    for name in ("a_photo.jpg", "b_photo.png"):
        result = by_name[name]
        assert len(result["top_k"]) == 4
        assert result["top_k"][0] == {"class": "cat", "probability": pytest.approx(0.943, 1e-3)}
        probabilities = [entry["probability"] for entry in result["top_k"]]
        assert probabilities == sorted(probabilities, reverse=True)
        assert sum(probabilities) <= 1 + 1e-6
        assert {entry["class"] for entry in result["top_k"]} <= set(data.CLASS_NAMES)
        assert result["unsure"] is False and result["reason"].startswith("top probability")


@pytest.mark.parametrize("k", [1, 10])
def test_main_top_k(tmp_path, capsys, cat_model_path, k):
    path = tmp_path / "photo.png"
    _halves(32, 32).save(path)
    code, out, _ = _run(capsys, path, "--model", cat_model_path, "--top-k", k)
    assert code == predict.EXIT_OK
    ranked = out.splitlines()[0].removeprefix(f"{path}: ").split(", ")
    assert len(ranked) == k and ranked[0] == "cat 94%"


def test_main_flags_unsure_predictions_and_letterbox(tmp_path, capsys, cat_model_path):
    path = tmp_path / "photo.bmp"
    _halves(64, 16).save(path)
    args = (path, "--model", cat_model_path, "--min-confidence", "0.99", "--crop", "letterbox")
    code, out, _ = _run(capsys, *args)
    assert code == predict.EXIT_OK  # unsure is a warning, not a failure
    assert out.splitlines()[1] == (
        "  unsure: top probability 0.94 < 0.99: the model is unsure; "
        "the photo may show none of the ten classes"
    )


def test_main_missing_model(tmp_path, capsys, monkeypatch):
    from cifar_utils import pretrained, training

    photo = tmp_path / "photo.png"
    _halves(32, 32).save(photo)
    monkeypatch.setenv(training.MODEL_DIR_ENV_VAR, str(tmp_path / "models"))
    # Nor a shipped model (the package's own folder ships one once the maintainer adds it).
    monkeypatch.setattr(pretrained, "PRETRAINED_DIR", tmp_path / "no_shipped_models")

    code, out, err = _run(capsys, photo)  # the default model: $CIFAR10_MODEL_DIR/resnet.keras

    assert code == predict.EXIT_USAGE
    assert out == ""
    expected = tmp_path / "models" / "resnet.keras"
    assert err == (
        f"python -m cifar_utils.predict: error: no trained model at {expected}: "
        "run notebook 03 (make run) first, or pass --model\n"
    )
    code, _, err = _run(capsys, photo, "--model", tmp_path / "other.keras")
    assert code == predict.EXIT_USAGE and "no trained model at" in err


def test_main_model_that_is_not_a_keras_model(tmp_path, capsys):
    photo = tmp_path / "photo.png"
    _halves(32, 32).save(photo)
    fake = tmp_path / "resnet.keras"
    fake.write_text("not a model\n")

    code, out, err = _run(capsys, photo, "--model", fake)
    assert code == predict.EXIT_USAGE and out == ""
    assert f"error: cannot load a Keras model from {fake}" in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err

    code, _, err = _run(capsys, photo, "--model", tmp_path)
    assert code == predict.EXIT_USAGE and "is not a file" in err


def test_main_model_with_the_wrong_outputs(tmp_path, capsys):
    import keras

    from cifar_utils import training

    model = keras.Sequential(
        [keras.Input((32, 32, 3)), keras.layers.Flatten(), keras.layers.Dense(5, "softmax")]
    )
    path = training.save_model(model, tmp_path / "five.keras")
    photo = tmp_path / "photo.png"
    _halves(32, 32).save(photo)

    code, _, err = _run(capsys, photo, "--model", path)

    assert code == predict.EXIT_USAGE
    assert "cannot classify 32 x 32 RGB photos" in err and "expected (1, 10)" in err


@pytest.mark.parametrize(
    "options",
    [["--top-k", "0"], ["--top-k", "11"], ["--min-confidence", "2"], ["--crop", "stretch"], []],
)
def test_main_usage_errors(tmp_path, capsys, options):
    arguments = [] if not options else [str(tmp_path), *options]
    code, out, err = _run(capsys, *arguments)
    assert code == predict.EXIT_USAGE
    assert out == "" and "usage: python -m cifar_utils.predict" in err


def test_main_empty_folder(tmp_path, capsys, cat_model_path):
    (tmp_path / "README.md").write_text("put photos here\n")
    code, out, _ = _run(capsys, tmp_path, "--model", cat_model_path)
    assert code == predict.EXIT_SOME_FAILED
    assert out.startswith(f"{tmp_path}: error: no photos in this folder")
    assert out.splitlines()[-1] == "0 photos predicted, 1 could not be read"


def test_command_line_help_without_tensorflow():
    # -m runs the module as a program; --help must not pay for importing TensorFlow.
    result = subprocess.run(
        [sys.executable, "-m", "cifar_utils.predict", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.startswith("usage: python -m cifar_utils.predict")
    for option in ("--model", "--top-k", "--crop", "--min-confidence", "--json", "exit status"):
        assert option in result.stdout
    check = (
        "import sys; from cifar_utils import predict; code = predict.main(['--help']); "
        "print(code, 'tensorflow' in sys.modules or 'keras' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, check=True
    )
    assert result.stdout.splitlines()[-1] == "0 False"


# The default model: your own, else the one shipped with the package ----------------------


@pytest.fixture(scope="module")
def shipped_cat_dir(tmp_path_factory, cat_model_path):
    """A shipped-models folder whose "resnet" is the cat model (written by save_pretrained)."""
    from cifar_utils import pretrained

    directory = tmp_path_factory.mktemp("shipped")
    images = np.zeros((4, 32, 32, 3), dtype=np.uint8)
    pretrained.save_pretrained(
        cat_model_path,
        "resnet",
        x_test=images,
        y_test=np.array([CAT, CAT, CAT, 0]),  # the cat model is right on 3 of 4
        notebook="03_resnet",
        commit="abc1234",
        date="2026-12-06",
        machine="Test CPU",
        precision="float32",
        trained_on="official CIFAR-10",
        directory=directory,
    )
    return directory


@pytest.fixture
def default_model_env(tmp_path, monkeypatch, shipped_cat_dir):
    """No model of your own (an empty $CIFAR10_MODEL_DIR); the shipped folder a copy of
    ``shipped_cat_dir``. Returns (your model folder, the shipped folder)."""
    import shutil

    from cifar_utils import pretrained, training

    own_dir = tmp_path / "models"
    monkeypatch.setenv(training.MODEL_DIR_ENV_VAR, str(own_dir))
    shipped_dir = Path(shutil.copytree(shipped_cat_dir, tmp_path / "shipped"))
    monkeypatch.setattr(pretrained, "PRETRAINED_DIR", shipped_dir)
    return own_dir, shipped_dir


SHIPPED_LINE = (
    "using the shipped model: resnet.keras, trained by 03_resnet on 2026-12-06 (75.0% "
    "accuracy on 4 CIFAR-10 test images); train your own with notebook 03_resnet\n"
)


def test_main_uses_the_shipped_model_without_one_of_your_own(tmp_path, capsys, default_model_env):
    photo = tmp_path / "photo.png"
    _halves(32, 32).save(photo)

    code, out, err = _run(capsys, photo)

    assert code == predict.EXIT_OK
    assert out.splitlines()[0].startswith(f"{photo}: cat 94%, ")
    assert out.splitlines()[-1] == "1 photo predicted, 0 could not be read"
    assert err == SHIPPED_LINE  # which model, on stderr: stdout keeps its format


def test_main_prefers_your_own_model(
    tmp_path, capsys, monkeypatch, default_model_env, cat_model_path
):
    import shutil

    own_dir, _ = default_model_env
    own_dir.mkdir()
    shutil.copy(cat_model_path, own_dir / "resnet.keras")
    photo = tmp_path / "photo.png"
    _halves(32, 32).save(photo)
    monkeypatch.chdir(tmp_path)  # paths inside the working folder are shown relative to it

    code, out, err = _run(capsys, photo)

    assert code == predict.EXIT_OK and ": cat 94%" in out
    assert err == "using your own model: models/resnet.keras (trained by notebook 03_resnet)\n"
    code, out, _ = _run(capsys, photo, "--json")
    document = json.loads(out)
    assert document["model"] == str(own_dir / "resnet.keras")
    assert document["model_source"].startswith("your own model: models/resnet.keras")


def test_main_json_with_the_shipped_model(tmp_path, capsys, default_model_env):
    _, shipped_dir = default_model_env
    photo = tmp_path / "photo.png"
    _halves(32, 32).save(photo)

    code, out, err = _run(capsys, photo, "--json")

    assert code == predict.EXIT_OK and err == ""
    document = json.loads(out)  # nothing but the JSON document on stdout
    assert document["model"] == str(shipped_dir / "resnet.keras")
    assert document["model_source"] == SHIPPED_LINE.removeprefix("using ").rstrip("\n")
    assert document["results"][0]["top_k"][0]["class"] == "cat"


def test_main_refuses_a_changed_shipped_model(tmp_path, capsys, default_model_env):
    _, shipped_dir = default_model_env
    path = shipped_dir / "resnet.keras"
    content = bytearray(path.read_bytes())
    content[len(content) // 2] ^= 0xFF
    path.write_bytes(bytes(content))
    photo = tmp_path / "photo.png"
    _halves(32, 32).save(photo)

    code, out, err = _run(capsys, photo)

    assert code == predict.EXIT_USAGE and out == ""
    assert err.startswith(
        f"python -m cifar_utils.predict: error: refused to load the shipped model {path}: it "
        "was changed or damaged"
    )
    assert "Reinstall the package" in err and "run notebook 03_resnet.ipynb" in err
    assert len(err.splitlines()) == 1 and "Traceback" not in err


def test_main_model_option_bypasses_the_shipped_model(tmp_path, capsys, default_model_env):
    _, shipped_dir = default_model_env
    (shipped_dir / "resnet.keras").write_bytes(b"damaged")  # never looked at with --model
    photo = tmp_path / "photo.png"
    _halves(32, 32).save(photo)

    code, _, err = _run(capsys, photo, "--model", tmp_path / "other.keras")

    assert code == predict.EXIT_USAGE
    assert err == (
        f"python -m cifar_utils.predict: error: no trained model at {tmp_path / 'other.keras'}: "
        "run notebook 03 (make run) first, or pass --model\n"
    )


def test_load_photo_mode_pillow_cannot_convert_says_what_to_do(tmp_path, monkeypatch):
    # No mode Pillow opens fails to convert today; a future or plug-in mode might, so the
    # conversion is made to fail as Pillow would, with a ValueError.
    path = tmp_path / "scan.png"
    Image.new("LA", (64, 64), (128, 255)).save(path)

    def unconvertible(image):
        raise ValueError("conversion from LA to RGB not supported\nsecond line")

    monkeypatch.setattr(predict, "_to_rgb", unconvertible)
    with pytest.raises(ValueError) as raised:
        predict.load_photo(path)
    assert str(raised.value) == (
        "scan.png: cannot convert its LA pixels to RGB (conversion from LA to RGB not "
        "supported second line). Re-save the photo as an RGB JPEG or PNG."
    )
