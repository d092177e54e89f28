"""Visual-hull carving: a ball's hull from many views is (nearly) the ball itself."""

import torch

from inverse_graphics.mesh.ico_sphere import ico_sphere
from inverse_graphics.mesh.visual_hull import carve, fill_holes, surface_points
from inverse_graphics.render.cameras import tutorial_rig
from inverse_graphics.render.silhouette import SilhouetteRenderer, SilhouetteSettings


def test_hull_of_a_ball_is_the_ball():
    verts, faces = ico_sphere(3)
    rig = tutorial_rig(20, image_size=64)
    with torch.no_grad():
        masks = (SilhouetteRenderer("fast", SilhouetteSettings(64))(verts * 0.6, faces, rig) > 0.5).float()
    occupancy, axis = carve(masks, rig, resolution=40)
    centres = torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), dim=-1)
    ball = centres.norm(dim=-1) <= 0.6
    iou = (occupancy & ball).sum() / (occupancy | ball).sum()
    assert iou > 0.85
    inner = centres.norm(dim=-1) <= 0.55  # safely inside: must never be carved away
    assert occupancy[inner].all()
    radii = surface_points(occupancy, axis).norm(dim=1)
    assert (radii - 0.6).abs().max() < 0.15


def test_empty_view_carves_everything():
    rig = tutorial_rig(3, image_size=16)
    masks = torch.ones(3, 16, 16)
    masks[1] = 0
    occupancy, axis = carve(masks, rig, resolution=8)
    assert not occupancy.any() and surface_points(occupancy, axis).shape == (0, 3)


def test_fill_holes_closes_enclosed_gaps_only():
    masks = torch.zeros(2, 9, 9)
    masks[0, 2:7, 2:7] = 1
    masks[0, 4, 4] = 0  # an enclosed hole: filled
    masks[1, 2:7, 2:7] = 1
    masks[1, 4, 2:5] = 0  # a notch open to the outside: kept
    filled = fill_holes(masks)
    assert filled[0, 4, 4] == 1 and filled[0].sum() == 25
    assert torch.equal(filled[1], masks[1])
