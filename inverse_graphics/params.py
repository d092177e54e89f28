"""Schema and validation of ``params.yaml``: every mistake is caught before any work starts.

Each stage reads only its own sections. A problem is reported as one line
``params.yaml: <dotted.key>: <problem>`` through ``UserError``; the stage prints it after
``error: `` and exits with code 2.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import UserError


@dataclass(frozen=True)
class Field:
    """One leaf of the schema: a type, optional choices, bounds, and whether ``null`` is allowed."""

    type: type
    choices: tuple | None = None
    min: float | None = None
    max: float | None = None
    nullable: bool = False

    def check(self, key: str, value: Any) -> Any:
        if value is None:
            if self.nullable:
                return None
            raise UserError(f"params.yaml: {key}: must not be null (expected {self.type.__name__})")
        ok = isinstance(value, self.type) and not (self.type in (int, float) and isinstance(value, bool))
        if self.type is float and isinstance(value, int) and not isinstance(value, bool):
            value, ok = float(value), True
        if not ok:
            raise UserError(f"params.yaml: {key}: expected {self.type.__name__}, got {type(value).__name__} {value!r}")
        if self.choices is not None and value not in self.choices:
            raise UserError(f"params.yaml: {key}: expected one of {list(self.choices)}, got {value!r}")
        if self.min is not None and value < self.min:
            raise UserError(f"params.yaml: {key}: must be >= {self.min}, got {value!r}")
        if self.max is not None and value > self.max:
            raise UserError(f"params.yaml: {key}: must be <= {self.max}, got {value!r}")
        return value


@dataclass(frozen=True)
class ListField:
    """A list whose items each pass ``item`` (e.g. ``ListField(Field(str, choices=...))``)."""

    item: Field
    min_len: int = 0

    def check(self, key: str, value: Any) -> list:
        if not isinstance(value, list):
            raise UserError(f"params.yaml: {key}: expected a list, got {type(value).__name__} {value!r}")
        if len(value) < self.min_len:
            raise UserError(f"params.yaml: {key}: expected at least {self.min_len} item(s), got {len(value)}")
        return [self.item.check(f"{key}[{i}]", v) for i, v in enumerate(value)]


INT, FLOAT, STR, BOOL = Field(int), Field(float), Field(str), Field(bool)
POS_INT, POS_FLOAT, NONNEG_FLOAT = Field(int, min=1), Field(float, min=1e-12), Field(float, min=0.0)
WEIGHT = NONNEG_FLOAT
OPTIMIZER = Field(str, choices=("sgd", "adam"))
BLENDS = ("contour", "product", "nearest")  # render.soft_raster.BLENDS (not imported: no torch here)
BACKGROUNDS = ("noise", "gradient", "texture", "shapes", "cars", "scene")  # inverse_graphics.segment.backgrounds

SCHEMA: dict[str, dict] = {
    "synth": {
        "source": Field(str, choices=("synthetic", "folder")),
        "folder": Field(str, nullable=True),
        "seed": Field(int, min=0),
        "num_cars": POS_INT,
        "images_per_car": POS_INT,
        "resolution": Field(int, choices=(32, 64, 128, 256, 512)),
        "heldout": Field(int, min=0),
        "heldout_views": POS_INT,
        "heldout_resolution": Field(int, min=16),
        "camera": {
            "dist": POS_FLOAT,
            "fov": Field(float, min=1.0, max=170.0),
            "elev_min": Field(float, min=-90.0, max=90.0),
            "elev_max": Field(float, min=-90.0, max=90.0),
        },
    },
    "render": {
        "backend": Field(str, choices=("auto", "fast", "pytorch3d")),
        "sigma": POS_FLOAT,
        "sigma_final": Field(float, min=1e-12, nullable=True),
        "sigma_size": Field(int, min=16, nullable=True),
        "blend": Field(str, choices=BLENDS),
        "warmup_blend": Field(str, choices=BLENDS, nullable=True),
        "faces_per_pixel": POS_INT,
        "device": Field(str, choices=("auto", "cpu", "cuda")),
    },
    "fit": {
        "seed": Field(int, min=0),
        "ico_level": Field(int, min=0, max=6),
        "image_size": Field(int, min=16, nullable=True),
        "iterations": Field(int, min=0),
        "views_per_iter": POS_INT,
        "optimizer": OPTIMIZER,
        "lr": POS_FLOAT,
        "momentum": Field(float, min=0.0, max=1.0),
        "lr_decay": Field(float, min=0.0, max=1.0),
        "silhouette_loss": Field(str, choices=("mse", "iou")),
        "laplacian": Field(str, choices=("uniform", "cotangent")),
        "w_silhouette": WEIGHT,
        "w_edge": WEIGHT,
        "w_normal": WEIGHT,
        "w_laplacian": WEIGHT,
        "log_every": POS_INT,
        "shape_prior": {
            "mirror_axis": Field(str, choices=("x", "y", "z"), nullable=True),
            "w_laplacian": WEIGHT,
        },
        "library": {
            "folder": Field(str, nullable=True),
            "mold_iterations": Field(int, min=0),
            "w_laplacian": WEIGHT,
        },
    },
    "critic": {
        "steps": POS_INT,
        "batch": POS_INT,
        "lr": POS_FLOAT,
        "width": POS_INT,
        "mirror": BOOL,
        "degrade": BOOL,
        "seed": Field(int, min=0),
        "threads": POS_INT,
    },
    "camera_teacher": {
        "seed": Field(int, min=0),
    },
    "mask_teacher": {
        "seed": Field(int, min=0),
    },
    "gan": {
        "resume": Field(str, nullable=True),
        "kimg": Field(float, min=0.0),
        "batch": Field(int, min=2),
        "lr": POS_FLOAT,
        "r1_gamma": Field(float, min=0.0, nullable=True),
        "style_mixing": Field(float, min=0.0, max=1.0),
        "pl_weight": NONNEG_FLOAT,
        "pair_weight": NONNEG_FLOAT,
        "camera_weight": NONNEG_FLOAT,
        "consistency_weight": NONNEG_FLOAT,
        "consistency_interval": POS_INT,
        "consistency_latents": POS_INT,
        "consistency_views": Field(int, min=2),
        "consistency_kimg": Field(float, min=0.0, nullable=True),
        "augment": Field(str, choices=("ada", "fixed", "none")),
        "augment_p": Field(float, min=0.0, max=1.0),
        "ada_target": Field(float, min=0.0, max=1.0),
        "ada_kimg": POS_FLOAT,
        "ema_kimg": Field(float, min=0.0, nullable=True),
        "snapshot_kimg": POS_FLOAT,
        "seed": Field(int, min=0),
        "device": Field(str, choices=("auto", "cpu", "cuda")),
        "threads": Field(int, min=0),
        "network": {
            "resolution": Field(int, choices=(16, 32, 64, 128, 256, 512)),
            "z_dim": POS_INT,
            "w_dim": POS_INT,
            "mapping_layers": POS_INT,
            "channel_base": POS_INT,
            "channel_max": POS_INT,
            "d_channel_base": Field(int, min=1, nullable=True),
            "pose_input": Field(str, choices=("synthesis", "mapping", "none")),
            "pair_discriminator": BOOL,
        },
        "eval": {
            "rig_views": POS_INT,
            "rig_elevations": Field(list),
            "feature_images": POS_INT,
            "hull_latents": POS_INT,
            "pose_samples": POS_INT,
        },
    },
    "segment": {
        "arch": Field(str, choices=("mobilenet_v3_large", "resnet50")),
        "weights": STR,
        "input_size": Field(int, min=16, max=1024),
        "refine": BOOL,
        "tta": Field(str, choices=("none", "flip")),
        "read_size": Field(int, min=16, max=2048, nullable=True),
        "threshold": Field(float, min=0.0, max=1.0),
        "largest_component": BOOL,
        "fill_holes": BOOL,
        "consensus": {
            "enabled": BOOL,
            "tolerance": Field(int, min=0),
            "min_agreement": Field(float, min=0.0, max=1.0),
            "ray_samples": POS_INT,
            "max_outlier_share": Field(float, min=0.0, max=1.0),
        },
        "self_training": {
            "steps": Field(int, min=0),
            "lr": POS_FLOAT,
            "seed": Field(int, min=0),
        },
        "eval_background": Field(str, choices=BACKGROUNDS),
        "eval_seed": Field(int, min=0),
        "threads": POS_INT,
        "device": Field(str, choices=("auto", "cpu", "cuda")),
    },
    "train_segmenter": {
        "seed": Field(int, min=0),
        "init": Field(str, choices=("auto", "coco", "scratch")),
        "steps": POS_INT,
        "batch_size": Field(int, min=2),
        "lr": POS_FLOAT,
        "weight_decay": NONNEG_FLOAT,
        "aux_weight": NONNEG_FLOAT,
        "backgrounds": ListField(Field(str, choices=BACKGROUNDS), min_len=1),
        "photo_folders": ListField(STR),
        "val_cars": POS_INT,
        "val_every": POS_INT,
        "threads": POS_INT,
    },
    "multiview": {
        "input": STR,
        "framing": Field(str, choices=("crop", "letterbox")),
        "space": Field(str, choices=("w", "w+")),
        "steps": POS_INT,
        "lr": POS_FLOAT,
        "lr_rampup": Field(float, min=0.0, max=1.0),
        "lr_rampdown": Field(float, min=0.0, max=1.0),
        "w_noise": NONNEG_FLOAT,
        "w_noise_ramp": Field(float, min=0.0, max=1.0),
        "noise_reg": NONNEG_FLOAT,
        "optimize_noise": BOOL,
        "w_avg_samples": Field(int, min=2),
        "pose": {
            "optimize": BOOL,
            "lr": NONNEG_FLOAT,
            "starts": POS_INT,
            "start_steps": Field(int, min=0),
            "elev_range": Field(list),
        },
        "distance": {
            "pixel": WEIGHT,
            "pixel_scales": Field(int, min=1, max=8),
            "critic": WEIGHT,
            "discriminator": WEIGHT,
            "lpips": WEIGHT,
            "lpips_vgg16": Field(str, nullable=True),
            "lpips_linear": Field(str, nullable=True),
        },
        "pti": {
            "steps": Field(int, min=0),
            "lr": POS_FLOAT,
            "locality": NONNEG_FLOAT,
        },
        "rig": {
            "views": POS_INT,
            "elevations": Field(list),
        },
        "view_psi": Field(float, min=0.0, max=1.0),
        "view_center": Field(str, choices=("w_avg", "matched")),
        "matched": {
            "samples": POS_INT,
            "top": POS_INT,
        },
        "anchors": Field(str, nullable=True),
        "anchor_layers": Field(int, min=0),
        "seed": Field(int, min=0),
        "device": Field(str, choices=("auto", "cpu", "cuda")),
        "threads": Field(int, min=0),
    },
    "fit3d": {
        "target": STR,
        "seed": Field(int, min=0),
        "ico_level": Field(int, min=0, max=6),
        "iterations": Field(int, min=0),
        "num_samples": POS_INT,
        "optimizer": OPTIMIZER,
        "lr": POS_FLOAT,
        "momentum": Field(float, min=0.0, max=1.0),
        "w_chamfer": WEIGHT,
        "w_edge": WEIGHT,
        "w_normal": WEIGHT,
        "w_laplacian": WEIGHT,
        "w_quadric": WEIGHT,
        "log_every": POS_INT,
    },
}


def _validate(spec: dict, values: Any, prefix: str) -> dict:
    if not isinstance(values, dict):
        raise UserError(f"params.yaml: {prefix}: expected a mapping, got {type(values).__name__}")
    for key in values:
        if key not in spec:
            raise UserError(f"params.yaml: {prefix}.{key}: unknown key (known: {', '.join(spec)})")
    out = {}
    for key, sub in spec.items():
        dotted = f"{prefix}.{key}"
        if key not in values:
            raise UserError(f"params.yaml: {dotted}: missing key")
        out[key] = _validate(sub, values[key], dotted) if isinstance(sub, dict) else sub.check(dotted, values[key])
    return out


def validate(raw: Any, sections: list[str] | None = None) -> dict:
    """Check ``raw`` (parsed YAML) against ``SCHEMA``; return the validated ``sections`` (all if None).

    Unknown top-level sections are errors too, so a typo such as ``fitt:`` cannot pass silently.
    """
    if not isinstance(raw, dict):
        raise UserError("params.yaml: expected a mapping of sections at the top level")
    for section in raw:
        if section not in SCHEMA:
            raise UserError(f"params.yaml: {section}: unknown section (known: {', '.join(SCHEMA)})")
    out = {}
    for section in sections or list(SCHEMA):
        if section not in raw:
            raise UserError(f"params.yaml: {section}: missing section")
        out[section] = _validate(SCHEMA[section], raw[section], section)
    if "synth" in out and out["synth"]["camera"]["elev_min"] > out["synth"]["camera"]["elev_max"]:
        raise UserError("params.yaml: synth.camera.elev_min: must be <= synth.camera.elev_max")
    if "render" in out and out["render"]["backend"] == "pytorch3d":
        render = out["render"]
        for key, allowed in (("blend", ("product",)), ("warmup_blend", ("product", None))):
            if render[key] not in allowed:
                raise UserError(
                    f"params.yaml: render.{key}: the pytorch3d backend is the tutorial's 'product', got {render[key]!r}"
                )
        if render["sigma_final"] is not None:
            raise UserError("params.yaml: render.sigma_final: must be null with render.backend pytorch3d (constant sigma)")
    if "synth" in out and out["synth"]["source"] == "folder" and not out["synth"]["folder"]:
        raise UserError("params.yaml: synth.folder: required when synth.source is 'folder'")
    if "segment" in out and "train_segmenter" in out:
        if out["segment"]["eval_background"] in out["train_segmenter"]["backgrounds"]:
            raise UserError("params.yaml: segment.eval_background: must be a family not in "
                            "train_segmenter.backgrounds (the evaluation measures unseen backgrounds)")
    if "segment" in out and (out["segment"]["read_size"] or 16) % 16:
        raise UserError(f"params.yaml: segment.read_size: expected a multiple of 16 (the backbone's output stride) "
                        f"or null, got {out['segment']['read_size']}")
    if "multiview" in out:
        _check_multiview(out["multiview"])
    return out


def _numbers(key: str, value: list, length: int | None = None, lo: float = -90.0, hi: float = 90.0) -> None:
    """A list of numbers in [lo, hi] (of ``length`` entries when given), else a one-line error naming ``key``."""
    if (not value or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in value)
            or (length is not None and len(value) != length)):
        size = f"{length} numbers" if length is not None else "a non-empty list of numbers"
        raise UserError(f"params.yaml: {key}: expected {size}, got {value!r}")
    if any(not lo <= v <= hi for v in value):
        raise UserError(f"params.yaml: {key}: angles must lie in [{lo}, {hi}] degrees, got {value!r}")


def _check_multiview(section: dict) -> None:
    _numbers("multiview.rig.elevations", section["rig"]["elevations"])
    if section["rig"]["views"] < len(section["rig"]["elevations"]):
        raise UserError("params.yaml: multiview.rig.views: fewer views than rings (one ring per elevation)")
    _numbers("multiview.pose.elev_range", section["pose"]["elev_range"], length=2)
    low, high = section["pose"]["elev_range"]
    if low > high:
        raise UserError(f"params.yaml: multiview.pose.elev_range: expected [low, high], got {[low, high]!r}")
    if section["w_noise_ramp"] == 0 and section["w_noise"] > 0:
        raise UserError("params.yaml: multiview.w_noise_ramp: must be > 0 when w_noise > 0")
    if section["pose"]["starts"] > 1 and section["pose"]["start_steps"] >= section["steps"]:
        raise UserError("params.yaml: multiview.pose.start_steps: must be < multiview.steps when pose.starts > 1")
    distance = section["distance"]
    if distance["lpips"] > 0 and not (distance["lpips_vgg16"] and distance["lpips_linear"]):
        raise UserError("params.yaml: multiview.distance.lpips: needs multiview.distance.lpips_vgg16 and "
                        "lpips_linear (local weight files; nothing is downloaded)")
    if not any(distance[k] > 0 for k in ("pixel", "critic", "discriminator", "lpips")):
        raise UserError("params.yaml: multiview.distance: every term has weight 0 (nothing to match)")


def load_params(sections: list[str] | None = None, path: str | os.PathLike = "params.yaml") -> dict:
    """Read and validate ``params.yaml`` from the working directory (or ``path``)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: file not found (run stages from the repository root)")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise UserError(f"{path}: not valid YAML ({' '.join(str(exc).split())})") from None
    return validate(raw, sections)
