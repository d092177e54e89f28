"""Multi-view consensus: the robust hull redraws the views whose masks disagree with the others, and only those."""

import numpy as np
import pytest
import torch

from inverse_graphics.mesh.ico_sphere import ico_sphere
from inverse_graphics.render.cameras import tutorial_rig
from inverse_graphics.render.silhouette import SilhouetteRenderer, SilhouetteSettings
from inverse_graphics.segment.consensus import Consensus, hull_silhouettes, redraw_outliers
from inverse_graphics.segment.postprocess import mask_iou

SIZE, VIEWS = 48, 12


@pytest.fixture(scope="module")
def scene():
    """A squashed ball (not round in every view) seen from ``VIEWS`` tutorial cameras: masks ``(K, S, S) bool``."""
    verts, faces = ico_sphere(3)
    verts = verts * torch.tensor([0.7, 0.35, 0.45])
    rig = tutorial_rig(VIEWS, image_size=SIZE)
    with torch.no_grad():
        masks = SilhouetteRenderer("fast", SilhouetteSettings(SIZE))(verts, faces, rig) > 0.5
    return masks.numpy(), rig


def test_hull_of_exact_masks_reprojects_onto_them(scene):
    masks, rig = scene
    silhouettes = hull_silhouettes(torch.from_numpy(masks).float(), rig, tolerance=0) > 0.5
    ious = [mask_iou(s, m) for s, m in zip(silhouettes.numpy(), masks)]
    assert min(ious) > 0.93, ious


def test_outlier_views_are_redrawn_and_the_others_kept(scene):
    masks, rig = scene
    broken = masks.copy()
    broken[2, :, : SIZE // 2] = True  # a leak over half the picture
    rows = np.nonzero(masks[5].any(axis=1))[0]
    broken[5, rows[len(rows) // 2]:] = False  # the lower half of the object lost
    assert mask_iou(broken[2], masks[2]) < 0.6 and mask_iou(broken[5], masks[5]) < 0.7

    out, agreement, redrawn = redraw_outliers(broken, rig, Consensus(tolerance=2))
    assert redrawn == [2, 5]
    assert mask_iou(out[2], masks[2]) > 0.9 and mask_iou(out[5], masks[5]) > 0.85  # the tolerant hull is a little fat
    kept = [i for i in range(VIEWS) if i not in redrawn]
    assert np.array_equal(out[kept], broken[kept])  # the views that agree keep their own masks, bit for bit
    assert min(agreement[i] for i in kept) >= 0.8 > max(agreement[i] for i in redrawn)


def test_a_plain_hull_lets_one_bad_view_carve_every_view(scene):
    """Why the tolerance: with none, a view that lost half the object cuts that half from every silhouette."""
    masks, rig = scene
    broken = masks.copy()
    rows = np.nonzero(masks[5].any(axis=1))[0]
    broken[5, rows[len(rows) // 2]:] = False
    plain = hull_silhouettes(torch.from_numpy(broken).float(), rig, tolerance=0) > 0.5
    tolerant = hull_silhouettes(torch.from_numpy(broken).float(), rig, tolerance=2) > 0.5
    others = [i for i in range(VIEWS) if i != 5]
    assert np.mean([mask_iou(plain[i].numpy(), masks[i]) for i in others]) < 0.9
    assert np.mean([mask_iou(tolerant[i].numpy(), masks[i]) for i in others]) > 0.9


def test_a_consensus_needs_a_majority_of_views():
    assert not Consensus(tolerance=3).applies_to(6)
    assert Consensus(tolerance=3).applies_to(7)
    assert not Consensus(enabled=False).applies_to(20)
    with pytest.raises(AssertionError, match="tolerance"):
        hull_silhouettes(torch.ones(3, 8, 8), tutorial_rig(3, image_size=8), tolerance=3)


def test_no_consensus_when_most_views_disagree(scene):
    """Most views half lost: the hull they carve is thinner than the object, so it redraws nothing."""
    masks, rig = scene
    broken = masks.copy()
    for view in range(VIEWS // 2 + 2):
        rows = np.nonzero(masks[view].any(axis=1))[0]
        broken[view, rows[len(rows) // 2]:] = False
    settings = Consensus(tolerance=2)
    out, agreement, redrawn = redraw_outliers(broken, rig, settings)
    assert sum(a < settings.min_agreement for a in agreement) > VIEWS // 2 and not settings.holds(agreement)
    assert redrawn == [] and np.array_equal(out, broken)
    held = Consensus(tolerance=2, max_outlier_share=1.0)  # a consensus at any count redraws them
    assert redraw_outliers(broken, rig, held)[2] != []
