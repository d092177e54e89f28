"""GAN checkpoints: own snapshots, and small pickles in both official formats read without running their code.

The official-format pickles are built here with the same object structure and global names as NVIDIA's files
(``torch_utils.persistence._reconstruct_persistent_obj(meta)`` with the module source in ``meta``; TF
``dnnlib.tflib.network.Network`` objects with a ``variables`` list). Their embedded source is a canary that would
end the test process if anything executed it.
"""

import collections
import copy
import pickle
import sys
import types

import numpy as np
import pytest
import torch

from inverse_graphics.errors import UserError
from inverse_graphics.gan.checkpoint import (load_generator, load_official_pickle, load_snapshot, save_snapshot,
                                             transfer_weights)
from inverse_graphics.gan.networks import Discriminator, Generator
from inverse_graphics.gan.train import NetworkConfig, build_networks

CANARY = "import os\nos._exit(13)  # executing pickled source is exactly what the safe loader must never do\n"
G_KWARGS = dict(z_dim=16, c_dim=0, w_dim=16, img_resolution=16, img_channels=3, mapping_kwargs=dict(num_layers=2),
                synthesis_kwargs=dict(channel_base=256, channel_max=32, num_fp16_res=1, conv_clamp=256))
D_KWARGS = dict(c_dim=0, img_resolution=16, img_channels=3, channel_base=256, channel_max=32, num_fp16_res=1,
                conv_clamp=256, epilogue_kwargs=dict(mbstd_group_size=2))


@pytest.fixture
def official_modules(monkeypatch):
    """Stand-ins for NVIDIA's ``torch_utils.persistence`` and ``dnnlib`` so pickle records their global names."""
    persistence = types.ModuleType("torch_utils.persistence")

    def _reconstruct_persistent_obj(meta):  # pragma: no cover - only pickled, never called
        raise AssertionError("the safe loader must not call the pickled reconstructor")

    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    persistence._reconstruct_persistent_obj = _reconstruct_persistent_obj
    util = types.ModuleType("dnnlib.util")
    easy = type("EasyDict", (dict,), {"__module__": "dnnlib.util"})
    util.EasyDict = easy
    tflib_network = types.ModuleType("dnnlib.tflib.network")
    network_cls = type("Network", (), {"__module__": "dnnlib.tflib.network",
                                       "__getstate__": lambda self: self.state,
                                       "__setstate__": lambda self, s: setattr(self, "state", s)})
    tflib_network.Network = network_cls
    for name, module in {"torch_utils": types.ModuleType("torch_utils"), "torch_utils.persistence": persistence,
                         "dnnlib": types.ModuleType("dnnlib"), "dnnlib.util": util,
                         "dnnlib.tflib": types.ModuleType("dnnlib.tflib"),
                         "dnnlib.tflib.network": tflib_network}.items():
        monkeypatch.setitem(sys.modules, name, module)
    return types.SimpleNamespace(reconstruct=_reconstruct_persistent_obj, EasyDict=easy, Network=network_cls)


class _Persistent:
    """Pickles like an object of a class decorated with NVIDIA's ``persistent_class``."""

    def __init__(self, fake, module: torch.nn.Module, class_name: str, init_kwargs: dict | None = None):
        self.fake, self.module, self.class_name, self.init_kwargs = fake, module, class_name, init_kwargs

    def __reduce__(self):
        state = dict(self.module.__dict__)
        state["_modules"] = collections.OrderedDict(
            (name, _Persistent(self.fake, child, type(child).__name__)) for name, child in self.module._modules.items())
        state["_init_args"] = ()
        state["_init_kwargs"] = self.fake.EasyDict(self.init_kwargs or {})
        meta = dict(type="class", version=6, module_src=CANARY, class_name=self.class_name, state=state)
        return self.fake.reconstruct, (meta,)


def _randomised(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.2)
        for name, b in module.named_buffers():
            if name.endswith("w_avg") or name.endswith("noise_const"):
                b.copy_(torch.randn(b.shape, generator=g))
    return module.eval()


def test_official_pytorch_pickle_loads_without_running_its_code(official_modules, tmp_path):
    torch.manual_seed(0)
    G = _randomised(Generator(**G_KWARGS), 1)
    D = _randomised(Discriminator(**D_KWARGS), 2)
    augment = torch.nn.Module()
    augment.register_buffer("p", torch.tensor(0.25))
    data = {
        "G": _Persistent(official_modules, G, "Generator", G_KWARGS),
        "D": _Persistent(official_modules, D, "Discriminator", D_KWARGS),
        "G_ema": _Persistent(official_modules, G, "Generator", G_KWARGS),
        "augment_pipe": _Persistent(official_modules, augment, "AugmentPipe", {}),
        "training_set_kwargs": official_modules.EasyDict(resolution=16, use_labels=False),
    }
    path = tmp_path / "network-snapshot-000100.pkl"
    path.write_bytes(pickle.dumps(data, protocol=4))
    loaded = load_official_pickle(path)
    z = torch.randn(3, 16)
    torch.testing.assert_close(loaded["G_ema"](z, noise_mode="const"), G(z, noise_mode="const"))
    img = torch.randn(2, 3, 16, 16)
    torch.testing.assert_close(loaded["D"](img), D(img))
    assert loaded["augment_p"] == pytest.approx(0.25)
    assert loaded["training_set_kwargs"]["resolution"] == 16
    torch.testing.assert_close(load_generator(path)(z, noise_mode="const"), G(z, noise_mode="const"))


def test_foreign_malicious_and_truncated_pickles_are_one_line_errors(official_modules, tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("this must not run",))

    evil = tmp_path / "evil.pkl"
    evil.write_bytes(pickle.dumps({"G": Evil()}))
    with pytest.raises(UserError, match=r"evil.pkl: not a readable StyleGAN2 pickle \(refusing to load global builtins.print\)"):
        load_official_pickle(evil)
    foreign = tmp_path / "list.pkl"
    foreign.write_bytes(pickle.dumps([1, 2, 3]))
    with pytest.raises(UserError, match="expected an official StyleGAN2-ADA pickle"):
        load_official_pickle(foreign)
    G = Generator(**G_KWARGS)
    whole = pickle.dumps({"G": _Persistent(official_modules, G, "Generator", G_KWARGS)})
    truncated = tmp_path / "truncated.pkl"
    truncated.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(UserError, match="truncated.pkl: not a readable StyleGAN2 pickle"):
        load_official_pickle(truncated)
    with pytest.raises(UserError, match="not found"):
        load_official_pickle(tmp_path / "missing.pkl")


# --------------------------------------------------------------------------------------------- TensorFlow


def _tf_generator_variables(G: Generator) -> dict:
    """Our generator's tensors under the TF StyleGAN2 names (the inverse of the loader's mapping)."""
    sd = {k: v.numpy() for k, v in G.state_dict().items()}
    conv = lambda w: w.transpose(2, 3, 1, 0)  # noqa: E731  OIHW -> HWIO
    out = {"dlatent_avg": sd["mapping.w_avg"]}
    for i in range(2):
        out[f"mapping/Dense{i}/weight"] = sd[f"mapping.fc{i}.weight"].T
        out[f"mapping/Dense{i}/bias"] = sd[f"mapping.fc{i}.bias"]
    out["synthesis/4x4/Const/const"] = sd["synthesis.b4.const"][None]
    out["synthesis/noise0"] = sd["synthesis.b4.conv1.noise_const"][None, None]
    layers = [("4x4/Conv", "b4.conv1")]
    for r in (8, 16):
        layers += [(f"{r}x{r}/Conv0_up", f"b{r}.conv0"), (f"{r}x{r}/Conv1", f"b{r}.conv1")]
        out[f"synthesis/noise{int(np.log2(r)) * 2 - 5}"] = sd[f"synthesis.b{r}.conv0.noise_const"][None, None]
        out[f"synthesis/noise{int(np.log2(r)) * 2 - 4}"] = sd[f"synthesis.b{r}.conv1.noise_const"][None, None]
    for tf, ours in layers:
        weight = conv(sd[f"synthesis.{ours}.weight"])
        out[f"synthesis/{tf}/weight"] = weight[::-1, ::-1] if tf.endswith("Conv0_up") else weight
        out[f"synthesis/{tf}/bias"] = sd[f"synthesis.{ours}.bias"]
        out[f"synthesis/{tf}/noise_strength"] = sd[f"synthesis.{ours}.noise_strength"]
        out[f"synthesis/{tf}/mod_weight"] = sd[f"synthesis.{ours}.affine.weight"].T
        out[f"synthesis/{tf}/mod_bias"] = sd[f"synthesis.{ours}.affine.bias"] - 1
    for r in (4, 8, 16):
        out[f"synthesis/{r}x{r}/ToRGB/weight"] = conv(sd[f"synthesis.b{r}.torgb.weight"])
        out[f"synthesis/{r}x{r}/ToRGB/bias"] = sd[f"synthesis.b{r}.torgb.bias"]
        out[f"synthesis/{r}x{r}/ToRGB/mod_weight"] = sd[f"synthesis.b{r}.torgb.affine.weight"].T
        out[f"synthesis/{r}x{r}/ToRGB/mod_bias"] = sd[f"synthesis.b{r}.torgb.affine.bias"] - 1
    return out


def _tf_discriminator_variables(D: Discriminator) -> dict:
    sd = {k: v.numpy() for k, v in D.state_dict().items()}
    conv = lambda w: w.transpose(2, 3, 1, 0)  # noqa: E731
    out = {"16x16/FromRGB/weight": conv(sd["b16.fromrgb.weight"]), "16x16/FromRGB/bias": sd["b16.fromrgb.bias"]}
    for r in (16, 8):
        out[f"{r}x{r}/Conv0/weight"], out[f"{r}x{r}/Conv0/bias"] = conv(sd[f"b{r}.conv0.weight"]), sd[f"b{r}.conv0.bias"]
        out[f"{r}x{r}/Conv1_down/weight"] = conv(sd[f"b{r}.conv1.weight"])
        out[f"{r}x{r}/Conv1_down/bias"] = sd[f"b{r}.conv1.bias"]
        out[f"{r}x{r}/Skip/weight"] = conv(sd[f"b{r}.skip.weight"])
    out["4x4/Conv/weight"], out["4x4/Conv/bias"] = conv(sd["b4.conv.weight"]), sd["b4.conv.bias"]
    out["4x4/Dense0/weight"], out["4x4/Dense0/bias"] = sd["b4.fc.weight"].T, sd["b4.fc.bias"]
    out["Output/weight"], out["Output/bias"] = sd["b4.out.weight"].T, sd["b4.out.bias"]
    return out


def _tf_network(fake, name: str, static_kwargs: dict, variables: dict, components: dict | None = None):
    net = fake.Network()
    mapping = {k: v for k, v in variables.items() if k.startswith("mapping/")}
    net.state = dict(version=4, name=name, static_kwargs=static_kwargs, build_module_src=CANARY,
                     build_func_name=f"{name}_main", components=components or {},
                     variables=[(k, np.array(v)) for k, v in variables.items() if k not in mapping])
    if mapping:
        sub = fake.Network()
        sub.state = dict(version=4, name="G_mapping", static_kwargs={}, build_module_src=CANARY,
                         build_func_name="G_mapping", components={},
                         variables=[(k.split("/", 1)[1], np.array(v)) for k, v in mapping.items()])
        net.state["components"]["mapping"] = sub
        synth = fake.Network()
        synth.state = dict(version=4, name="G_synthesis", static_kwargs={}, build_module_src=CANARY,
                           build_func_name="G_synthesis", components={},
                           variables=[(k.split("/", 1)[1], np.array(v))
                                      for k, v in variables.items() if k.startswith("synthesis/")])
        net.state["components"]["synthesis"] = synth
        net.state["variables"] = [(k, v) for k, v in net.state["variables"] if not k.startswith("synthesis/")]
    return net


def test_official_tensorflow_pickle_maps_every_variable(official_modules, tmp_path):
    torch.manual_seed(0)
    G = _randomised(Generator(z_dim=16, c_dim=0, w_dim=16, img_resolution=16, img_channels=3,
                              mapping_kwargs=dict(num_layers=2), synthesis_kwargs=dict(channel_base=256, channel_max=32)), 3)
    D = _randomised(Discriminator(c_dim=0, img_resolution=16, img_channels=3, channel_base=256, channel_max=32,
                                  epilogue_kwargs=dict(mbstd_group_size=2)), 4)
    g_kwargs = dict(latent_size=16, dlatent_size=16, resolution=16, num_channels=3, fmap_base=128, fmap_max=32,
                    mapping_layers=2, label_size=0)
    d_kwargs = dict(resolution=16, num_channels=3, fmap_base=128, fmap_max=32, label_size=0, mbstd_group_size=2)
    tf_G = _tf_network(official_modules, "G", g_kwargs, _tf_generator_variables(G))
    tf_Gs = copy.deepcopy(tf_G)
    tf_D = _tf_network(official_modules, "D", d_kwargs, _tf_discriminator_variables(D))
    path = tmp_path / "stylegan2-tiny-config-f.pkl"
    path.write_bytes(pickle.dumps((tf_G, tf_D, tf_Gs), protocol=2))
    loaded = load_official_pickle(path)
    z = torch.randn(2, 16)
    torch.testing.assert_close(loaded["G_ema"](z, noise_mode="const"), G(z, noise_mode="const"))
    img = torch.randn(2, 3, 16, 16)
    torch.testing.assert_close(loaded["D"](img), D(img))


# --------------------------------------------------------------------------------------------- own format


def test_own_snapshot_round_trip_and_transfer_report(tmp_path):
    config = NetworkConfig(resolution=16, z_dim=16, w_dim=16, channel_base=256, channel_max=32, mbstd_group=2)
    state = build_networks(config, seed=1)
    _randomised(state.G_ema, 5)
    state.nimg, state.total_nimg = 640, 1280
    path = tmp_path / "snapshot.pt"
    save_snapshot(path, state)
    again = load_snapshot(path)
    assert (again.nimg, again.total_nimg) == (640, 1280)
    z, pose = torch.randn(2, 16), torch.rand(2, 3)
    torch.testing.assert_close(again.G_ema(z, None, pose, noise_mode="const"), state.G_ema(z, None, pose, noise_mode="const"))
    wider = build_networks(NetworkConfig(resolution=16, z_dim=16, w_dim=16, channel_base=512, channel_max=64), seed=2)
    report = transfer_weights(wider.G, state.G.state_dict())
    assert "mapping.fc0.weight" in report["copied"]  # the mapping network matches, the wider convolutions do not
    assert "synthesis.b16.conv1.weight" in report["shape_mismatch"]
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(UserError, match="snapshot.pt: not a readable GAN snapshot"):
        load_snapshot(path)
    torch.save({"format": "something else"}, path)
    with pytest.raises(UserError, match="not a GAN snapshot of this project"):
        load_snapshot(path)
