"""Quadric loss: per-vertex plane quadrics, nearest-vertex correspondence, gradients."""

import torch

from inverse_graphics.mesh.ico_sphere import ico_sphere
from inverse_graphics.mesh.quadric import QuadricLoss, vertex_quadrics


def flat_patch():
    """A 3x3 vertex grid in the plane z = 0; the centre vertex 4 has six faces, all in that plane."""
    xs, ys = torch.meshgrid(torch.arange(3.0), torch.arange(3.0), indexing="ij")
    verts = torch.stack([xs.flatten(), ys.flatten(), torch.zeros(9)], dim=1)
    faces = []
    for i in range(2):
        for j in range(2):
            a, b, c, d = 3 * i + j, 3 * i + j + 1, 3 * (i + 1) + j, 3 * (i + 1) + j + 1
            faces += [[a, c, b], [b, c, d]] if (i + j) % 2 == 0 else [[a, c, d], [a, d, b]]
    return verts, torch.tensor(faces)


def test_zero_on_the_planes_and_a_known_value_off_them():
    verts, faces = flat_patch()
    loss = QuadricLoss(verts, faces)
    near_centre = torch.tensor([[1.0, 1.0, 0.0], [1.2, 0.9, 0.0], [0.8, 1.3, 0.0]])
    assert float(loss(near_centre)) == 0.0
    degree = int((faces == 4).any(1).sum())
    lifted = near_centre + torch.tensor([0.0, 0.0, 0.25])
    torch.testing.assert_close(loss(lifted), torch.tensor(degree * 0.25**2))


def test_zero_at_a_cube_corner_and_along_its_edges_planes():
    import trimesh

    box = trimesh.creation.box(extents=(2, 2, 2))
    verts, faces = torch.tensor(box.vertices, dtype=torch.float32), torch.tensor(box.faces)
    loss = QuadricLoss(verts, faces)
    assert float(loss(torch.tensor([[1.0, 1.0, 1.0]]))) < 1e-10
    # points on the two planes x = 1 and y = 1 (the corner's edge along z) see only the z = 1 plane
    on_edge = torch.tensor([[1.0, 1.0, 0.9]])
    corner = int(((verts - torch.tensor([1.0, 1.0, 1.0])).norm(dim=1) < 1e-6).nonzero())
    faces_on_z_plane = int(((faces == corner).any(1) & (verts[faces][:, :, 2] == 1).all(1)).sum())
    torch.testing.assert_close(loss(on_edge), torch.tensor(faces_on_z_plane * 0.1**2), rtol=1e-4, atol=1e-7)
    assert float(loss(torch.tensor([[1.3, 1.2, 1.1]]))) > 0


def test_quadrics_are_symmetric_positive_semidefinite():
    verts, faces = ico_sphere(2)
    verts = verts * torch.tensor([1.0, 0.5, 0.8])
    q = vertex_quadrics(verts, faces).double()
    torch.testing.assert_close(q, q.transpose(1, 2))
    assert (torch.linalg.eigvalsh(q) > -1e-6).all()


def brute_force_quadric_loss(verts, faces, points):
    """Python loops over faces and points: the definition, for reference."""
    quadrics = [torch.zeros(4, 4, dtype=torch.float64) for _ in range(len(verts))]
    for face in faces.tolist():
        p0, p1, p2 = (verts[i].double() for i in face)
        normal = torch.linalg.cross(p1 - p0, p2 - p0)
        normal = normal / normal.norm()
        plane = torch.cat([normal, -(normal @ p0).reshape(1)])
        for i in face:
            quadrics[i] += torch.outer(plane, plane)
    total = 0.0
    for s in points.double():
        t = int(((verts.double() - s) ** 2).sum(1).argmin())
        h = torch.cat([s, torch.ones(1, dtype=torch.float64)])
        total += float(h @ quadrics[t] @ h)
    return total / len(points)


def test_matches_a_brute_force_reference():
    g = torch.Generator().manual_seed(0)
    verts, faces = ico_sphere(1)
    verts = verts + 0.1 * torch.randn(verts.shape, generator=g)
    points = 1.3 * torch.randn(200, 3, generator=g)
    ours = float(QuadricLoss(verts, faces)(points))
    assert abs(ours - brute_force_quadric_loss(verts, faces, points)) < 1e-4 * abs(ours)


def test_gradients_are_finite_and_pull_points_onto_the_planes():
    verts, faces = flat_patch()
    points = torch.tensor([[1.1, 0.9, 0.3], [0.2, 0.1, -0.4]], requires_grad=True)
    QuadricLoss(verts, faces)(points).backward()
    assert torch.isfinite(points.grad).all()
    assert (points.grad[:, 2] * points.detach()[:, 2] > 0).all()  # descent moves z towards 0
