"""The parametric car: valid closed parts, outward normals, variety; its renders match PyTorch3D."""

import numpy as np
import pytest
import torch
import trimesh

from inverse_graphics.data.car_generator import (
    GLASS, LAMP_FRONT, STYLES, TYRE, axle_xs, build_car, build_car_mesh, render_car, sample_appearance,
    sample_car_params,
)
from inverse_graphics.render.cameras import CameraRig, random_rig
from inverse_graphics.render.shaded import rasterize, render_shaded


def _car(seed):
    return build_car(sample_car_params(np.random.default_rng(seed)))


@pytest.mark.parametrize("seed", range(12))
def test_every_part_is_closed_and_outward(seed):
    car = _car(seed)
    assert len(car.part_faces) == 5
    assert car.part_faces[-1][1] == len(car.faces)
    assert 500 <= len(car.faces) <= 3000
    for start, stop in car.part_faces:
        part = trimesh.Trimesh(car.verts, car.faces[start:stop], process=False)
        part.remove_unreferenced_vertices()
        assert part.is_watertight and part.is_winding_consistent
        assert part.volume > 0  # outward normals


@pytest.mark.parametrize("seed", range(12))
def test_wheel_wells_leave_the_floor_low_between_the_wheels(seed):
    params = sample_car_params(np.random.default_rng(seed))
    car = build_car(params)
    body = car.verts[np.unique(car.faces[slice(*car.part_faces[0])])]
    sections = np.unique(body[:, 0])
    for x_axle in axle_xs(params):
        section = body[body[:, 0] == sections[np.abs(sections - x_axle).argmin()]]
        centre = section[np.abs(section[:, 2]) < 1e-9]
        assert centre[:, 1].min() == pytest.approx(params.clearance)  # no tunnel over the axle
        wheel = car.verts[np.unique(car.faces[slice(*car.part_faces[1])])]
        tyre_z = np.abs(wheel[:, 2]).min(), np.abs(wheel[:, 2]).max()
        over_tyre = section[(np.abs(section[:, 2]) >= tyre_z[0]) & (np.abs(section[:, 2]) <= tyre_z[1])]
        assert over_tyre[:, 1].min() > params.clearance + params.wheel_radius  # the well the tyre sits in


def test_normalised_frame_x_length_y_up():
    car = _car(3)
    verts, faces = build_car_mesh(sample_car_params(np.random.default_rng(3)))
    assert verts.dtype == torch.float32 and faces.dtype == torch.int64 and faces.shape == (len(car.faces), 3)
    assert torch.allclose((verts.amax(0) + verts.amin(0)) / 2, torch.zeros(3), atol=1e-6)
    assert verts.norm(dim=1).max() == pytest.approx(1.0, abs=1e-5)
    extent = verts.amax(0) - verts.amin(0)
    assert extent[0] > extent[2] and extent[0] > extent[1]  # length along x
    centroid = verts[faces].mean(1)
    mats = torch.from_numpy(car.materials)
    assert centroid[mats == GLASS, 1].mean() > centroid[mats == TYRE, 1].mean()  # windows above wheels: up = +y
    assert centroid[mats == LAMP_FRONT, 0].min() > 0  # the nose at +x
    assert float(car.verts[:, 1].min()) == pytest.approx(0.0, abs=1e-9)  # wheels on the ground


def test_variety_across_seeds():
    params = [sample_car_params(np.random.default_rng(s)) for s in range(40)]
    assert len({p.style for p in params}) >= 5 and {p.style for p in params} <= set(STYLES)
    assert len({(round(p.length, 6), round(p.roof_height, 6)) for p in params}) == 40
    a, b = build_car_mesh(params[0])[0], build_car_mesh(params[1])[0]
    assert a.shape != b.shape or not torch.allclose(a, b)
    assert sample_car_params(np.random.default_rng(7)) == sample_car_params(np.random.default_rng(7))


def test_rasterizer_matches_pytorch3d_exactly():
    from pytorch3d.renderer import MeshRasterizer, RasterizationSettings
    from pytorch3d.structures import Meshes

    verts, faces = _car(5).normalized()
    rig = random_rig(4, torch.Generator().manual_seed(0), elev_range=(-20.0, 60.0), image_size=48)
    settings = RasterizationSettings(image_size=48, blur_radius=0.0, faces_per_pixel=1)
    ref = MeshRasterizer(cameras=rig.to_pytorch3d(), raster_settings=settings)(Meshes([verts] * 4, [faces] * 4))
    ref = ref.pix_to_face[..., 0]
    ref = torch.where(ref >= 0, ref % len(faces), -1)
    ours = rasterize(verts, faces, rig)
    assert torch.equal(ours >= 0, ref >= 0)
    assert (ours == ref).float().mean() > 0.999


def test_render_orientation_and_masks():
    """Seen from the front at eye level, tyres are drawn below the windows (row 0 is the top)."""
    car = _car(1)
    rig = CameraRig((2.7,), (0.0,), (90.0,), 60.0, 64)
    images, masks = render_car(car, rig, sample_appearance(np.random.default_rng(0), 1))
    assert images.shape == (1, 64, 64, 3) and masks.shape == (1, 64, 64) and masks.dtype == torch.bool
    assert 0.0 <= images.min() and images.max() <= 1.0
    verts, faces = car.normalized()
    pix_to_face = rasterize(verts, faces, rig)[0]
    assert torch.equal(masks[0], pix_to_face >= 0)
    material = torch.from_numpy(car.materials)[pix_to_face.clamp(min=0)]
    rows = torch.arange(64)[:, None].expand(64, 64).float()
    assert rows[masks[0] & (material == TYRE)].mean() > rows[masks[0] & (material == GLASS)].mean() + 10
    _, plain = render_shaded(verts, faces, rig, torch.ones(3))
    assert torch.equal(plain, masks)
