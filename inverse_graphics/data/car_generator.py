"""A parametric car: a lofted body with a greenhouse plus four wheels, as a triangle mesh.

Frame (metres before normalisation): length along +x (the nose at +x), up = +y as
PyTorch3D's ``look_at_view_transform`` uses, width along z, the ground at y = 0.

The body is lofted through cross-sections along x. Each section is one closed loop in the
(z, y) plane: a rounded lower body from the sill up to the shoulder line, then the
greenhouse band from the shoulder to the top of the side profile, drawn narrower
(tumblehome). Over the hood and trunk deck the band is only a few centimetres high, so the
same loop gives a rounded hood there. Both ends are closed by a fan. Each wheel is a closed
cylinder (tyre tread, tyre sidewall ring, hub disc).

Wheel wells: over each wheel the sill rises in an arch, but only the outer strip of the
underside follows it, a well as wide as the tyre plus a few centimetres; the floor between the
wells stays at the ground clearance, as on a real car. (A floor that rose over the whole width
would leave a tunnel through the car above each axle that every silhouette hides.)

Promise (tested): the mesh is a union of five closed parts (body + four wheels). Every part
on its own is watertight (each edge shared by exactly two faces), winding-consistent and
oriented outward (positive signed volume). Parts may intersect each other (a tyre can reach
into the body above its wheel arch); the union as one mesh is not promised to be a manifold.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..mesh.normalize import normalize_verts
from ..render.shaded import render_shaded

# Material ids, one per face (see ``CarMesh.materials``).
BODY, GLASS, TYRE, HUB, LAMP_FRONT, LAMP_REAR = range(6)
STYLES = ("sedan", "hatchback", "wagon", "suv", "van", "sports", "pickup")

_WHEEL_SEGMENTS = 16
_SECTIONS = 24  # evenly spaced body sections; key profile stations are added on top


@dataclass(frozen=True)
class CarParams:
    """Shape of one car. Lengths in metres, angles in degrees, ``*_frac`` as fractions of ``length``."""

    style: str = "sedan"
    length: float = 4.6
    width: float = 1.8
    roof_height: float = 1.45  # ground to roof at the top of the windshield
    roof_drop: float = 0.03  # roof slope: how much lower the roof is at its rear end
    clearance: float = 0.15  # ground to sill
    belt_height: float = 0.95  # ground to the shoulder (window sill) line at the middle of the car
    belt_rise: float = 0.04  # wedge: the belt line is this much higher at the rear than at the front
    hood_height: float = 0.98  # ground to the hood at the base of the windshield
    nose_height: float = 0.78  # ground to the top of the nose
    deck_height: float = 1.0  # ground to the trunk deck at the base of the rear window
    tail_height: float = 0.95  # ground to the top of the tail
    hood_frac: float = 0.27  # nose to the base of the windshield
    trunk_frac: float = 0.2  # tail to the base of the rear window (~0 for hatchbacks, vans)
    windshield_rake: float = 28.0  # windshield angle from horizontal
    rear_rake: float = 30.0  # rear window angle from horizontal
    tumblehome: float = 0.16  # greenhouse narrowing at the roof, fraction of the half width
    corner_round: float = 0.5  # plan-view corner radius, fraction of the half width
    edge_round: float = 0.08  # cross-section corner radius of the lower body, metres
    wheel_radius: float = 0.33
    wheel_width: float = 0.22
    wheelbase_frac: float = 0.6
    front_overhang_frac: float = 0.2
    wheel_inset: float = 0.02  # outer face of the tyre inside the body side by this much


_STYLE_RANGES: dict[str, dict[str, tuple[float, float]]] = {
    "sedan": dict(length=(4.3, 5.0), width=(1.72, 1.9), roof_height=(1.38, 1.5), clearance=(0.13, 0.17),
                  belt=(0.62, 0.68), hood_frac=(0.24, 0.3), trunk_frac=(0.16, 0.22), windshield_rake=(24, 32),
                  rear_rake=(22, 32), wheel_radius=(0.31, 0.35), deck=(0.02, 0.08)),
    "hatchback": dict(length=(3.6, 4.3), width=(1.65, 1.8), roof_height=(1.42, 1.55), clearance=(0.13, 0.17),
                      belt=(0.6, 0.66), hood_frac=(0.2, 0.25), trunk_frac=(0.0, 0.03), windshield_rake=(26, 34),
                      rear_rake=(45, 70), wheel_radius=(0.29, 0.33), deck=(0.0, 0.05)),
    "wagon": dict(length=(4.5, 5.0), width=(1.75, 1.9), roof_height=(1.42, 1.52), clearance=(0.13, 0.18),
                  belt=(0.6, 0.66), hood_frac=(0.23, 0.28), trunk_frac=(0.0, 0.03), windshield_rake=(25, 32),
                  rear_rake=(55, 75), wheel_radius=(0.31, 0.35), deck=(0.0, 0.05)),
    "suv": dict(length=(4.3, 5.0), width=(1.82, 2.0), roof_height=(1.62, 1.82), clearance=(0.19, 0.26),
                belt=(0.58, 0.64), hood_frac=(0.22, 0.27), trunk_frac=(0.0, 0.03), windshield_rake=(30, 40),
                rear_rake=(60, 80), wheel_radius=(0.36, 0.41), deck=(0.0, 0.05)),
    "van": dict(length=(4.6, 5.3), width=(1.8, 2.0), roof_height=(1.8, 2.0), clearance=(0.15, 0.2),
                belt=(0.5, 0.56), hood_frac=(0.1, 0.15), trunk_frac=(0.0, 0.02), windshield_rake=(34, 48),
                rear_rake=(78, 88), wheel_radius=(0.32, 0.36), deck=(0.0, 0.03)),
    "sports": dict(length=(4.1, 4.7), width=(1.85, 1.98), roof_height=(1.1, 1.26), clearance=(0.09, 0.12),
                   belt=(0.66, 0.72), hood_frac=(0.3, 0.37), trunk_frac=(0.08, 0.16), windshield_rake=(18, 24),
                   rear_rake=(14, 22), wheel_radius=(0.32, 0.35), deck=(0.0, 0.04)),
    "pickup": dict(length=(5.0, 5.6), width=(1.85, 2.0), roof_height=(1.75, 1.9), clearance=(0.22, 0.28),
                   belt=(0.56, 0.62), hood_frac=(0.24, 0.28), trunk_frac=(0.3, 0.38), windshield_rake=(32, 40),
                   rear_rake=(80, 88), wheel_radius=(0.38, 0.42), deck=(0.0, 0.03)),
}


def sample_car_params(rng: np.random.Generator) -> CarParams:
    """Draw a style (sedan, hatchback, wagon, SUV, van, sports car, pickup), then its dimensions."""
    style = STYLES[int(rng.integers(len(STYLES)))]
    r = _STYLE_RANGES[style]
    u = lambda lo, hi: float(rng.uniform(lo, hi))  # noqa: E731
    roof = u(*r["roof_height"])
    clearance = u(*r["clearance"])
    belt = roof * u(*r["belt"])
    hood = belt + u(0.0, 0.05)
    deck = belt + u(*r["deck"]) if r["trunk_frac"][1] > 0.05 else belt + u(0.0, 0.04)
    return CarParams(
        style=style,
        length=u(*r["length"]),
        width=u(*r["width"]),
        roof_height=roof,
        roof_drop=u(0.0, 0.08),
        clearance=clearance,
        belt_height=belt,
        belt_rise=u(-0.01, 0.08),
        hood_height=hood,
        nose_height=hood - u(0.08, 0.25) * (hood - clearance),
        deck_height=deck,
        tail_height=deck - u(0.0, 0.12),
        hood_frac=u(*r["hood_frac"]),
        trunk_frac=u(*r["trunk_frac"]),
        windshield_rake=u(*r["windshield_rake"]),
        rear_rake=u(*r["rear_rake"]),
        tumblehome=u(0.1, 0.22),
        corner_round=u(0.3, 0.8),
        edge_round=u(0.04, 0.14),
        wheel_radius=u(*r["wheel_radius"]),
        wheel_width=u(0.18, 0.27),
        wheelbase_frac=u(0.56, 0.64),
        front_overhang_frac=u(0.16, 0.22),
        wheel_inset=u(-0.01, 0.04),
    )


def side_profile(p: CarParams) -> tuple[np.ndarray, np.ndarray]:
    """Top of the side silhouette as a polyline from tail to nose: ``xs: (P,)``, ``ys: (P,)``.

    Stations: tail, deck (rear window base), roof rear, roof front, cowl (windshield base), nose.
    When the windshield and rear window would overlap, both are steepened to leave a roof
    of at least 20% of the length.
    """
    half = p.length / 2
    x_cowl = half - p.hood_frac * p.length
    x_deck = -half + max(p.trunk_frac * p.length, 0.02)
    roof_rear = p.roof_height - p.roof_drop
    run_ws = (p.roof_height - p.hood_height) / math.tan(math.radians(p.windshield_rake))
    run_rw = (roof_rear - p.deck_height) / math.tan(math.radians(p.rear_rake))
    room = (x_cowl - x_deck) - 0.2 * p.length
    if run_ws + run_rw > room:
        scale = max(room, 0.0) / (run_ws + run_rw)
        run_ws, run_rw = run_ws * scale, run_rw * scale
    xs = np.array([-half, x_deck, x_deck + run_rw, x_cowl - run_ws, x_cowl, half])
    ys = np.array([p.tail_height, p.deck_height, roof_rear, p.roof_height, p.hood_height, p.nose_height])
    return xs, ys


def axle_xs(p: CarParams) -> tuple[float, float]:
    """x of the front and rear axles."""
    x_front = p.length / 2 - p.front_overhang_frac * p.length
    return x_front, x_front - p.wheelbase_frac * p.length


def _arch_radius(p: CarParams) -> float:
    return p.wheel_radius + 0.04


def _wheel_side(p: CarParams, x_axle: float) -> float:
    """|z| of the outer tyre face of the wheels on the axle at ``x_axle``."""
    return float(_plan_half_width(p, np.array([x_axle]))[0]) - p.wheel_inset


def _section_xs(p: CarParams, stations: np.ndarray) -> np.ndarray:
    """Section positions (S,): an even spacing, the profile stations, the wheel arches, denser ends."""
    half = p.length / 2
    ends = np.linspace(0.0, 1.0, 5)[1:-1] ** 1.5 * 0.12 * p.length
    arch = _arch_radius(p) * np.cos(np.linspace(0.0, math.pi, 9))
    arches = [x + arch for x in axle_xs(p)]
    xs = np.concatenate([np.linspace(-half, half, _SECTIONS), stations, -half + ends, half - ends, *arches])
    xs = np.unique(np.round(xs, 6))
    keep = np.concatenate([[True], np.diff(xs) > 0.01 * p.length])
    keep[-1] = True
    return xs[keep]


def _plan_half_width(p: CarParams, xs: np.ndarray) -> np.ndarray:
    """Half width (S,) of the body seen from above: rounded corners at nose and tail."""
    half_w = p.width / 2
    radius = max(p.corner_round * half_w, 1e-3)
    d = np.minimum(xs + p.length / 2, p.length / 2 - xs)  # distance to the nearer end
    t = np.clip(1.0 - d / radius, 0.0, 1.0)
    return half_w * (0.55 + 0.45 * np.sqrt(1.0 - t**2))


def _section_loop(hw: float, y_bot: float, y_sh: float, y_top: float, top_scale: float, r_low: float,
                  y_floor: float, z_well: float) -> np.ndarray:
    """One closed cross-section loop ``(K, 2)`` of (z, y) points, counter-clockwise seen from +x.

    Right half from the bottom centre up to the top centre, then the mirrored left half.
    Index ranges of the loop's segments are fixed (see ``_GLASS_SIDE``, ``_TOP``).
    """
    r_low = min(r_low, 0.45 * (y_sh - y_bot), 0.45 * hw)
    band = y_top - y_sh
    hw_top = hw * top_scale
    r_top = min(0.06, 0.4 * band, 0.3 * hw_top)
    a = np.radians([30.0, 60.0])
    z_well = min(z_well, hw - r_low - 0.02)  # keep the well wall inboard of the sill's rounded edge
    right = [
        (0.0, y_floor),
        (z_well - _WELL_SLOPE, y_floor),  # floor edge; the wheel-well wall rises from here
        (z_well, y_bot),  # top of the well wall (on the floor's line where there is no well)
        (hw - r_low, y_bot),
        *[(hw - r_low + r_low * math.sin(t), y_bot + r_low - r_low * math.cos(t)) for t in a],
        (hw, y_bot + r_low),
        (hw * 1.005, y_bot + 0.55 * (y_sh - y_bot)),
        (hw * 0.985, y_sh - 0.25 * r_low),
        (hw * 0.955, y_sh),  # shoulder: the greenhouse (side glass) starts here
        (hw_top, y_top - r_top),  # greenhouse ends here
        (hw_top - r_top * (1 - math.cos(math.pi / 4)), y_top - r_top * (1 - math.sin(math.pi / 4))),
        (hw_top - r_top, y_top),
        (0.0, y_top),
    ]
    right = np.array(right)
    left = right[-2:0:-1] * np.array([-1.0, 1.0])
    return np.concatenate([right, left])


# Loop segment j joins loop points j and j+1 (mod K): 14 right-half points (bottom centre to top
# centre), then 12 mirrored left ones.
_GLASS_SIDE = (9, 16)  # shoulder -> greenhouse top, right and left
_TOP = (10, 11, 12, 13, 14, 15)  # roof corner and roof, right and left
_LOOP_K = 26
_WELL_SLOPE = 0.02  # z run of a wheel-well wall, metres
_WELL_GAP = 0.04  # wheel-well wall to the inner face of the tyre, metres


def _loft_faces(num_sections: int, k: int) -> np.ndarray:
    """Quads between consecutive loops, split in two triangles: ``(2 * (S-1) * K, 3)``."""
    s = np.arange(num_sections - 1)[:, None]
    j = np.arange(k)[None, :]
    a, b = s * k + j, s * k + (j + 1) % k
    c, d = a + k, b + k
    return np.stack([np.stack([a, b, d], -1), np.stack([a, d, c], -1)], 2).reshape(-1, 3)


def _fan(center: int, ring: np.ndarray, reverse: bool) -> np.ndarray:
    """Triangles ``(R, 3)`` joining vertex ``center`` to each edge of the closed ``ring``."""
    nxt = np.roll(ring, -1)
    tri = np.stack([np.full_like(ring, center), ring, nxt], -1)
    return tri[:, [0, 2, 1]] if reverse else tri


def _body(p: CarParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lofted body: ``verts (V, 3)``, ``faces (F, 3)``, ``materials (F,)``."""
    px, py = side_profile(p)
    xs = _section_xs(p, px)
    y_top = np.interp(xs, px, py)
    half = p.length / 2
    belt = p.belt_height + p.belt_rise * (-xs / p.length)
    y_sh = np.minimum(belt, y_top - 0.035)
    d_end = np.minimum(xs + half, half - xs)
    lift = np.clip(1.0 - d_end / (0.12 * p.length), 0.0, 1.0) ** 2
    y_bot = p.clearance + lift * 0.35 * (y_sh - p.clearance)
    y_floor = np.minimum(y_bot, y_sh - 0.06)  # the floor between the wheel wells
    z_well = np.full_like(xs, np.inf)
    for x_axle in axle_xs(p):  # wheel arches: the sill rises over each wheel
        arch = p.wheel_radius + np.sqrt(np.clip(_arch_radius(p) ** 2 - (xs - x_axle) ** 2, 0.0, None))
        y_bot = np.maximum(y_bot, np.where(np.abs(xs - x_axle) < _arch_radius(p), arch, 0.0))
        z_well = np.minimum(z_well, _wheel_side(p, x_axle) - p.wheel_width - _WELL_GAP)
    y_bot = np.minimum(y_bot, y_sh - 0.06)  # keep some door panel on low cars
    hw = _plan_half_width(p, xs)
    cabin = np.clip((y_top - y_sh - 0.04) / 0.15, 0.0, 1.0)  # 0 on hood/deck, 1 under the roof
    top_scale = 1.0 - (0.06 + (p.tumblehome - 0.06) * cabin)
    loops = [
        _section_loop(hw[i], y_bot[i], y_sh[i], y_top[i], top_scale[i], p.edge_round, y_floor[i], z_well[i])
        for i in range(len(xs))
    ]
    k = _LOOP_K
    ring_zy = np.stack(loops)  # (S, K, 2)
    verts = np.concatenate(
        [np.repeat(xs[:, None], k, 1)[..., None], ring_zy[..., 1:2], ring_zy[..., 0:1]], -1
    ).reshape(-1, 3)
    faces = _loft_faces(len(xs), k)

    # materials of the loft: per (section interval, loop segment), two triangles each
    s_mid = 0.5 * (xs[:-1] + xs[1:])
    glass_rows = np.interp(s_mid, xs, cabin) > 0.5
    screen_rows = glass_rows & ((s_mid < px[2]) | (s_mid > px[3]))  # rear window and windshield
    mat = np.full((len(xs) - 1, k), BODY)
    mat[np.ix_(glass_rows, list(_GLASS_SIDE))] = GLASS
    mat[np.ix_(screen_rows, list(_TOP))] = GLASS
    materials = np.repeat(mat.reshape(-1), 2)

    # caps: fan from the centroid of the first (tail) and last (nose) loop
    n_loft = len(verts)
    tail_c, nose_c = verts[:k].mean(0), verts[-k:].mean(0)
    verts = np.concatenate([verts, tail_c[None], nose_c[None]])
    tail = _fan(n_loft, np.arange(k), reverse=True)
    nose = _fan(n_loft + 1, np.arange(n_loft - k, n_loft), reverse=False)
    faces = np.concatenate([faces, tail, nose])
    materials = np.concatenate([materials, _lamp_materials(tail, verts, LAMP_REAR), _lamp_materials(nose, verts, LAMP_FRONT)])
    return verts, faces, materials


def _lamp_materials(cap: np.ndarray, verts: np.ndarray, lamp: int) -> np.ndarray:
    """End-cap faces near the upper outer corners become lamps; the rest is body."""
    centroid = verts[cap].mean(1)
    z, y = np.abs(centroid[:, 2]), centroid[:, 1]
    y_lo, y_hi = verts[cap][:, :, 1].min(), verts[cap][:, :, 1].max()
    z_max = np.abs(verts[cap][:, :, 2]).max()
    lamp_zone = (z > 0.45 * z_max) & (y > y_lo + 0.55 * (y_hi - y_lo)) & (y < y_lo + 0.95 * (y_hi - y_lo))
    return np.where(lamp_zone, lamp, BODY)


def _wheel(x: float, z_out: float, z_in: float, radius: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Closed cylinder along z between ``z_in`` and ``z_out``: tread, sidewall ring, hub disc, inner disc."""
    n = _WHEEL_SEGMENTS
    t = np.arange(n) * 2 * math.pi / n
    circle = np.stack([np.cos(t), np.sin(t)], -1)
    hub_r = 0.62 * radius
    sign = 1.0 if z_out > z_in else -1.0
    bulge = z_out + sign * 0.01  # hub cap sits slightly proud of the sidewall

    def ring(r: float, z: float) -> np.ndarray:
        return np.concatenate([x + r * circle[:, :1], radius + r * circle[:, 1:], np.full((n, 1), z)], -1)

    verts = np.concatenate([ring(radius, z_in), ring(radius, z_out), ring(hub_r, bulge),
                            [[x, radius, bulge + sign * 0.005], [x, radius, z_in]]])
    inner, outer, hub = np.arange(n), np.arange(n, 2 * n), np.arange(2 * n, 3 * n)
    c_hub, c_in = 3 * n, 3 * n + 1

    def band(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        a1, b1 = np.roll(a, -1), np.roll(b, -1)
        return np.concatenate([np.stack([a, a1, b1], -1), np.stack([a, b1, b], -1)])

    tread, side = band(inner, outer), band(outer, hub)
    faces = np.concatenate([tread, side, _fan(c_hub, hub, reverse=False), _fan(c_in, inner, reverse=True)])
    materials = np.concatenate([np.full(len(tread) + len(side), TYRE), np.full(n, HUB), np.full(n, TYRE)])
    return verts, faces, materials


def _signed_volume(verts: np.ndarray, faces: np.ndarray) -> float:
    """Signed volume of a closed mesh: positive when faces wind counter-clockwise seen from outside."""
    a, b, c = verts[faces[:, 0]], verts[faces[:, 1]], verts[faces[:, 2]]
    return float(np.einsum("ij,ij->i", a, np.cross(b, c)).sum() / 6.0)


@dataclass(frozen=True)
class CarMesh:
    """A car in metres. ``verts (V, 3) float64``, ``faces (F, 3) int64``, ``materials (F,)`` ids,
    ``part_faces``: (start, stop) face range of each closed part (body first, then four wheels)."""

    verts: np.ndarray
    faces: np.ndarray
    materials: np.ndarray
    part_faces: tuple[tuple[int, int], ...]

    def normalized(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``verts (V, 3) float32`` centred on the bbox centre inside the unit sphere, ``faces (F, 3) int64``."""
        verts = normalize_verts(torch.from_numpy(self.verts).double()).float()
        return verts, torch.from_numpy(self.faces)

    def face_colors(self, body: tuple[float, float, float]) -> torch.Tensor:
        """Albedo per face ``(F, 3)``: ``body`` paint, dark glass and tyres, silver hubs, lamps."""
        palette = torch.tensor([body, (0.06, 0.08, 0.1), (0.05, 0.05, 0.05), (0.7, 0.7, 0.72),
                                (0.95, 0.93, 0.8), (0.75, 0.05, 0.04)], dtype=torch.float32)
        return palette[torch.from_numpy(self.materials)]


def _oriented(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    return faces if _signed_volume(verts, faces) > 0 else faces[:, ::-1].copy()


def build_car(p: CarParams) -> CarMesh:
    """The car as five closed parts in metres, ground at y = 0 (see the module docstring)."""
    parts = [_body(p)]
    for x in axle_xs(p):
        side = _wheel_side(p, x)
        for s in (1.0, -1.0):
            parts.append(_wheel(x, s * side, s * (side - p.wheel_width), p.wheel_radius))
    verts, faces, materials, ranges = [], [], [], []
    offset = start = 0
    for v, f, m in parts:
        f = _oriented(v, f)
        verts.append(v)
        faces.append(f + offset)
        materials.append(m)
        ranges.append((start, start + len(f)))
        offset, start = offset + len(v), start + len(f)
    return CarMesh(np.concatenate(verts), np.concatenate(faces).astype(np.int64),
                   np.concatenate(materials).astype(np.int64), tuple(ranges))


@dataclass(frozen=True)
class Appearance:
    """Paint and scene of ``N`` renders of one car: ``body (3,)`` albedo, ``light_dir (N, 3)`` towards the
    light, ``background (N, 2, 3)`` top and bottom colours of a vertical gradient."""

    body: torch.Tensor
    light_dir: torch.Tensor
    background: torch.Tensor


def sample_appearance(rng: np.random.Generator, num_views: int) -> Appearance:
    """Half the cars neutral (white .. black, silver), half coloured; light from above, any azimuth;
    a sky-like top fading to a darker ground per view."""
    if rng.random() < 0.5:
        body = np.full(3, rng.uniform(0.08, 0.92)) * rng.uniform(0.97, 1.03, 3)
    else:
        hue, sat, val = rng.random(), rng.uniform(0.4, 0.9), rng.uniform(0.3, 0.9)
        body = val * (1 - sat + sat * np.clip(np.abs(((hue * 6 + np.array([0, 4, 2])) % 6) - 3) - 1, 0, 1))
    elev = np.radians(rng.uniform(30, 80, num_views))
    azim = rng.uniform(0, 2 * math.pi, num_views)
    light = np.stack([np.cos(elev) * np.cos(azim), np.sin(elev), np.cos(elev) * np.sin(azim)], -1)
    top = rng.uniform(0.55, 1.0, (num_views, 1)) * rng.uniform(0.85, 1.0, (num_views, 3))
    bottom = rng.uniform(0.15, 0.6, (num_views, 1)) * rng.uniform(0.85, 1.0, (num_views, 3))
    return Appearance(torch.tensor(np.clip(body, 0, 1), dtype=torch.float32),
                      torch.tensor(light, dtype=torch.float32),
                      torch.tensor(np.stack([top, bottom], 1), dtype=torch.float32))


def render_car(car: CarMesh, rig, look: Appearance) -> tuple[torch.Tensor, torch.Tensor]:
    """Shaded views of the normalised car: ``images (N, S, S, 3)`` in [0, 1], ``masks (N, S, S) bool``."""
    verts, faces = car.normalized()
    return render_shaded(verts, faces, rig, car.face_colors(tuple(look.body.tolist())),
                         look.light_dir, background=look.background)


def build_car_mesh(p: CarParams) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalised car mesh: ``verts (V, 3) float32`` (bbox centre at 0, unit sphere), ``faces (F, 3) int64``."""
    return build_car(p).normalized()
