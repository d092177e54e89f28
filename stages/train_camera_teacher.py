"""Stage ``train_camera_teacher``: a second car critic that teaches ``train_gan``'s generator its cameras.

The same recipe as ``train_critic`` (params section ``critic``) with another seed (``camera_teacher.seed``). With
``gan.camera_weight > 0`` the fine-tune makes G pay the squared distance between the camera this network reads from
each generated view and the camera G was asked for. It is a separate network so that the critic that measures
``pose_error_deg`` never taught G: a generator can learn what one regressor reads without drawing that camera, and
another regressor's reading is the check. Outputs ``<out>/critic.pt`` and ``<metrics>``.

With ``gan.camera_weight: 0`` (the default since the base learnt its cameras with the soft-hull term) nothing
reads the teacher, so the stage trains nothing (about 10 minutes of every full ``dvc repro`` on the 2-core CPU):
it writes a note in place of the checkpoint and ``{"trained": false}`` as its metrics. The weight is one of its
params, so ``dvc exp run -S gan.camera_weight=10`` trains the teacher before the fine-tune that needs it.
"""

from __future__ import annotations

from inverse_graphics.errors import UserError
from inverse_graphics.params import load_params
from stages._runner import run_stage
from stages._teacher import write_not_trained
from stages.train_critic import PATHS, train_and_save


def main(args) -> None:
    params = load_params(["critic", "camera_teacher", "gan"])
    seed = params["camera_teacher"]["seed"]
    if seed == params["critic"]["seed"]:
        raise UserError(f"params.yaml: camera_teacher.seed: {seed} is critic.seed; the teacher must be another "
                        "network than the critic that measures pose_error_deg")
    if params["gan"]["camera_weight"] == 0:
        write_not_trained("train_camera_teacher", "camera teacher", "gan.camera_weight", [args.out], args.metrics)
        return
    train_and_save(params["critic"] | {"seed": seed}, args, name="train_camera_teacher")


if __name__ == "__main__":
    run_stage("train_camera_teacher", main, PATHS)
