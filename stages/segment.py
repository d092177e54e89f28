"""Stage ``segment``: car masks for every view of every object folder (params ``segment``).

    python -m stages.segment --input data/heldout --views rig --eval data/heldout --model models/segmenter \\
        --out data/silhouettes/heldout_rig --metrics metrics/segment_heldout_rig.json \\
        --objects metrics/segment_heldout_rig_objects.json --plots metrics/segment/heldout_rig \\
        --info metrics/segment_heldout_rig_info.json

``dvc.yaml`` runs it once per source of views (``foreach``). ``--input``: a folder of object folders
(``cameras.json`` + images), one object folder, or a plain folder of pictures; ``--views`` as in
``fit_mesh``: object ``<obj>``'s views are in ``<input>/<obj>/<views>/`` (``.``: the object folder
itself, any input kind; ``rig``: ``synth``'s held-out renders at the multiview rig). Each view's mask has
the view's own resolution; post-processing (threshold, largest connected component, hole filling) follows
``segment``. ``<out>/<obj>/`` gets ``images/``
(copies of the inputs), ``masks/NNN.png`` (L, 0/255) and ``cameras.json`` listing both, the object
folder ``fit_mesh`` reads. Views with cameras (object folders) then go through ``segment.consensus``
(``inverse_graphics/segment/consensus.py``): a view whose mask disagrees with the robust visual hull of all the
object's views (IoU below ``min_agreement``) is redrawn from that hull and named in ``--objects``
(``redrawn_views``), unless more than ``max_outlier_share`` of the views disagree with it (``consensus_held``
false: the masks are kept); when it redraws any, a copy of the network self-trained on the object's views
(``segment.self_training``, ``inverse_graphics/segment/self_training.py``) segments them again
(``self_trained``, ``outlier_views``: the views that set it off). A view whose mask comes out empty is left
out of ``cameras.json``, named in ``--objects`` and counted in ``--metrics``; the other views are still
written. When every input view has a ground-truth mask (``synth``'s held-out cars), ``input_mask_iou_mean`` /
``input_mask_iou_min`` score the masks written against it (IoU per view, then mean / min over views).

``--eval``: object folders with ground-truth ``masks/`` (``synth``'s held-out cars): their views pasted
over ``segment.eval_background`` backgrounds (a family the segmenter was not trained on) give
``mask_iou_mean`` / ``mask_iou_min`` at the views' resolution and at 64 px (``*_64px``: the pictures
area-downsampled, the resolution of the generator's views), after the consensus and self-training as the stage
writes masks;
``network_mask_iou_mean`` / ``_min``: the network's own masks before it. ``images_per_second``: input views
segmented per second (network, post-processing and consensus; files excluded). ``--eval none`` skips the
evaluation (its figures and ``eval_overlay.png`` are then absent): it measures the network, not the
input, so ``dvc.yaml`` runs it in one ``foreach`` item only.

Pictures in ``--plots``: ``<obj>_overlay.png`` (mask outline over every input view) and
``eval_overlay.png`` (the evaluation composites, worst views first). ``--info``: the set-up and the
evaluation per object.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from inverse_graphics.data.view_images import ViewSet, find_view_sets, read_image
from inverse_graphics.device import pick_device
from inverse_graphics.errors import UserError
from inverse_graphics.io_utils import atomic_dir, write_json
from inverse_graphics.params import load_params
from inverse_graphics.render.cameras import CameraRig, save_rig
from inverse_graphics.segment.consensus import Consensus, redraw_outliers
from inverse_graphics.segment.evaluate import composites, ious, segment_pictures, to_chw, to_hwc
from inverse_graphics.segment.overlay import overlay_sheet
from inverse_graphics.segment.postprocess import Postprocess
from inverse_graphics.segment.self_training import SelfTraining, resegment
from inverse_graphics.segment.weights import load_checkpoint, Segmenter, checkpoint_file
from inverse_graphics.viz import save_png
from stages._runner import run_stage

CHAIN_RESOLUTION = 64  # the generator's view size: evaluation is also reported there
NO_EVAL = "none"  # --eval none: no evaluation on unseen backgrounds
CONTEXT_FAMILIES = ("gradient",)  # synth's own kind of background, reported in --info beside the unseen family


PATHS = {
    "input": "object folders, one object folder, or pictures",
    "views": "sub-folder of each object that holds its cameras.json + images ('.': the object folder itself)",
    "eval": "object folders with ground-truth masks (synth's held-out cars), or 'none' to skip the evaluation",
    "model": "train_segmenter's model folder or checkpoint",
    "out": "output folder of object folders with masks",
    "metrics": "metrics JSON to write",
    "objects": "per-object JSON to write",
    "plots": "folder for overlay pictures",
    "info": "JSON echo of the set-up and per-object evaluation",
}


def read_views(views: ViewSet) -> list[np.ndarray]:
    return [read_image(p) for p in views.paths]


def segment_views(segmenter: Segmenter, images: list[np.ndarray], post: Postprocess) -> list[np.ndarray]:
    """Masks ``(H, W) bool`` for pictures ``(H, W, 3) uint8``; pictures of one size go through as one batch."""
    out: list[np.ndarray | None] = [None] * len(images)
    for shape in sorted({im.shape for im in images}):
        idx = [i for i, im in enumerate(images) if im.shape == shape]
        for i, mask in zip(idx, segment_pictures(segmenter, to_chw(np.stack([images[i] for i in idx])), post)):
            out[i] = mask
    return out


def agree(masks: list[np.ndarray], rig: CameraRig | None, consensus: Consensus, post: Postprocess,
          pictures: torch.Tensor | None = None, segmenter: Segmenter | None = None,
          self_training: SelfTraining = SelfTraining(steps=0)
          ) -> tuple[list[np.ndarray], list[int], list[float], list[int]]:
    """One object's masks after ``consensus`` (``redraw_outliers``): (masks, redrawn view indices, each view's IoU
    with the hull's silhouette, the outlier views that set off self-training). Unchanged, with no agreement
    figures, without cameras, with too few views for a majority, or with views of different sizes. When the
    consensus redraws views and ``self_training.steps`` > 0, a copy of ``segmenter`` self-trained on the object's
    ``pictures (K, 3, S, S)`` (``self_training.py``) segments them again and the consensus checks its masks."""
    if rig is None or not consensus.applies_to(len(masks)) or len({m.shape for m in masks}) > 1:
        return masks, [], [], []
    out, agreement, redrawn = redraw_outliers(np.stack(masks), rig, consensus, post)
    if not redrawn or self_training.steps == 0 or pictures is None or segmenter is None:
        return list(out), redrawn, agreement, []
    again = resegment(segmenter, pictures, out, rig, consensus, post, self_training)
    out, agreement, redrawn_again = redraw_outliers(again, rig, consensus, post)
    return list(out), redrawn_again, agreement, redrawn


def write_object(folder: Path, views: ViewSet, masks: list[np.ndarray], keep: list[int]) -> None:
    """``images/`` copies, ``masks/`` and (for object folders) ``cameras.json`` of the kept views."""
    files = []
    for i in keep:
        src = views.paths[i]
        image_name = f"images/{src.name}"
        mask_name = f"masks/{src.stem}.png"
        (folder / "images").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, folder / image_name)
        save_png(masks[i], folder / mask_name)
        files.append({"image": image_name, "mask": mask_name})
    if views.rig is not None:
        rig = views.rig.subset(keep)
        save_rig(folder / "cameras.json", dataclasses.replace(rig, files=tuple(files)))


def evaluate(segmenter: Segmenter, eval_dir: Path, family: str, seed: int, post: Postprocess,
             consensus: Consensus, self_training: SelfTraining) -> tuple[dict, dict, list]:
    """IoU over the ground-truth views of ``eval_dir`` pasted over ``family`` backgrounds, of the masks the stage
    writes (after ``consensus`` and, where it finds outliers, ``self_training``) and, as ``network_*``, of the
    network's own masks before them; ``eval_outlier_views``: the views the first consensus found (they set off
    self-training), ``eval_redrawn_views``: the views whose written mask is the hull's silhouette."""
    sets = [v for v in find_view_sets(eval_dir)]
    rows, all_native, all_chain, all_network, tiles = {}, [], [], [], []
    redrawn, adapted, outlier_count, no_consensus = 0, 0, 0, 0
    for k, views in enumerate(sets):
        if views.mask_paths is None:
            raise UserError(f"{views.folder}: evaluation object has no ground-truth masks (cameras.json 'mask' files)")
        images = to_chw(np.stack(read_views(views)))
        gt = torch.from_numpy(np.stack([read_image(p)[..., 0] >= 128 for p in views.mask_paths]))
        pictures, targets = composites(images, gt, family, seed + k)
        network = segment_pictures(segmenter, pictures, post)
        pred, changed, agreement, outliers = agree(list(network), views.rig, consensus, post, pictures, segmenter,
                                           self_training)
        pred = np.stack(pred)
        native, network_ious = ious(pred, targets), ious(network, targets)
        small_pictures, small_targets = composites(images, gt, family, seed + k, size=CHAIN_RESOLUTION)
        small_pred = agree(list(segment_pictures(segmenter, small_pictures, post)), views.rig, consensus, post,
                           small_pictures, segmenter, self_training)[0]
        chain = ious(np.stack(small_pred), small_targets)
        rows[views.name] = {"mask_iou_mean": float(np.mean(native)), "mask_iou_min": float(np.min(native)),
                            "mask_iou_mean_64px": float(np.mean(chain)), "mask_iou_min_64px": float(np.min(chain)),
                            "network_mask_iou_mean": float(np.mean(network_ious)),
                            "redrawn_views": [views.paths[i].name for i in changed],
                            "self_trained": bool(outliers), "outlier_views": [views.paths[i].name for i in outliers],
                            "consensus_held": consensus.holds(agreement) if agreement else None}
        all_native += native
        all_chain += chain
        all_network += network_ious
        redrawn += len(changed)
        adapted += bool(outliers)
        outlier_count += len(outliers)
        no_consensus += bool(agreement) and not consensus.holds(agreement)
        tiles += [(iou, f"{views.name}/{views.paths[i].name} {iou:.3f}", to_hwc(pictures[i:i + 1])[0], pred[i])
                  for i, iou in enumerate(native)]
    summary = {"mask_iou_mean": float(np.mean(all_native)), "mask_iou_min": float(np.min(all_native)),
               "mask_iou_mean_64px": float(np.mean(all_chain)), "mask_iou_min_64px": float(np.min(all_chain)),
               "network_mask_iou_mean": float(np.mean(all_network)), "network_mask_iou_min": float(np.min(all_network)),
               "eval_redrawn_views": redrawn, "eval_outlier_views": outlier_count,
               "eval_self_trained_objects": adapted, "eval_objects_without_consensus": no_consensus}
    return summary, rows, sorted(tiles, key=lambda t: t[0])


def main(args: argparse.Namespace) -> None:
    seg = load_params(["segment"])["segment"]
    torch.set_num_threads(seg["threads"])
    device = pick_device(seg["device"])
    post = Postprocess(seg["threshold"], seg["largest_component"], seg["fill_holes"])
    consensus = Consensus(**seg["consensus"])
    self_training = SelfTraining(**seg["self_training"])
    view_sets = find_view_sets(args.input, args.views)  # every input problem is reported before any work
    run_eval = args.eval != Path(NO_EVAL)
    net, info = load_checkpoint(args.model)
    segmenter = Segmenter(net, device, source=str(checkpoint_file(args.model)), tta=seg["tta"],
                          read_size=seg["read_size"])
    trained_on = info.get("families", [])
    if seg["eval_background"] in trained_on:
        raise UserError(f"params.yaml: segment.eval_background: {seg['eval_background']!r} was a training background "
                        f"of {checkpoint_file(args.model)} (trained on {trained_on}); pick a family it never saw")

    summary, eval_rows, tiles, context = {}, {}, [], {}
    if run_eval:
        summary, eval_rows, tiles = evaluate(segmenter, args.eval, seg["eval_background"], seg["eval_seed"], post,
                                             consensus, self_training)
        # for context only: the same views over a training family at seeds training never drew
        context = {f"{family} (a training family, unseen seeds)": evaluate(segmenter, args.eval, family,
                                                                           seg["eval_seed"] + 1000, post,
                                                                           consensus, self_training)[0]
                   for family in CONTEXT_FAMILIES if family != seg["eval_background"]}

    per_object, empty, seconds, count, input_ious, redrawn_total, adapted_total = {}, [], 0.0, 0, [], 0, 0
    with atomic_dir(args.out) as out_dir, atomic_dir(args.plots) as plot_dir:
        for views in view_sets:
            images = read_views(views)
            start = time.perf_counter()
            masks = segment_views(segmenter, images, post)
            pictures = to_chw(np.stack(images)) if len({im.shape for im in images}) == 1 else None
            masks, redrawn, agreement, outliers = agree(masks, views.rig, consensus, post, pictures, segmenter,
                                                        self_training)
            seconds += time.perf_counter() - start
            redrawn_total += len(redrawn)
            adapted_total += bool(outliers)
            count += len(images)
            keep = [i for i, m in enumerate(masks) if m.any()]
            names = [f"{views.name}/{views.paths[i].name}" for i, m in enumerate(masks) if not m.any()]
            empty += names
            write_object(out_dir / views.name, views, masks, keep)
            row = {"views": len(images), "empty_views": names,
                   "mask_area_fraction_mean": float(np.mean([m.mean() for m in masks])),
                   "redrawn_views": [views.paths[i].name for i in redrawn],
                   "self_trained": bool(outliers), "outlier_views": [views.paths[i].name for i in outliers]}
            if agreement:
                row["view_agreement_min"] = float(min(agreement))
                row["consensus_held"] = consensus.holds(agreement)
            if views.mask_paths is not None:  # the input carries ground truth (e.g. synth's held-out cars)
                gt = [read_image(p)[..., 0] >= 128 for p in views.mask_paths]
                view_ious = [ious(m[None], g[None])[0] for m, g in zip(masks, gt)]
                row["input_mask_iou_mean"] = float(np.mean(view_ious))
                input_ious += view_ious
            per_object[views.name] = row
            save_png(overlay_sheet(images, masks, labels=[p.name for p in views.paths]),
                     plot_dir / f"{views.name}_overlay.png")
        if run_eval:
            save_png(overlay_sheet([t[2] for t in tiles], [t[3] for t in tiles], labels=[t[1] for t in tiles]),
                     plot_dir / "eval_overlay.png")
    write_json(args.info, {"segmenter": segmenter.source, "trained_on": trained_on,
                           "init": info.get("init"), "config": net.config.to_dict(),
                           "read_size": seg["read_size"], "tta": seg["tta"], "consensus": seg["consensus"],
                           "self_training": seg["self_training"],
                           "input": args.input.as_posix(), "views": args.views.as_posix(),
                           "eval": args.eval.as_posix() if run_eval else None,
                           "eval_background": seg["eval_background"], "eval_seed": seg["eval_seed"],
                           "eval_objects": eval_rows, "context": context, "threads": seg["threads"],
                           "device": str(device)})
    if input_ious and all(views.mask_paths is not None for views in view_sets):
        summary |= {"input_mask_iou_mean": float(np.mean(input_ious)), "input_mask_iou_min": float(np.min(input_ious))}
    summary = {k: round(v, 4) for k, v in summary.items()}
    summary |= {"images_per_second": round(count / max(seconds, 1e-9), 1), "empty_views": len(empty),
                "redrawn_views": redrawn_total, "self_trained_objects": adapted_total}
    write_json(args.metrics, summary)
    write_json(args.objects, per_object)
    where = args.input if args.views == Path(".") else args.input / "*" / args.views
    line = f"segment: {count} views of {len(view_sets)} objects from {where}, " \
           f"{summary['images_per_second']} images/s, {redrawn_total} redrawn by the consensus, " \
           f"{adapted_total} objects self-trained"
    if "input_mask_iou_mean" in summary:
        line += f"; IoU against the input's own masks: mean {summary['input_mask_iou_mean']:.4f}"
    if run_eval:
        line += (f"; evaluation on '{seg['eval_background']}' backgrounds: IoU mean {summary['mask_iou_mean']:.4f} "
                 f"min {summary['mask_iou_min']:.4f}")
    print(line + (f"; empty masks: {', '.join(empty)}" if empty else ""))


if __name__ == "__main__":
    run_stage("segment", main, PATHS)
