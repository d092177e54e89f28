"""Camera rigs in PyTorch3D's conventions, and their ``cameras.json`` file format.

A rig is a set of look-at views of an object at the origin: per view a distance, an
elevation and an azimuth in degrees (``pytorch3d.renderer.look_at_view_transform``),
shared by one ``FoVPerspectiveCameras`` field of view and one square image size.
Both silhouette backends and the shaded renderer build their cameras from a rig, so a
mask written by one stage lines up with the render of another.

``cameras.json``::

    {"convention": "pytorch3d-look-at", "fov": 60.0, "image_size": 128,
     "views": [{"dist": 2.7, "elev": 0.0, "azim": -180.0, "mask": "masks/000.png",
                "image": "images/000.png"}, ...]}

It is the heart of the object folder (``docs/object_folder.md``, ``data/object_views.py``).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..errors import UserError
from ..io_utils import read_json, write_json

CONVENTION = "pytorch3d-look-at"


@dataclass(frozen=True)
class CameraRig:
    """``N`` look-at views. ``dist, elev, azim``: (N,) floats, degrees; ``fov`` in degrees."""

    dist: tuple[float, ...]
    elev: tuple[float, ...]
    azim: tuple[float, ...]
    fov: float = 60.0
    image_size: int = 128
    files: tuple[dict, ...] = field(default=(), compare=False)

    def __post_init__(self):
        if not (len(self.dist) == len(self.elev) == len(self.azim)):
            raise ValueError("dist, elev and azim must have one entry per view")

    def __len__(self) -> int:
        return len(self.dist)

    def subset(self, index) -> "CameraRig":
        """The rig restricted to the views in ``index`` (list of ints)."""
        index = [int(i) for i in index]
        pick = lambda seq: tuple(seq[i] for i in index)  # noqa: E731
        files = pick(self.files) if self.files else ()
        return CameraRig(pick(self.dist), pick(self.elev), pick(self.azim), self.fov, self.image_size, files)

    def rotations_translations(self, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        """World-to-view ``R: (N, 3, 3)``, ``T: (N, 3)`` in PyTorch3D's row-vector convention."""
        from pytorch3d.renderer import look_at_view_transform

        R, T = look_at_view_transform(
            dist=torch.tensor(self.dist, dtype=torch.float32),
            elev=torch.tensor(self.elev, dtype=torch.float32),
            azim=torch.tensor(self.azim, dtype=torch.float32),
        )
        return R.to(device), T.to(device)

    def to_pytorch3d(self, device: torch.device | str = "cpu"):
        """A batched ``FoVPerspectiveCameras`` with one camera per view."""
        from pytorch3d.renderer import FoVPerspectiveCameras

        R, T = self.rotations_translations(device)
        return FoVPerspectiveCameras(R=R, T=T, fov=self.fov, device=device)

    def to_json(self) -> dict:
        views = []
        for i in range(len(self)):
            view = {"dist": float(self.dist[i]), "elev": float(self.elev[i]), "azim": float(self.azim[i])}
            if self.files:
                view.update(self.files[i])
            views.append(view)
        return {"convention": CONVENTION, "fov": float(self.fov), "image_size": int(self.image_size), "views": views}


def tutorial_rig(num_views: int = 20, dist: float = 2.7, image_size: int = 128, fov: float = 60.0) -> CameraRig:
    """The PyTorch3D ``fit_textured_mesh`` tutorial views: elev 0..360 and azim -180..180 in N steps."""
    elev = torch.linspace(0, 360, num_views).tolist()
    azim = torch.linspace(-180, 180, num_views).tolist()
    return CameraRig(tuple([float(dist)] * num_views), tuple(elev), tuple(azim), fov, image_size)


def ring_rig(
    num_views: int = 20,
    elevations: tuple[float, ...] = (10.0, 25.0),
    dist: float = 2.7,
    image_size: int = 64,
    fov: float = 60.0,
) -> CameraRig:
    """Rings of evenly spaced azimuths, one ring per elevation (views split as evenly as possible; each ring is
    turned by half a step against the previous one, so the rings do not repeat the same azimuths)."""
    if num_views < len(elevations):
        raise ValueError(f"{num_views} views cannot cover {len(elevations)} rings")
    counts = [num_views // len(elevations) + (i < num_views % len(elevations)) for i in range(len(elevations))]
    elev, azim = [], []
    for ring, (e, n) in enumerate(zip(elevations, counts)):
        step = 360.0 / n
        elev += [float(e)] * n
        azim += [((k + 0.5 * (ring % 2)) * step) % 360.0 - 180.0 for k in range(n)]
    return CameraRig((float(dist),) * num_views, tuple(elev), tuple(azim), fov, image_size)


def random_rig(
    num_views: int,
    generator: torch.Generator,
    dist: float = 2.7,
    elev_range: tuple[float, float] = (0.0, 30.0),
    image_size: int = 64,
    fov: float = 60.0,
) -> CameraRig:
    """Azimuth uniform in [0, 360), elevation uniform in ``elev_range``, fixed distance and FoV."""
    azim = torch.rand(num_views, generator=generator) * 360.0
    elev = elev_range[0] + torch.rand(num_views, generator=generator) * (elev_range[1] - elev_range[0])
    return CameraRig(tuple([float(dist)] * num_views), tuple(elev.tolist()), tuple(azim.tolist()), fov, image_size)


def save_rig(path: str | os.PathLike, rig: CameraRig) -> None:
    write_json(path, rig.to_json())


def load_rig(path: str | os.PathLike) -> CameraRig:
    """Read ``cameras.json``; any missing or malformed field is a one-line ``UserError``."""
    path = Path(path)
    data = read_json(path)
    if not isinstance(data, dict) or data.get("convention") != CONVENTION:
        raise UserError(f"{path}: expected a cameras.json with \"convention\": \"{CONVENTION}\"")
    try:
        fov = float(data["fov"])
        image_size = int(data["image_size"])
        views = data["views"]
        dist = tuple(float(v["dist"]) for v in views)
        elev = tuple(float(v["elev"]) for v in views)
        azim = tuple(float(v["azim"]) for v in views)
        files = tuple({k: v[k] for k in v if k not in ("dist", "elev", "azim")} for v in views)
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"{path}: malformed cameras.json ({type(exc).__name__}: {exc})") from None
    if not views:
        raise UserError(f"{path}: cameras.json lists no views")
    if not all(math.isfinite(x) for x in dist + elev + azim) or image_size <= 0:
        raise UserError(f"{path}: cameras.json has non-finite angles or a bad image_size")
    return CameraRig(dist, elev, azim, fov, image_size, files if any(files) else ())
