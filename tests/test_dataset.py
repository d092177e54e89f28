"""Dataset zip format and determinism, photo-folder import, and the pictures of ``viz``."""

import json
import warnings
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from inverse_graphics.data.car_generator import build_car_mesh, sample_car_params
from inverse_graphics.data.dataset_zip import (DatasetZipWriter, encode_png, image_name, pose_label, read_dataset_zip,
                                               read_images_and_masks)
from inverse_graphics.data.image_folder import import_image_folder, letterbox
from inverse_graphics.errors import UserError
from inverse_graphics.viz import contact_sheet, save_png, turntable


def _write(path, n=5, size=16):
    rng = np.random.default_rng(0)
    with DatasetZipWriter(path, labelled=True) as writer:
        for i in range(n):
            writer.add(encode_png(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)), pose_label(30.0 * i, 10.0))


def test_zip_layout_and_labels(tmp_path):
    path = tmp_path / "d.zip"
    _write(path)
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        meta = json.loads(archive.read("dataset.json"))
    assert names == [f"00000/img{i:08d}.png" for i in range(5)] + ["dataset.json"]
    assert [entry[0] for entry in meta["labels"]] == names[:-1]
    assert meta["labels"][1][1] == pytest.approx([0.5, np.sqrt(3) / 2, 10 / 90])
    images, labels = read_dataset_zip(path)
    assert len(images) == len(labels) == 5
    assert all(im.size == (16, 16) and im.mode == "RGB" for _, im in images)
    assert image_name(1234) == "00001/img00001234.png"


def test_zip_bytes_are_deterministic(tmp_path):
    _write(tmp_path / "a.zip")
    _write(tmp_path / "b.zip")
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()


def test_failed_write_leaves_no_zip(tmp_path):
    with pytest.raises(RuntimeError):
        with DatasetZipWriter(tmp_path / "d.zip", labelled=False) as writer:
            writer.add(encode_png(np.zeros((4, 4, 3), np.uint8)))
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_images_and_masks_pair_by_name(tmp_path):
    _write(tmp_path / "d.zip", n=3)
    with DatasetZipWriter(tmp_path / "m.zip", labelled=False) as writer:
        for i in range(3):
            mask = np.zeros((16, 16), np.uint8)
            mask[i:8, 2:9] = 255
            writer.add(encode_png(mask))
    images, masks = read_images_and_masks(tmp_path / "d.zip", tmp_path / "m.zip")
    assert images.shape == (3, 16, 16, 3) and images.dtype == np.uint8
    assert masks.dtype == bool and masks.sum(axis=(1, 2)).tolist() == [56, 49, 42]
    with DatasetZipWriter(tmp_path / "short.zip", labelled=False) as writer:
        writer.add(encode_png(np.zeros((16, 16), np.uint8)))
    with pytest.raises(UserError, match="short.zip: its image names differ"):
        read_images_and_masks(tmp_path / "d.zip", tmp_path / "short.zip")


def _fixture_folder(root):
    (root / "sub").mkdir(parents=True)
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 256, (50, 100, 3), dtype=np.uint8)).save(root / "wide.png")
    Image.fromarray(rng.integers(0, 256, (90, 40, 3), dtype=np.uint8)).save(root / "sub" / "tall.jpg", quality=90)
    Image.fromarray(rng.integers(0, 256, (30, 30), dtype=np.uint8)).save(root / "gray.png")
    Image.fromarray(rng.integers(0, 256, (20, 33, 4), dtype=np.uint8)).save(root / "sub" / "alpha.png")
    (root / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (root / "notes.txt").write_text("hello")


def test_folder_import_letterboxes_and_warns_once(tmp_path):
    folder, out = tmp_path / "photos", tmp_path / "out.zip"
    _fixture_folder(folder)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        count, skipped = import_image_folder(folder, out, 32)
    assert count == 4 and skipped == ["corrupt.jpg", "notes.txt"]
    assert len(caught) == 1 and "corrupt.jpg" in str(caught[0].message) and "notes.txt" in str(caught[0].message)
    images, labels = read_dataset_zip(out)
    assert labels is None and len(images) == 4
    with zipfile.ZipFile(out) as archive:
        assert json.loads(archive.read("dataset.json")) == {"labels": None}
    for _, image in images:
        pixels = np.asarray(image)
        assert pixels.shape == (32, 32, 3)
        assert pixels[:4].max() == 0 and pixels[-4:].max() == 0  # black bars: 32 x 24 picture in the middle
        assert pixels[4:28].max() > 0


def test_letterbox_keeps_aspect():
    image = Image.new("RGB", (400, 100), (255, 255, 255))  # 4:1, cropped to 4:3 (all white)
    out = letterbox(image, 64)
    assert out.shape == (64, 64, 3) and out[8:56].min() == 255 and out[:8].max() == 0


def test_empty_folder_is_a_user_error(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("no pictures")
    with pytest.raises(UserError, match="empty"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import_image_folder(tmp_path / "empty", tmp_path / "out.zip", 32)
    assert not (tmp_path / "out.zip").exists()
    with pytest.raises(UserError, match="not found"):
        import_image_folder(tmp_path / "missing", tmp_path / "out.zip", 32)


def test_contact_sheet_turntable_and_png(tmp_path):
    sheet = contact_sheet([np.zeros((8, 8, 3)), torch.ones(8, 8), np.full((8, 8), True)], ncols=2, pad=2,
                          labels=["a", "b", "c"])
    assert sheet.size == (2 + 2 * 10, 2 + 2 * (8 + 12 + 2))
    verts, faces = build_car_mesh(sample_car_params(np.random.default_rng(0)))
    row = turntable(verts, faces, num_views=3, image_size=32)
    assert row.size == (96, 32)
    save_png(row, tmp_path / "t.png")
    assert Image.open(tmp_path / "t.png").size == (96, 32)
