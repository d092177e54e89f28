"""GAN checkpoints: the project's own snapshots, and the two official StyleGAN2 pickle formats, read safely.

Own snapshot (``save_snapshot`` / ``load_snapshot``): one ``torch.save`` file read back with
``weights_only=True`` (tensors, numbers, strings, lists and dicts only: loading runs no code), holding the
network config, G / D / G_ema / D_pair state dicts, the augmentation strength, both optimisers, the images seen
and the curves. Written atomically (temp file, then rename).

Official stylegan2-ada-pytorch ``.pkl`` (dict with ``G``, ``D``, ``G_ema``, ``augment_pipe``,
``training_set_kwargs``): each network is pickled as ``torch_utils.persistence._reconstruct_persistent_obj(meta)``
whose ``meta`` carries the whole source of NVIDIA's ``networks.py`` and the module's ``__dict__``; the official
loader executes that source. Here a restricted unpickler resolves only an allow-list of globals (tensor and
storage rebuilders, ``OrderedDict``, numpy scalars, ``EasyDict`` as a dict) and turns each persistent object into
a plain record (class name + state); the source is never run. Parameters and buffers are collected by their
module paths, which match this project's networks, and the constructor arguments come from ``_init_kwargs``.

Official TensorFlow StyleGAN2 ``.pkl`` (``(G, D, Gs)``, each a ``dnnlib.tflib.network.Network``): read with the
same kind of unpickler (``Network`` becomes a record of its ``__setstate__`` dict); variables are mapped by name
(dense weights transposed, 3x3 kernels from HWIO to OIHW, the upsampling convolution's kernel flipped, style
biases + 1: TF stored the bias of styles that start at 1 as an offset from 1).
"""

from __future__ import annotations

import codecs
import io
import os
import pickle
import re
import zipfile
from collections import OrderedDict
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from ..errors import UserError
from ..io_utils import atomic_path
from .networks import Discriminator, Generator

SNAPSHOT_FORMAT = "inverse-graphics-gan/1"


# ============================================================================ own snapshots


def save_snapshot(path: str | os.PathLike, state, settings=None) -> None:
    """Write ``state`` (a ``train.GanState``) to ``path`` atomically."""
    sd = lambda m: {k: v.detach().cpu() for k, v in m.state_dict().items()} if m is not None else None  # noqa: E731
    payload = {
        "format": SNAPSHOT_FORMAT,
        "config": asdict(state.config),
        "settings": asdict(settings) if settings is not None else None,
        "G": sd(state.G), "D": sd(state.D), "G_ema": sd(state.G_ema), "D_pair": sd(state.D_pair),
        "augment_p": float(state.augment.p) if state.augment is not None else 0.0,
        "opt_G": state.opt_G.state_dict() if state.opt_G is not None else None,
        "opt_D": state.opt_D.state_dict() if state.opt_D is not None else None,
        "nimg": int(state.nimg), "total_nimg": int(state.total_nimg), "pl_mean": float(state.pl_mean),
        "history": state.history,
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def read_snapshot(path: str | os.PathLike) -> dict:
    """The raw snapshot dict; a missing, truncated or foreign file is a one-line ``UserError``."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: GAN checkpoint not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, pickle.UnpicklingError, EOFError, zipfile.BadZipFile, OSError, ValueError) as exc:
        raise UserError(f"{path}: not a readable GAN snapshot ({' '.join(str(exc).split())[:200]})") from None
    if not isinstance(payload, dict) or payload.get("format") != SNAPSHOT_FORMAT:
        raise UserError(f"{path}: not a GAN snapshot of this project (expected format {SNAPSHOT_FORMAT!r})")
    return payload


def load_snapshot(path: str | os.PathLike, settings=None):
    """Rebuild a ``train.GanState`` (networks, optimisers when ``settings`` is given, progress) from ``path``."""
    from .train import NetworkConfig, build_networks, make_optimizers

    payload = read_snapshot(path)
    try:
        config = NetworkConfig(**payload["config"])
    except TypeError as exc:
        raise UserError(f"{path}: snapshot config does not match this version ({exc})") from None
    state = build_networks(config)
    for name in ("G", "D", "G_ema", "D_pair"):
        module, weights = getattr(state, name), payload.get(name)
        if module is not None and weights is not None:
            module.load_state_dict(weights)
    if state.augment is not None:
        state.augment.p.fill_(payload.get("augment_p", 0.0))
    state.nimg, state.total_nimg = int(payload["nimg"]), int(payload["total_nimg"])
    state.pl_mean, state.history = float(payload.get("pl_mean", 0.0)), list(payload.get("history", []))
    if settings is not None:
        make_optimizers(state, settings.resolved(config.resolution))
        if payload.get("opt_G") is not None:
            state.opt_G.load_state_dict(payload["opt_G"])
            state.opt_D.load_state_dict(payload["opt_D"])
    return state


def save_generator(path: str | os.PathLike, G: Generator, config, extra: dict | None = None) -> None:
    """The generator alone (``G_ema`` for the later stages) with its config, atomically."""
    payload = {"format": SNAPSHOT_FORMAT, "config": asdict(config), "G_ema": G.state_dict(), **(extra or {})}
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_generator(path: str | os.PathLike, device: torch.device | str = "cpu") -> Generator:
    """``G_ema`` from an own snapshot or generator file, or from an official pickle (PyTorch or TensorFlow)."""
    path = Path(path)
    if path.suffix == ".pkl":
        return load_official_pickle(path)["G_ema"].to(device).eval()
    from .train import NetworkConfig

    payload = read_snapshot(path)
    G = Generator(**NetworkConfig(**payload["config"]).generator_kwargs())
    G.load_state_dict(payload["G_ema"])
    return G.to(device).eval().requires_grad_(False)


def transfer_weights(target: torch.nn.Module, source: dict[str, torch.Tensor]) -> dict[str, list[str]]:
    """Copy every tensor of ``source`` whose name and shape match into ``target``.

    Returns ``{"copied": [...], "shape_mismatch": [...], "missing_in_source": [...], "unused": [...]}`` so a
    caller can report what did not transfer (e.g. a checkpoint of another resolution or width).
    """
    own = target.state_dict()
    report = {"copied": [], "shape_mismatch": [], "missing_in_source": [], "unused": []}
    with torch.no_grad():
        for name, tensor in own.items():
            if name not in source:
                report["missing_in_source"].append(name)
            elif tuple(source[name].shape) != tuple(tensor.shape):
                report["shape_mismatch"].append(name)
            else:
                tensor.copy_(source[name])
                report["copied"].append(name)
    report["unused"] = sorted(set(source) - set(own))
    return report


# ============================================================================ restricted unpickling


class _Record:
    """What a persistent (or TF ``Network``) object becomes: its class name and its state, nothing executable."""

    def __init__(self, class_name: str = "", state=None):
        self.class_name, self.state = class_name, state

    def __setstate__(self, state):  # TF Network objects are rebuilt with NEWOBJ + BUILD
        self.state = state


class _TFNetwork(_Record):
    def __init__(self, *args, **kwargs):
        super().__init__("Network")


def _reconstruct_persistent(meta) -> _Record:
    if not isinstance(meta, dict) or meta.get("type") != "class":
        raise pickle.UnpicklingError("unexpected persistent object metadata")
    return _Record(str(meta.get("class_name")), meta.get("state"))


def _load_storage_bytes(data: bytes):
    """Storages inside a pickle are ``torch.save`` bytes: read them back with ``weights_only=True``."""
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


class _EasyDict(dict):
    """Stand-in for ``dnnlib.EasyDict``: a plain dict."""


def _numpy_global(name: str):
    from numpy._core import multiarray

    return {"scalar": multiarray.scalar, "_reconstruct": multiarray._reconstruct}[name]


_ALLOWED = {
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): lambda: _reconstruct_persistent,
    ("dnnlib.tflib.network", "Network"): lambda: _TFNetwork,
    ("collections", "OrderedDict"): lambda: OrderedDict,
    ("builtins", "set"): lambda: set,
    ("_codecs", "encode"): lambda: codecs.encode,  # protocol-2 pickles store bytes as latin-1 strings
    ("torch._utils", "_rebuild_tensor_v2"): lambda: torch._utils._rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): lambda: torch._utils._rebuild_parameter,
    ("torch.storage", "_load_from_bytes"): lambda: _load_storage_bytes,
    ("dnnlib.util", "EasyDict"): lambda: _EasyDict,
    ("dnnlib", "EasyDict"): lambda: _EasyDict,
    ("numpy", "dtype"): lambda: np.dtype,
    ("numpy", "ndarray"): lambda: np.ndarray,
    ("numpy.core.multiarray", "scalar"): lambda: _numpy_global("scalar"),
    ("numpy._core.multiarray", "scalar"): lambda: _numpy_global("scalar"),
    ("numpy.core.multiarray", "_reconstruct"): lambda: _numpy_global("_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"): lambda: _numpy_global("_reconstruct"),
}


class _SafeUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        factory = _ALLOWED.get((module, name))
        if factory is None:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")
        return factory()

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("persistent ids are not supported")


def _unpickle(path: Path):
    try:
        with open(path, "rb") as f:
            return _SafeUnpickler(f).load()
    except FileNotFoundError:
        raise UserError(f"{path}: GAN checkpoint not found") from None
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, IndexError, KeyError, TypeError,
            ValueError, RuntimeError) as exc:
        raise UserError(f"{path}: not a readable StyleGAN2 pickle ({' '.join(str(exc).split())[:200]})") from None


# ============================================================================ official PyTorch pickles


def _collect_tensors(record: _Record, prefix: str = "") -> dict[str, torch.Tensor]:
    """Flatten a persistent module record into ``{"mapping.fc0.weight": tensor, ...}`` (parameters + buffers)."""
    state = record.state or {}
    out = {}
    for group in ("_parameters", "_buffers"):
        for name, tensor in (state.get(group) or {}).items():
            if tensor is not None:
                out[prefix + name] = torch.as_tensor(tensor).detach().float().clone()
    for name, child in (state.get("_modules") or {}).items():
        if isinstance(child, _Record):
            out |= _collect_tensors(child, f"{prefix}{name}.")
    return out


def _kwargs(record: _Record) -> dict:
    kwargs = dict((record.state or {}).get("_init_kwargs") or {})
    return {k: dict(v) if isinstance(v, dict) else v for k, v in kwargs.items()}


def _build(cls, record: _Record, path: Path, name: str) -> torch.nn.Module:
    kwargs = _kwargs(record)
    kwargs.pop("class_name", None)
    try:
        module = cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise UserError(f"{path}: {name} has constructor arguments this project cannot build ({exc})") from None
    tensors = _collect_tensors(record)
    report = transfer_weights(module, tensors)
    wrong = report["missing_in_source"] + report["shape_mismatch"]
    if wrong:
        raise UserError(f"{path}: {name} does not match its own constructor arguments (e.g. {wrong[0]})")
    return module.eval().requires_grad_(False)


def load_official_pickle(path: str | os.PathLike) -> dict:
    """``{"G", "D", "G_ema": modules, "augment_p": float, "training_set_kwargs": dict | None}`` from an official
    stylegan2-ada-pytorch pickle or a TensorFlow StyleGAN2 pickle, without executing anything from the file."""
    path = Path(path)
    data = _unpickle(path)
    if isinstance(data, tuple) and len(data) == 3 and all(isinstance(x, _TFNetwork) for x in data):
        return load_tf_networks(*data, path=path)
    if not isinstance(data, dict) or not all(isinstance(data.get(k), _Record) for k in ("G", "D", "G_ema")):
        raise UserError(f"{path}: expected an official StyleGAN2-ADA pickle (dict with G, D, G_ema networks)")
    for key, cls in (("G", "Generator"), ("D", "Discriminator"), ("G_ema", "Generator")):
        if data[key].class_name != cls:
            raise UserError(f"{path}: {key} is a {data[key].class_name}, expected a {cls}")
    augment = data.get("augment_pipe")
    p = 0.0
    if isinstance(augment, _Record):
        p_tensor = (augment.state.get("_buffers") or {}).get("p")
        p = float(p_tensor) if p_tensor is not None else 0.0
    return {
        "G": _build(Generator, data["G"], path, "G"),
        "D": _build(Discriminator, data["D"], path, "D"),
        "G_ema": _build(Generator, data["G_ema"], path, "G_ema"),
        "augment_p": p,
        "training_set_kwargs": dict(data["training_set_kwargs"]) if data.get("training_set_kwargs") else None,
    }


# ============================================================================ official TensorFlow pickles


def _tf_variables(net: _TFNetwork, prefix: str = "") -> dict[str, np.ndarray]:
    state = net.state or {}
    out = {prefix + name: np.asarray(value) for name, value in state.get("variables", [])}
    for name, comp in (state.get("components") or {}).items():
        if isinstance(comp, _TFNetwork):
            out |= _tf_variables(comp, f"{prefix}{name}/")
    return out


def _tf_kwargs(net: _TFNetwork) -> dict:
    return dict((net.state or {}).get("static_kwargs") or {})


def _tf_generator_kwargs(kw: dict) -> dict:
    def get(name, default):
        value = kw.get(name, default)
        return default if value is None else value

    if get("architecture", "skip") != "skip":
        raise ValueError(f"generator architecture {kw['architecture']!r} (only 'skip' is supported)")
    return dict(
        z_dim=get("latent_size", 512), c_dim=get("label_size", 0), w_dim=get("dlatent_size", 512),
        img_resolution=get("resolution", 1024), img_channels=get("num_channels", 3),
        mapping_kwargs=dict(num_layers=get("mapping_layers", 8), embed_features=kw.get("label_fmaps"),
                            layer_features=kw.get("mapping_fmaps"), lr_multiplier=get("mapping_lrmul", 0.01),
                            w_avg_beta=get("w_avg_beta", 0.995)),
        synthesis_kwargs=dict(channel_base=get("fmap_base", 16384) * 2, channel_max=get("fmap_max", 512),
                              conv_clamp=kw.get("conv_clamp"), resample_filter=get("resample_kernel", [1, 3, 3, 1]),
                              use_noise=get("use_noise", True)),
    )


def _tf_discriminator_kwargs(kw: dict) -> dict:
    def get(name, default):
        value = kw.get(name, default)
        return default if value is None else value

    if get("architecture", "resnet") != "resnet":
        raise ValueError(f"discriminator architecture {kw['architecture']!r} (only 'resnet' is supported)")
    return dict(
        c_dim=get("label_size", 0), img_resolution=get("resolution", 1024), img_channels=get("num_channels", 3),
        channel_base=get("fmap_base", 16384) * 2, channel_max=get("fmap_max", 512), conv_clamp=kw.get("conv_clamp"),
        cmap_dim=kw.get("mapping_fmaps"),
        block_kwargs=dict(resample_filter=get("resample_kernel", [1, 3, 3, 1]), freeze_layers=get("freeze_layers", 0)),
        mapping_kwargs=dict(num_layers=get("mapping_layers", 0), embed_features=kw.get("mapping_fmaps"),
                            layer_features=kw.get("mapping_fmaps"), lr_multiplier=get("mapping_lrmul", 0.1)),
        epilogue_kwargs=dict(mbstd_group_size=kw.get("mbstd_group_size"),
                             mbstd_num_channels=get("mbstd_num_features", 1)),
    )


def _dense(w):  # TF dense kernels are (in, out)
    return w.T


def _conv(w):  # TF conv kernels are (kh, kw, in, out)
    return w.transpose(3, 2, 0, 1)


def tf_generator_name(name: str, v: dict[str, np.ndarray]) -> np.ndarray | None:
    """The TF value for one of our generator tensors (None for the FIR filter buffers, which are fixed)."""
    rules = [
        (r"mapping\.w_avg", lambda: v["dlatent_avg"]),
        (r"mapping\.embed\.weight", lambda: _dense(v["mapping/LabelEmbed/weight"])),
        (r"mapping\.embed\.bias", lambda: v["mapping/LabelEmbed/bias"]),
        (r"mapping\.fc(\d+)\.weight", lambda i: _dense(v[f"mapping/Dense{i}/weight"])),
        (r"mapping\.fc(\d+)\.bias", lambda i: v[f"mapping/Dense{i}/bias"]),
        (r"synthesis\.b4\.const", lambda: v["synthesis/4x4/Const/const"][0]),
        (r"synthesis\.b4\.conv1\.weight", lambda: _conv(v["synthesis/4x4/Conv/weight"])),
        (r"synthesis\.b4\.conv1\.bias", lambda: v["synthesis/4x4/Conv/bias"]),
        (r"synthesis\.b4\.conv1\.noise_const", lambda: v["synthesis/noise0"][0, 0]),
        (r"synthesis\.b4\.conv1\.noise_strength", lambda: v["synthesis/4x4/Conv/noise_strength"]),
        (r"synthesis\.b4\.conv1\.affine\.weight", lambda: _dense(v["synthesis/4x4/Conv/mod_weight"])),
        (r"synthesis\.b4\.conv1\.affine\.bias", lambda: v["synthesis/4x4/Conv/mod_bias"] + 1),
        (r"synthesis\.b(\d+)\.conv0\.weight", lambda r: _conv(v[f"synthesis/{r}x{r}/Conv0_up/weight"][::-1, ::-1])),
        (r"synthesis\.b(\d+)\.conv0\.bias", lambda r: v[f"synthesis/{r}x{r}/Conv0_up/bias"]),
        (r"synthesis\.b(\d+)\.conv0\.noise_const",
         lambda r: v[f"synthesis/noise{int(np.log2(int(r))) * 2 - 5}"][0, 0]),
        (r"synthesis\.b(\d+)\.conv0\.noise_strength", lambda r: v[f"synthesis/{r}x{r}/Conv0_up/noise_strength"]),
        (r"synthesis\.b(\d+)\.conv0\.affine\.weight", lambda r: _dense(v[f"synthesis/{r}x{r}/Conv0_up/mod_weight"])),
        (r"synthesis\.b(\d+)\.conv0\.affine\.bias", lambda r: v[f"synthesis/{r}x{r}/Conv0_up/mod_bias"] + 1),
        (r"synthesis\.b(\d+)\.conv1\.weight", lambda r: _conv(v[f"synthesis/{r}x{r}/Conv1/weight"])),
        (r"synthesis\.b(\d+)\.conv1\.bias", lambda r: v[f"synthesis/{r}x{r}/Conv1/bias"]),
        (r"synthesis\.b(\d+)\.conv1\.noise_const",
         lambda r: v[f"synthesis/noise{int(np.log2(int(r))) * 2 - 4}"][0, 0]),
        (r"synthesis\.b(\d+)\.conv1\.noise_strength", lambda r: v[f"synthesis/{r}x{r}/Conv1/noise_strength"]),
        (r"synthesis\.b(\d+)\.conv1\.affine\.weight", lambda r: _dense(v[f"synthesis/{r}x{r}/Conv1/mod_weight"])),
        (r"synthesis\.b(\d+)\.conv1\.affine\.bias", lambda r: v[f"synthesis/{r}x{r}/Conv1/mod_bias"] + 1),
        (r"synthesis\.b(\d+)\.torgb\.weight", lambda r: _conv(v[f"synthesis/{r}x{r}/ToRGB/weight"])),
        (r"synthesis\.b(\d+)\.torgb\.bias", lambda r: v[f"synthesis/{r}x{r}/ToRGB/bias"]),
        (r"synthesis\.b(\d+)\.torgb\.affine\.weight", lambda r: _dense(v[f"synthesis/{r}x{r}/ToRGB/mod_weight"])),
        (r"synthesis\.b(\d+)\.torgb\.affine\.bias", lambda r: v[f"synthesis/{r}x{r}/ToRGB/mod_bias"] + 1),
        (r".*\.resample_filter", None),
    ]
    return _apply_rules(name, rules)


def tf_discriminator_name(name: str, v: dict[str, np.ndarray]) -> np.ndarray | None:
    """The TF value for one of our discriminator tensors (None for the FIR filter buffers)."""
    rules = [
        (r"b(\d+)\.fromrgb\.weight", lambda r: _conv(v[f"{r}x{r}/FromRGB/weight"])),
        (r"b(\d+)\.fromrgb\.bias", lambda r: v[f"{r}x{r}/FromRGB/bias"]),
        (r"b(\d+)\.conv(\d+)\.weight", lambda r, i: _conv(v[f"{r}x{r}/Conv{i}{['', '_down'][int(i)]}/weight"])),
        (r"b(\d+)\.conv(\d+)\.bias", lambda r, i: v[f"{r}x{r}/Conv{i}{['', '_down'][int(i)]}/bias"]),
        (r"b(\d+)\.skip\.weight", lambda r: _conv(v[f"{r}x{r}/Skip/weight"])),
        (r"mapping\.embed\.weight", lambda: _dense(v["LabelEmbed/weight"])),
        (r"mapping\.embed\.bias", lambda: v["LabelEmbed/bias"]),
        (r"mapping\.fc(\d+)\.weight", lambda i: _dense(v[f"Mapping{i}/weight"])),
        (r"mapping\.fc(\d+)\.bias", lambda i: v[f"Mapping{i}/bias"]),
        (r"b4\.conv\.weight", lambda: _conv(v["4x4/Conv/weight"])),
        (r"b4\.conv\.bias", lambda: v["4x4/Conv/bias"]),
        (r"b4\.fc\.weight", lambda: _dense(v["4x4/Dense0/weight"])),
        (r"b4\.fc\.bias", lambda: v["4x4/Dense0/bias"]),
        (r"b4\.out\.weight", lambda: _dense(v["Output/weight"])),
        (r"b4\.out\.bias", lambda: v["Output/bias"]),
        (r".*\.resample_filter", None),
    ]
    return _apply_rules(name, rules)


def _apply_rules(name: str, rules) -> np.ndarray | None:
    for pattern, fn in rules:
        match = re.fullmatch(pattern, name)
        if match:
            return None if fn is None else np.array(fn(*match.groups()), dtype=np.float32)  # a copy: flips have negative strides
    raise KeyError(f"no TensorFlow variable known for {name}")


def _from_tf(module: torch.nn.Module, variables: dict, name_fn, path: Path, label: str) -> torch.nn.Module:
    with torch.no_grad():
        for name, tensor in module.state_dict().items():
            try:
                value = name_fn(name, variables)
            except KeyError as exc:
                raise UserError(f"{path}: {label} lacks the TensorFlow variable for {name} ({exc})") from None
            if value is None:
                continue
            if tuple(value.shape) != tuple(tensor.shape):
                raise UserError(f"{path}: {label} variable for {name} has shape {tuple(value.shape)}, "
                                f"expected {tuple(tensor.shape)}")
            tensor.copy_(torch.from_numpy(value.astype(np.float32)))
    return module.eval().requires_grad_(False)


def load_tf_networks(tf_G: _TFNetwork, tf_D: _TFNetwork, tf_Gs: _TFNetwork, path: Path) -> dict:
    """Our G, D, G_ema from the three TF network records of a StyleGAN2 pickle."""
    for net, label in ((tf_G, "G"), (tf_D, "D"), (tf_Gs, "Gs")):
        if int((net.state or {}).get("version", 0)) < 4:
            raise UserError(f"{path}: TensorFlow network {label} has pickle version < 4 (StyleGAN2 needs >= 4)")
    try:
        g_kwargs = _tf_generator_kwargs(_tf_kwargs(tf_Gs))
        d_kwargs = _tf_discriminator_kwargs(_tf_kwargs(tf_D))
    except ValueError as exc:
        raise UserError(f"{path}: unsupported TensorFlow network: {exc}") from None
    return {
        "G": _from_tf(Generator(**_tf_generator_kwargs(_tf_kwargs(tf_G))), _tf_variables(tf_G), tf_generator_name,
                      path, "G"),
        "D": _from_tf(Discriminator(**d_kwargs), _tf_variables(tf_D), tf_discriminator_name, path, "D"),
        "G_ema": _from_tf(Generator(**g_kwargs), _tf_variables(tf_Gs), tf_generator_name, path, "Gs"),
        "augment_p": 0.0,
        "training_set_kwargs": None,
    }
