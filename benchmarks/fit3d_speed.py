"""3D fit speed: PyTorch3D's ``deform_source_mesh_to_target_mesh`` loop vs ours, one JSON line.

Same target (the fox, normalised), same settings (ico_sphere(4), 5000 samples per side, SGD lr 1
momentum 0.9, weights 1 / 1 / 0.01 / 0.1). The tutorial's cost per iteration is flat (brute-force
nearest neighbours), so it is timed on its first K iterations; ours is timed over a whole fit
(``ours_s_per_iter``; 300 iterations with ``--quick``, extrapolated to 2000) and on the same
first K iterations (``*_first_k``: our slowest, while the target is deep inside the sphere and
the k-d tree search visits most of it). Also forward + backward of each regulariser on a
deformed ico_sphere(4), PyTorch3D vs ours, in milliseconds.
Everything runs with one intra-op thread (what ``fit_mesh_to_mesh`` uses on a CPU), so both
sides are compared alike. Timings are wall clock on a shared machine: other processes on the
same cores make them noisy.

    python benchmarks/fit3d_speed.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from inverse_graphics.fit.mesh_to_mesh import Fit3DSettings, fit_mesh_to_mesh  # noqa: E402
from inverse_graphics.mesh.ico_sphere import ico_sphere  # noqa: E402
from inverse_graphics.mesh.io import load_mesh  # noqa: E402
from inverse_graphics.mesh.losses import edge_loss, laplacian_loss, normal_consistency_loss  # noqa: E402
from inverse_graphics.mesh.metrics import mesh_metrics  # noqa: E402
from inverse_graphics.mesh.normalize import normalize_verts  # noqa: E402
from inverse_graphics.mesh.topology import MeshTopology  # noqa: E402

FOX = Path(__file__).resolve().parents[1] / "assets" / "fox.obj"


def tutorial_seconds_per_iter(target_verts: torch.Tensor, target_faces: torch.Tensor, iterations: int) -> float:
    """The tutorial's loop on PyTorch3D ``Meshes``: sample both meshes, chamfer, three regularisers."""
    from pytorch3d.loss import chamfer_distance, mesh_edge_loss, mesh_laplacian_smoothing, mesh_normal_consistency
    from pytorch3d.ops import sample_points_from_meshes
    from pytorch3d.structures import Meshes
    from pytorch3d.utils import ico_sphere as p3d_ico_sphere

    torch.manual_seed(0)
    target = Meshes([normalize_verts(target_verts)], [target_faces])
    source = p3d_ico_sphere(4)
    offsets = torch.zeros_like(source.verts_packed(), requires_grad=True)
    optimizer = torch.optim.SGD([offsets], lr=1.0, momentum=0.9)
    start = time.perf_counter()
    for _ in range(iterations):
        mesh = source.offset_verts(offsets)
        loss_chamfer, _ = chamfer_distance(sample_points_from_meshes(target, 5000), sample_points_from_meshes(mesh, 5000))
        loss = (
            loss_chamfer
            + mesh_edge_loss(mesh)
            + 0.01 * mesh_normal_consistency(mesh)
            + 0.1 * mesh_laplacian_smoothing(mesh, method="uniform")
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return (time.perf_counter() - start) / iterations


def regulariser_ms(repeats: int) -> dict[str, dict[str, float]]:
    """Forward + backward milliseconds per call on a deformed ico_sphere(4) (best of 3 rounds)."""
    from pytorch3d.loss import mesh_edge_loss, mesh_laplacian_smoothing, mesh_normal_consistency
    from pytorch3d.structures import Meshes

    verts, faces = ico_sphere(4)
    verts = verts + 0.05 * torch.randn(verts.shape, generator=torch.Generator().manual_seed(0))
    topo = MeshTopology.from_faces(faces, verts.shape[0])
    cases = {
        "edge": (lambda v: mesh_edge_loss(Meshes([v], [faces])), lambda v: edge_loss(v, topo)),
        "normal": (lambda v: mesh_normal_consistency(Meshes([v], [faces])), lambda v: normal_consistency_loss(v, topo)),
        "laplacian_uniform": (
            lambda v: mesh_laplacian_smoothing(Meshes([v], [faces]), "uniform"),
            lambda v: laplacian_loss(v, topo, "uniform"),
        ),
        "laplacian_cot": (
            lambda v: mesh_laplacian_smoothing(Meshes([v], [faces]), "cot"),
            lambda v: laplacian_loss(v, topo, "cotangent"),
        ),
    }

    def best_ms(fn) -> float:
        rounds = []
        for _ in range(3):
            start = time.perf_counter()
            for _ in range(repeats):
                fn(verts.clone().requires_grad_()).backward()
            rounds.append((time.perf_counter() - start) / repeats * 1e3)
        return round(min(rounds), 3)

    return {name: {"pytorch3d": best_ms(theirs), "ours": best_ms(ours)} for name, (theirs, ours) in cases.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations (under about a minute)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    verts, faces = load_mesh(FOX)
    k = 10 if args.quick else 40
    tutorial = tutorial_seconds_per_iter(verts, faces, k)
    first_k = fit_mesh_to_mesh(verts, faces, Fit3DSettings(iterations=k), progress=False).seconds / k
    full_iterations = 300 if args.quick else Fit3DSettings().iterations
    fit = fit_mesh_to_mesh(verts, faces, Fit3DSettings(iterations=full_iterations), progress=False)
    ours = fit.seconds / full_iterations
    quality = mesh_metrics(fit.verts, fit.faces, verts, faces)
    line = {
        "tutorial_s_per_iter": round(tutorial, 4),
        "ours_s_per_iter": round(ours, 4),
        "speedup": round(tutorial / ours, 1),
        "ours_full_fit_s": round(ours * Fit3DSettings().iterations, 1),
        "ours_full_fit": f"extrapolated from {full_iterations} iterations" if args.quick else "measured, 2000 iterations",
        "tutorial_iterations_timed": k,
        "ours_s_per_iter_first_k": round(first_k, 4),
        "speedup_first_k": round(tutorial / first_k, 1),
        "fit_iterations": full_iterations,
        "fit_metrics": {name: round(value, 6) for name, value in quality.items()},
        "regulariser_fwd_bwd_ms": regulariser_ms(10 if args.quick else 50),
        "torch_threads": torch.get_num_threads(),
        "note": "wall clock on shared CPU cores; noisy",
    }
    print(json.dumps(line))


if __name__ == "__main__":
    main()
