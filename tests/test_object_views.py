"""cameras.json round trip and the object-folder reader's one-line errors."""

import numpy as np
import pytest
import torch
from PIL import Image

from inverse_graphics.data.object_views import find_objects, load_object_masks
from inverse_graphics.errors import UserError
from inverse_graphics.io_utils import write_json
from inverse_graphics.render.cameras import CameraRig, load_rig, save_rig, tutorial_rig


def make_object(folder, views=3, size=16, empty=None):
    rig = tutorial_rig(views, image_size=size)
    files = tuple({"mask": f"masks/{i:03d}.png"} for i in range(views))
    save_rig(folder / "cameras.json", CameraRig(rig.dist, rig.elev, rig.azim, rig.fov, rig.image_size, files))
    (folder / "masks").mkdir(parents=True)
    for i in range(views):
        mask = np.zeros((size, size), np.uint8)
        if i != empty:
            mask[4:12, 4:12] = 255
        Image.fromarray(mask).save(folder / "masks" / f"{i:03d}.png")
    return rig


def test_rig_roundtrip(tmp_path):
    rig = tutorial_rig(20)
    save_rig(tmp_path / "cameras.json", rig)
    loaded = load_rig(tmp_path / "cameras.json")
    assert loaded == rig and len(loaded) == 20
    assert loaded.elev[0] == 0.0 and loaded.elev[-1] == 360.0 and loaded.azim[0] == -180.0
    R, T = loaded.rotations_translations()
    assert R.shape == (20, 3, 3) and torch.allclose(T[:, 2], torch.full((20,), 2.7))


def test_load_masks_resizes(tmp_path):
    make_object(tmp_path / "obj")
    masks, rig = load_object_masks(tmp_path / "obj", image_size=32)
    assert masks.shape == (3, 32, 32) and rig.image_size == 32
    assert masks.max() == 1.0 and masks.min() == 0.0
    assert find_objects(tmp_path) == [tmp_path / "obj"]


def test_empty_mask_is_an_error(tmp_path):
    make_object(tmp_path / "obj", empty=1)
    with pytest.raises(UserError, match=r"masks/001.png: mask is empty"):
        load_object_masks(tmp_path / "obj", 16)


def test_camera_count_mismatch_is_an_error(tmp_path):
    make_object(tmp_path / "obj")
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(tmp_path / "obj" / "masks" / "003.png")
    with pytest.raises(UserError, match="4 mask images but 3 cameras"):
        load_object_masks(tmp_path / "obj", 16)


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(UserError, match="input folder not found"):
        find_objects(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no object folders"):
        find_objects(tmp_path / "empty")
    make_object(tmp_path / "obj")
    (tmp_path / "obj" / "masks" / "002.png").write_bytes(b"not a png")
    with pytest.raises(UserError, match="002.png: not a readable image"):
        load_object_masks(tmp_path / "obj", 16)
    write_json(tmp_path / "obj" / "cameras.json", {"convention": "pytorch3d-look-at", "fov": 60})
    with pytest.raises(UserError, match="malformed cameras.json"):
        load_object_masks(tmp_path / "obj", 16)
