"""What a teacher stage writes when nothing reads its network: a note where the checkpoint would be, and
``{"trained": false}`` as its metrics (``train_camera_teacher``, ``train_mask_teacher``)."""

from __future__ import annotations

from pathlib import Path

from inverse_graphics.io_utils import atomic_dir, write_json

NOT_TRAINED = "not_trained.txt"  # the note written in place of the checkpoint (and the curves)


def write_not_trained(stage: str, teacher: str, weight_key: str, folders: list[Path], metrics: Path,
                      info: Path | None = None) -> None:
    """The outputs of ``stage`` while ``weight_key`` (a ``gan`` weight) is 0: a note naming the key in each of
    ``folders`` (each written whole or not at all), ``trained: false`` in ``metrics`` (and ``info``)."""
    reason = f"{weight_key} is 0"
    note = (f"The {teacher} was not trained: {reason}, so train_gan does not read it.\n"
            f"dvc exp run -S {weight_key}=10 (or any weight > 0) trains it.\n")
    for folder in folders:
        with atomic_dir(folder) as tmp:
            (tmp / NOT_TRAINED).write_text(note)
    if info is not None:
        write_json(info, {"trained": False, "reason": reason})
    write_json(metrics, {"trained": False})
    print(f"{stage}: not trained ({reason}: nothing reads it)")
