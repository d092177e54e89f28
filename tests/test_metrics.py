"""Ground-truth metrics on meshes with known answers."""

import math

import pytest
import torch
import trimesh

from inverse_graphics.mesh.ico_sphere import ico_sphere
from inverse_graphics.mesh.metrics import (
    edge_length_stats,
    grid_axes,
    mesh_metrics,
    occupancy_iou,
    silhouette_iou,
    winding_grid,
)

SAMPLES = 3000


def box(lo, hi):
    """Axis-aligned box from corner ``lo`` to ``hi``, outward-wound -> ``verts, faces``."""
    lo, hi = torch.tensor(lo, dtype=torch.float32), torch.tensor(hi, dtype=torch.float32)
    mesh = trimesh.creation.box(extents=(1, 1, 1))
    verts = torch.tensor(mesh.vertices, dtype=torch.float32) + 0.5
    return lo + verts * (hi - lo), torch.tensor(mesh.faces, dtype=torch.int64)


def square(z):
    """The unit square ``[0, 1]^2`` at height ``z``, as two triangles."""
    verts = torch.tensor([[0, 0, z], [1, 0, z], [1, 1, z], [0, 1, z]], dtype=torch.float32)
    return verts, torch.tensor([[0, 1, 2], [0, 2, 3]])


def test_identical_meshes_score_perfectly():
    verts, faces = ico_sphere(2)
    m = mesh_metrics(verts, faces, verts, faces, num_samples=SAMPLES)
    assert m["chamfer_l2"] == 0.0
    assert m["fscore@0.01"] == m["fscore@0.02"] == m["fscore@0.05"] == 1.0
    assert m["normal_consistency"] == pytest.approx(1.0, abs=1e-6)
    assert m["iou3d"] == 1.0


def test_normalisation_removes_scale_and_offset():
    verts, faces = box((-0.5, -0.5, -0.5), (0.5, 0.5, 0.5))
    moved = verts * 0.5 + torch.tensor([3.0, -1.0, 2.0])
    raw = mesh_metrics(moved, faces, verts, faces, num_samples=SAMPLES, normalize=False)
    assert raw["chamfer_l2"] > 1 and raw["iou3d"] == 0.0
    m = mesh_metrics(moved, faces, verts, faces, num_samples=SAMPLES)
    assert m["chamfer_l2"] < 1e-10 and m["fscore@0.01"] == 1.0 and m["iou3d"] == 1.0
    assert m["normal_consistency"] == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("gap", [0.015, 0.03])
def test_parallel_squares_have_an_analytic_chamfer_and_fscore(gap):
    # the same seed samples the same barycentric points on both squares: every nearest distance is the gap
    a, faces = square(0.0)
    b, _ = square(gap)
    m = mesh_metrics(a, faces, b, faces, num_samples=SAMPLES, normalize=False)
    assert m["chamfer_l2"] == pytest.approx(2 * gap**2, rel=1e-4)
    assert m["fscore@0.01"] == 0.0 and m["fscore@0.05"] == 1.0
    assert m["fscore@0.02"] == (1.0 if gap < 0.02 else 0.0)
    assert m["normal_consistency"] == pytest.approx(1.0, abs=1e-6)


def test_concentric_spheres_chamfer_is_close_to_the_radius_gap():
    verts, faces = ico_sphere(4)
    m = mesh_metrics(verts, faces, 0.9 * verts, faces, num_samples=SAMPLES, normalize=False)
    assert m["chamfer_l2"] == pytest.approx(2 * 0.1**2, rel=0.05)
    assert m["iou3d"] == pytest.approx(0.9**3, abs=0.03)


def test_metrics_are_deterministic_for_a_seed():
    verts, faces = ico_sphere(2)
    other = verts * torch.tensor([1.0, 0.6, 0.8])
    first = mesh_metrics(other, faces, verts, faces, num_samples=SAMPLES, seed=3)
    assert first == mesh_metrics(other, faces, verts, faces, num_samples=SAMPLES, seed=3)
    assert first != mesh_metrics(other, faces, verts, faces, num_samples=SAMPLES, seed=4)


def test_box_iou_is_exact_when_faces_fall_on_cell_boundaries():
    # union x range [0, 4] in 32 cells: the faces x = 1 and x = 3 lie on cell boundaries
    a = box((0, 0, 0), (3, 1, 1))
    b = box((1, 0, 0), (4, 1, 1))
    assert occupancy_iou(*a, *b) == 0.5


def test_box_iou_is_close_to_analytic_otherwise():
    a = box((0, 0, 0), (1, 1, 1))
    b = box((0.3, 0.2, -0.1), (1.3, 1.2, 0.9))
    inter = 0.7 * 0.8 * 0.9
    assert occupancy_iou(*a, *b) == pytest.approx(inter / (2 - inter), abs=0.03)


def test_winding_grid_counts_inside_outside_and_overlaps():
    verts, faces = ico_sphere(3)
    axes = grid_axes(torch.tensor([-1.2] * 3), torch.tensor([1.2] * 3), 12)
    centres = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1)
    radius = centres.norm(dim=-1)
    w = winding_grid(verts, faces, axes)
    assert torch.allclose(w[radius < 0.95], torch.tensor(1.0, dtype=w.dtype))
    assert torch.allclose(w[radius > 1.0], torch.tensor(0.0, dtype=w.dtype))
    both = winding_grid(torch.cat([verts, 0.5 * verts]), torch.cat([faces, faces + len(verts)]), axes)
    assert torch.allclose(both[radius < 0.45], torch.tensor(2.0, dtype=w.dtype))


def test_silhouette_iou_on_small_masks():
    pred = torch.zeros(3, 4, 4)
    target = torch.zeros(3, 4, 4)
    pred[0, :2] = 0.9
    target[0, :, :2] = 1.0  # 4 shared of 12 in the union
    pred[1] = 0.7
    target[1] = 0.6  # identical after thresholding
    pred[2, 0, 0] = 0.4  # below threshold: both empty
    torch.testing.assert_close(silhouette_iou(pred, target), torch.tensor([1 / 3, 1.0, 1.0]))


def test_edge_length_stats_flag_a_spike():
    verts, faces = box((0, 0, 0), (1, 1, 1))
    stats = edge_length_stats(verts, faces)
    lengths = torch.tensor([1.0] * 12 + [math.sqrt(2)] * 6)  # 12 cube edges and 6 face diagonals
    assert stats["max_over_mean"] == pytest.approx(float(lengths.max() / lengths.mean()), rel=1e-5)
    assert stats["std_over_mean"] == pytest.approx(float(lengths.std() / lengths.mean()), rel=1e-5)
    spiked = verts.clone()
    spiked[0] = torch.tensor([-5.0, -5.0, -5.0])
    assert edge_length_stats(spiked, faces)["max_over_mean"] > 2 * stats["max_over_mean"]
