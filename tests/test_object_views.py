"""cameras.json round trip, the object-folder writer and readers, and their one-line errors."""

import numpy as np
import pytest
import torch
from PIL import Image

from inverse_graphics.data.object_views import (
    find_objects,
    load_object_images,
    load_object_input,
    load_object_masks,
    load_object_mesh,
    write_object_folder,
)
from inverse_graphics.errors import UserError
from inverse_graphics.io_utils import read_json, write_json
from inverse_graphics.mesh.ico_sphere import ico_sphere
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
    with pytest.raises(UserError, match=r"obj/masks: 4 image files for 3 views in .*obj/cameras.json"):
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


def test_writer_and_readers_round_trip(tmp_path):
    rig = tutorial_rig(4, image_size=16)
    g = torch.Generator().manual_seed(0)
    images = torch.rand(4, 16, 16, 3, generator=g)
    masks = torch.zeros(4, 16, 16, dtype=torch.bool)
    masks[:, 3:12, 5:10] = True
    mesh = ico_sphere(1)
    input_image = torch.rand(8, 8, 3, generator=g)
    input_rig = tutorial_rig(1, image_size=8)
    obj = tmp_path / "car"
    written = write_object_folder(obj, rig, images=images, masks=masks, mesh=mesh, input_image=input_image,
                                  input_rig=input_rig)
    assert written.files[3] == {"image": "images/003.png", "mask": "masks/003.png"}
    assert read_json(obj / "cameras.json")["views"][1]["mask"] == "masks/001.png"

    read_images, image_rig = load_object_images(obj)
    assert image_rig == rig and image_rig.files == written.files
    assert (read_images - images).abs().max() <= 0.5 / 255 + 1e-6  # 8-bit rounding only
    read_masks, mask_rig = load_object_masks(obj)
    assert torch.equal(read_masks, masks.float()) and mask_rig.image_size == 16
    assert load_object_masks(obj, 32)[0].shape == (4, 32, 32)
    verts, faces = load_object_mesh(obj)
    assert torch.allclose(verts, mesh[0], atol=1e-6) and torch.equal(faces, mesh[1])
    image, rig_in = load_object_input(obj)
    assert image.shape == (8, 8, 3) and rig_in == input_rig


def test_writer_records_only_what_it_wrote(tmp_path):
    """A ``segment``-style folder: masks and cameras only, no image entries and no mesh."""
    rig = tutorial_rig(2, image_size=8)
    write_object_folder(tmp_path / "obj", rig, masks=torch.ones(2, 8, 8, dtype=torch.bool))
    views = read_json(tmp_path / "obj" / "cameras.json")["views"]
    assert [set(v) - {"dist", "elev", "azim"} for v in views] == [{"mask"}, {"mask"}]
    assert load_object_mesh(tmp_path / "obj") is None
    with pytest.raises(UserError, match=r"obj/images/000.png: image file not found"):
        load_object_images(tmp_path / "obj")
    with pytest.raises(ValueError, match="3 masks for 2 cameras"):
        write_object_folder(tmp_path / "bad", rig, masks=torch.ones(3, 8, 8))


def test_contract_breaks_are_one_line_errors_naming_the_folder(tmp_path):
    rig = tutorial_rig(3, image_size=8)
    obj = tmp_path / "obj"
    write_object_folder(obj, rig, images=torch.rand(3, 8, 8, 3), masks=torch.ones(3, 8, 8, dtype=torch.bool))
    (obj / "images" / "001.png").write_bytes(b"\x89PNG truncated")
    with pytest.raises(UserError, match=r"obj/images/001.png: not a readable image") as info:
        load_object_images(obj)
    assert "\n" not in str(info.value)
    (obj / "images" / "001.png").unlink()
    with pytest.raises(UserError, match=r"obj/images: 2 image files for 3 views in .*obj/cameras.json"):
        load_object_images(obj)
    (obj / "cameras.json").unlink()
    for reader in (load_object_images, load_object_masks):
        with pytest.raises(UserError, match=r"obj: not an object folder \(no cameras.json; format in docs/object_folder.md\)"):
            reader(obj)
