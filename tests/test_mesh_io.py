"""Mesh I/O: the fox merges along UV seams, bad files give one-line errors, writes are atomic."""

import pytest
import torch

from inverse_graphics.errors import UserError
from inverse_graphics.mesh.io import load_mesh, save_mesh
from inverse_graphics.mesh.normalize import normalize_verts


def test_fox_merges_seam_vertices(repo_root):
    verts, faces = load_mesh(repo_root / "assets" / "fox.obj")
    assert verts.shape == (290, 3) and faces.shape == (576, 3)
    assert verts.dtype == torch.float32 and faces.dtype == torch.int64
    assert int(faces.max()) == 289


def test_normalize_centres_and_scales():
    verts = torch.tensor([[0.0, 0, 0], [4, 0, 0], [0, 2, 0], [0, 0, 2]]) + 10
    out = normalize_verts(verts)
    assert torch.allclose((out.amax(0) + out.amin(0)) / 2, torch.zeros(3), atol=1e-6)
    assert out.norm(dim=1).max() == pytest.approx(1.0)


def test_roundtrip_and_atomic_write(tmp_path):
    verts = torch.tensor([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]])
    faces = torch.tensor([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]])
    path = tmp_path / "out" / "tet.obj"
    save_mesh(path, verts, faces)
    v, f = load_mesh(path)
    assert torch.allclose(v, verts) and torch.equal(f, faces)
    assert [p.name for p in path.parent.iterdir()] == ["tet.obj"]  # no temp files left behind


@pytest.mark.parametrize(
    "content, message",
    [(None, "mesh file not found"), ("v 0 0 0\nv 1 0 0\n", "mesh has no faces"), ("\x00\x01garbage", "no faces")],
)
def test_bad_mesh_files(tmp_path, content, message):
    path = tmp_path / "bad.obj"
    if content is not None:
        path.write_text(content)
    with pytest.raises(UserError, match=message) as info:
        load_mesh(path)
    assert str(path) in str(info.value)
