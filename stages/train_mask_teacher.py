"""Stage ``train_mask_teacher``: a second segmenter that teaches ``train_gan``'s generator one solid car across views.

The recipe of ``train_segmenter`` trained on ``synth``'s renders (params sections ``segment``, ``train_segmenter``;
always ``segment.weights: synthetic``) with another seed (``mask_teacher.seed``). With
``gan.consistency_weight > 0`` the fine-tune cuts G's views out with this network and makes G pay the
disagreement of each view's mask with the soft visual hull of all of them (``inverse_graphics/gan/consistency.py``).
It is another network than ``models/segmenter``, which measures ``hull_consistency_iou``: a generator can learn
what one segmenter reads without drawing a consistent car, and another segmenter's reading is the check.

With ``gan.consistency_weight: 0`` (the default) nothing reads the teacher, so the stage trains nothing (about
6 minutes of every full ``dvc repro`` on the 2-core CPU): it writes a note in place of the checkpoint and the
curves, and ``{"trained": false}`` as its metrics. The weight is one of its params, so
``dvc exp run -S gan.consistency_weight=10`` trains the teacher before the fine-tune that needs it.

    python -m stages.train_mask_teacher --dataset data/dataset --out models/mask_teacher \\
        --metrics metrics/train_mask_teacher.json --plots metrics/train_mask_teacher \\
        --info metrics/train_mask_teacher_info.json
"""

from __future__ import annotations

from inverse_graphics.errors import UserError
from inverse_graphics.params import load_params
from stages._runner import run_stage
from stages._teacher import write_not_trained
from stages.train_segmenter import PATHS, train_and_save


def main(args) -> None:
    params = load_params(["synth", "segment", "train_segmenter", "mask_teacher", "gan"])
    seed = params["mask_teacher"]["seed"]
    if seed == params["train_segmenter"]["seed"]:
        raise UserError(f"params.yaml: mask_teacher.seed: {seed} is train_segmenter.seed; the teacher must be "
                        "another network than the segmenter that measures hull_consistency_iou")
    if params["gan"]["consistency_weight"] == 0:
        write_not_trained("train_mask_teacher", "mask teacher", "gan.consistency_weight", [args.out, args.plots],
                          args.metrics, args.info)
        return
    train_and_save({"synth": params["synth"], "segment": params["segment"] | {"weights": "synthetic"},
                    "train_segmenter": params["train_segmenter"] | {"seed": seed}}, args, name="train_mask_teacher")


if __name__ == "__main__":
    run_stage("train_mask_teacher", main, PATHS)
