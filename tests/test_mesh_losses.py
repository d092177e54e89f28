"""Fixed-topology regularisers, chamfer and sampling against PyTorch3D on single meshes."""

import pytest
import torch
from pytorch3d.loss import chamfer_distance, mesh_edge_loss, mesh_laplacian_smoothing, mesh_normal_consistency
from pytorch3d.structures import Meshes

from inverse_graphics.errors import UserError
from inverse_graphics.mesh.ico_sphere import ico_sphere
from inverse_graphics.mesh.losses import chamfer_loss, edge_loss, laplacian_loss, normal_consistency_loss
from inverse_graphics.mesh.sampling import NearestNeighbors, sample_points
from inverse_graphics.mesh.topology import MeshTopology

PAIRS = {
    "edge": (lambda v, t: edge_loss(v, t), lambda m: mesh_edge_loss(m)),
    "normal": (lambda v, t: normal_consistency_loss(v, t), lambda m: mesh_normal_consistency(m)),
    "uniform": (lambda v, t: laplacian_loss(v, t, "uniform"), lambda m: mesh_laplacian_smoothing(m, "uniform")),
    "cotangent": (lambda v, t: laplacian_loss(v, t, "cotangent"), lambda m: mesh_laplacian_smoothing(m, "cot")),
}


def deformed_sphere(level: int = 3, scale: float = 0.05):
    verts, faces = ico_sphere(level)
    noise = torch.randn(verts.shape, generator=torch.Generator().manual_seed(1))
    return verts + scale * noise, faces


def open_nonmanifold_mesh():
    """A fan with a boundary, a non-manifold edge (0, 1) shared by three faces, an unused vertex."""
    verts = torch.tensor(
        [[0, 0, 0], [1, 0, 0], [0.5, 1, 0.1], [0.5, -1, 0.2], [0.5, 0.2, 1], [1.5, 0.8, 0.3], [9, 9, 9]],
        dtype=torch.float32,
    )
    faces = torch.tensor([[0, 1, 2], [1, 0, 3], [0, 1, 4], [1, 5, 2]])
    return verts, faces


@pytest.mark.parametrize("name", list(PAIRS))
@pytest.mark.parametrize("mesh", [deformed_sphere, open_nonmanifold_mesh, lambda: ico_sphere(2)])
def test_regularisers_equal_pytorch3d(name, mesh):
    verts, faces = mesh()
    ours, theirs = PAIRS[name]
    topo = MeshTopology.from_faces(faces, verts.shape[0])
    a = verts.clone().requires_grad_()
    b = verts.clone().requires_grad_()
    value, expected = ours(a, topo), theirs(Meshes([b], [faces]))
    torch.testing.assert_close(value, expected.reshape(()), rtol=1e-4, atol=1e-7)
    value.backward()
    expected.sum().backward()
    torch.testing.assert_close(a.grad, b.grad, rtol=1e-3, atol=1e-6)


def test_topology_counts_on_a_closed_sphere():
    verts, faces = ico_sphere(2)
    topo = MeshTopology.from_faces(faces, verts.shape[0])
    assert topo.edges.shape == (480, 2) and (topo.edges[:, 0] < topo.edges[:, 1]).all()
    assert topo.hinge_faces.shape == (480, 2)  # every edge of a closed manifold joins two faces
    assert normal_consistency_loss(verts, topo) < 0.05


def test_unknown_laplacian_is_rejected():
    verts, faces = ico_sphere(0)
    with pytest.raises(ValueError, match="cot"):
        laplacian_loss(verts, MeshTopology.from_faces(faces, 12), "cot")


def test_chamfer_equals_pytorch3d_value_and_gradient():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(700, 3, generator=g).requires_grad_()
    y = (torch.randn(500, 3, generator=g) * 0.7 + 0.1).requires_grad_()
    x2, y2 = x.detach().clone().requires_grad_(), y.detach().clone().requires_grad_()
    ours = chamfer_loss(x, y)
    expected, _ = chamfer_distance(x2[None], y2[None])
    torch.testing.assert_close(ours, expected, rtol=1e-5, atol=1e-7)
    ours.backward()
    expected.backward()
    torch.testing.assert_close(x.grad, x2.grad)
    torch.testing.assert_close(y.grad, y2.grad)


def test_nearest_neighbors_is_exact():
    g = torch.Generator().manual_seed(3)
    points, query = torch.randn(300, 3, generator=g), torch.randn(200, 3, generator=g)
    expected = torch.cdist(query.double(), points.double()).argmin(1)
    assert torch.equal(NearestNeighbors(points)(query), expected)


def unit_cube():
    import trimesh

    box = trimesh.creation.box(extents=(1, 1, 1))
    return torch.tensor(box.vertices, dtype=torch.float32), torch.tensor(box.faces, dtype=torch.int64)


def test_sample_points_lie_on_the_surface_with_unit_normals():
    verts, faces = unit_cube()
    points, normals = sample_points(verts, faces, 4000, torch.Generator().manual_seed(0), return_normals=True)
    assert points.shape == (4000, 3) and normals.shape == (4000, 3)
    torch.testing.assert_close(points.abs().amax(1), torch.full((4000,), 0.5))
    torch.testing.assert_close(normals.norm(dim=1), torch.ones(4000))
    on_face = points.abs().argmax(1)  # the normal of a point on face x = +-0.5 is +-x
    assert (normals.abs().argmax(1) == on_face).all()


def test_sample_points_is_area_weighted_seeded_and_differentiable():
    verts = torch.tensor([[0, 0, 0], [1, 0, 0], [0, 1, 0], [5, 0, 0], [8, 0, 0], [5, 3, 0]], dtype=torch.float32)
    faces = torch.tensor([[0, 1, 2], [3, 4, 5]])  # areas 0.5 and 4.5
    verts.requires_grad_()
    a = sample_points(verts, faces, 20000, torch.Generator().manual_seed(7))
    b = sample_points(verts, faces, 20000, torch.Generator().manual_seed(7))
    assert torch.equal(a, b)
    on_small = (a[:, 0] < 2).float().mean()
    assert abs(float(on_small) - 0.1) < 0.01
    a.sum().backward()
    assert torch.isfinite(verts.grad).all() and verts.grad.abs().sum() > 0


def test_sample_points_rejects_a_mesh_without_area():
    verts = torch.zeros(3, 3)
    with pytest.raises(UserError, match="surface area"):
        sample_points(verts, torch.tensor([[0, 1, 2]]), 10)
