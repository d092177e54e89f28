"""Reading the pictures a segmenter is given: three input kinds, one clear error per bad input."""

import numpy as np
import pytest
from PIL import Image

from inverse_graphics.data.view_images import find_view_sets, read_image
from inverse_graphics.errors import UserError
from inverse_graphics.render.cameras import CameraRig, save_rig, tutorial_rig


def make_object(folder, views=3, size=16, masks=True):
    rig = tutorial_rig(views, image_size=size)
    files = tuple({"image": f"images/{i:03d}.png", **({"mask": f"masks/{i:03d}.png"} if masks else {})}
                  for i in range(views))
    save_rig(folder / "cameras.json", CameraRig(rig.dist, rig.elev, rig.azim, rig.fov, rig.image_size, files))
    (folder / "images").mkdir(parents=True)
    (folder / "masks").mkdir()
    for i in range(views):
        Image.fromarray(np.full((size, size, 3), 40 * i, np.uint8)).save(folder / "images" / f"{i:03d}.png")
        if masks:
            Image.fromarray(np.full((size, size), 255, np.uint8)).save(folder / "masks" / f"{i:03d}.png")


def test_three_input_kinds(tmp_path):
    make_object(tmp_path / "objs" / "a")
    make_object(tmp_path / "objs" / "b", views=2, masks=False)
    sets = find_view_sets(tmp_path / "objs")
    assert [s.name for s in sets] == ["a", "b"] and [len(s.paths) for s in sets] == [3, 2]
    assert sets[0].mask_paths is not None and sets[1].mask_paths is None and len(sets[0].rig) == 3
    assert [s.name for s in find_view_sets(tmp_path / "objs" / "b")] == ["b"]  # one object folder
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(np.zeros((10, 20, 3), np.uint8)).save(photos / "b.jpg")
    Image.fromarray(np.zeros((12, 12), np.uint8)).save(photos / "a.png")
    (only,) = find_view_sets(photos)
    assert [p.name for p in only.paths] == ["a.png", "b.jpg"] and only.rig is None
    assert read_image(only.paths[0]).shape == (12, 12, 3)  # grey -> RGB


def test_bad_inputs_name_the_file(tmp_path):
    with pytest.raises(UserError, match="missing: input folder not found"):
        find_view_sets(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="empty: empty folder"):
        find_view_sets(tmp_path / "empty")
    photos = tmp_path / "photos"
    photos.mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(photos / "ok.png")
    (photos / "notes.txt").write_text("hello")
    with pytest.raises(UserError, match=r"notes\.txt: not an image file"):
        find_view_sets(photos)
    (photos / "notes.txt").unlink()
    (photos / "broken.png").write_bytes(b"\x89PNG not really")
    (broken,) = [p for p in find_view_sets(photos)[0].paths if p.name == "broken.png"]
    with pytest.raises(UserError, match=r"broken\.png: not a readable image"):
        read_image(broken)

    make_object(tmp_path / "objs" / "a")
    images = tmp_path / "objs" / "a" / "images"
    (images / "003.png").write_bytes((images / "000.png").read_bytes())
    with pytest.raises(UserError, match=r"images: 4 images but 3 cameras"):
        find_view_sets(tmp_path / "objs")
    (tmp_path / "objs" / "a" / "images" / "003.png").unlink()
    (tmp_path / "objs" / "a" / "images" / "extra.json").write_text("{}")
    with pytest.raises(UserError, match=r"extra\.json: not an image file"):
        find_view_sets(tmp_path / "objs")
