"""The reconstructions ``evaluate`` compares, and what their differences say about each stage of the chain.

Each variant is a folder of meshes ``<meshes>/<variant>/<car>.obj``, one per held-out car. The first four form a
ladder in which one thing changes per step, so the drop from one to the next is the cost of that step (the error
split): perfect masks on the tutorial rig -> perfect masks on the chain's rig at its resolution -> the segmenter's
masks of the true renders -> the segmenter's masks of the generator's views. The next three are baselines; the last
is an oracle with a 3D shape prior (``fit_mesh --library``).

A variant that has no folder is ``missing`` (its stage has not run, e.g. the chain before ``multiview`` exists); a
folder without a mesh for every held-out car is ``incomplete``. Neither gets a mean: a mean over other cars would
not compare.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

VARIANTS: dict[str, str] = {
    "oracle_tutorial": "fit_mesh on the ground-truth masks of the tutorial rig (20 views from all round, 128 px)",
    "oracle_rig": "fit_mesh on the ground-truth masks at the multiview rig's 20 cameras and the generator's "
                  "resolution (64 px): the most the chain can reach",
    "segmented_gt": "the ground-truth renders at the multiview rig -> segment -> fit_mesh (the segmenter's cost)",
    "chain": "the input image -> multiview -> segment -> fit_mesh (the whole pipeline)",
    "single_view": "fit_mesh on the input image's own mask alone, at its camera (one view, no GAN)",
    "template": "retrieval: the training car whose silhouette best matches the input's mask at its camera "
                "(needs the training cars' 3D meshes, which the GAN path never sees)",
    "average_car": "the chain without its input: the generator's average car (w_avg) at the multiview rig -> "
                   "segment -> fit_mesh, the same mesh for every car",
    "oracle_library": "fit_mesh on the tutorial rig's ground-truth masks, started from the training car that they "
                      "match best (a 3D shape prior for what no silhouette shows; the GAN path never sees it)",
}
METRICS = ("chamfer_l2", "fscore@0.01", "fscore@0.02", "fscore@0.05", "normal_consistency", "iou3d")
LOWER_IS_BETTER = frozenset({"chamfer_l2"})
# (name of the step, variant before, variant after): the drop from one to the other is the step's cost
SPLIT = (
    ("rig_resolution", "oracle_tutorial", "oracle_rig"),
    ("segmenter", "oracle_rig", "segmented_gt"),
    ("generator", "segmented_gt", "chain"),
)
SPLIT_METRICS = ("fscore@0.05", "fscore@0.02", "fscore@0.01", "chamfer_l2")  # F@0.05 saturates: the finer ones
BASELINES = ("single_view", "template", "average_car")
SCORED, MISSING, INCOMPLETE = "scored", "missing", "incomplete"


def cost(metric: str, before: float, after: float) -> float:
    """What going from ``before`` to ``after`` costs on ``metric``: positive when the result got worse."""
    return after - before if metric in LOWER_IS_BETTER else before - after


def error_split(means: Mapping[str, Mapping[str, float]], metric: str) -> dict[str, float]:
    """The cost of each step of the ladder on ``metric`` (``SPLIT``), for the steps whose two variants are scored,
    and ``total`` (``oracle_tutorial`` -> ``chain``) when both ends are; the steps then add up to the total."""
    split = {name: cost(metric, means[a][metric], means[b][metric])
             for name, a, b in SPLIT if a in means and b in means}
    first, last = SPLIT[0][1], SPLIT[-1][2]
    if first in means and last in means:
        split["total"] = cost(metric, means[first][metric], means[last][metric])
    return split


def variant_status(per_car: Mapping[str, Mapping[str, dict]] | None, cars: Sequence[str]) -> tuple[str, list[str]]:
    """``(status, cars without a mesh)`` of one variant; ``per_car`` is ``None`` when its folder does not exist."""
    if per_car is None:
        return MISSING, list(cars)
    absent = [car for car in cars if car not in per_car]
    return (INCOMPLETE if absent else SCORED), absent


def order(names: Sequence[str]) -> list[str]:
    """The known variants in ladder order, then any other (a user's own) in alphabetical order."""
    return [v for v in VARIANTS if v in names] + sorted(v for v in names if v not in VARIANTS)


def summarize(scores: Mapping[str, Mapping[str, dict] | None], cars: Sequence[str]) -> tuple[dict, dict]:
    """``scores[variant][car]`` = metric row (``None``: the variant's folder is missing) -> ``(metrics, status)``.

    ``metrics`` (the DVC metrics file): per scored variant the mean of each of ``METRICS`` over ``cars``;
    ``chain_vs_oracle`` (``chain`` F@0.05 / ``oracle_rig`` F@0.05, when the latter is > 0); ``error_split`` per
    ``SPLIT_METRICS``; ``chain_gain_over_<baseline>`` per ``SPLIT_METRICS`` (positive: the chain is better, F-score
    gained or Chamfer saved). A figure whose variants are not all scored is left out. ``status``: per variant
    ``{"status", "missing_cars"}``, every known variant listed.
    """
    if not cars:
        raise ValueError("no held-out cars to evaluate")
    means: dict[str, dict[str, float]] = {}
    status: dict[str, dict] = {}
    for variant in order(set(VARIANTS) | set(scores)):
        state, absent = variant_status(scores.get(variant), cars)
        status[variant] = {"status": state, "missing_cars": absent}
        if state == SCORED:
            means[variant] = {m: float(np.mean([scores[variant][car][m] for car in cars])) for m in METRICS}
    metrics: dict = dict(means)
    if "chain" in means and "oracle_rig" in means and means["oracle_rig"]["fscore@0.05"] > 0:
        metrics["chain_vs_oracle"] = means["chain"]["fscore@0.05"] / means["oracle_rig"]["fscore@0.05"]
    split = {m: s for m in SPLIT_METRICS if (s := error_split(means, m))}
    if split:
        metrics["error_split"] = split
    for baseline in BASELINES:
        if "chain" in means and baseline in means:
            metrics[f"chain_gain_over_{baseline}"] = {m: -cost(m, means[baseline][m], means["chain"][m])
                                                      for m in SPLIT_METRICS}
    return metrics, status
