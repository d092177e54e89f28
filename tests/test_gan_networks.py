"""StyleGAN2 networks and ops: shapes, resampling, modulation, truncation, noise modes, the camera path."""

import math

import pytest
import torch

from inverse_graphics.gan.networks import Discriminator, Generator, MinibatchStdLayer, assert_shape
from inverse_graphics.gan.ops import conv2d_resample, downsample2d, modulated_conv2d, setup_filter, upsample2d

SMALL = dict(z_dim=16, w_dim=16, img_resolution=16, img_channels=3, mapping_kwargs=dict(num_layers=2),
             synthesis_kwargs=dict(channel_base=256, channel_max=32))


def test_fir_resampling_keeps_a_constant_image_constant_inside():
    f = setup_filter([1, 3, 3, 1])
    assert torch.isclose(f.sum(), torch.tensor(1.0)) and f.shape == (4, 4)
    x = torch.full((1, 2, 8, 8), 3.0)
    up, down = upsample2d(x, f), downsample2d(x, f)
    assert up.shape == (1, 2, 16, 16) and down.shape == (1, 2, 4, 4)
    torch.testing.assert_close(up[..., 2:-2, 2:-2], torch.full_like(up[..., 2:-2, 2:-2], 3.0))
    torch.testing.assert_close(down[..., 1:-1, 1:-1], torch.full_like(down[..., 1:-1, 1:-1], 3.0))


def test_upsampling_convolution_equals_transposed_convolution_then_filter():
    """Zero insertion + FIR + convolution is the official transposed-convolution path, reordered."""
    g = torch.Generator().manual_seed(0)
    x, w = torch.randn(2, 3, 5, 5, generator=g), torch.randn(4, 3, 3, 3, generator=g)
    f = setup_filter([1, 3, 3, 1])
    ours = conv2d_resample(x, w, f, up=2, padding=1)
    y = torch.nn.functional.conv_transpose2d(x, w.transpose(0, 1), stride=2)  # (2, 4, 11, 11)
    y = torch.nn.functional.pad(y, [1, 1, 1, 1])
    reference = torch.nn.functional.conv2d(y, (f * 4).flip([0, 1])[None, None].expand(4, 1, 4, 4), groups=4)
    assert ours.shape == (2, 4, 10, 10)
    torch.testing.assert_close(ours, reference, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("up", [1, 2])
def test_fused_and_split_modulated_convolution_agree(up):
    g = torch.Generator().manual_seed(1)
    x, w = torch.randn(3, 4, 6, 6, generator=g), torch.randn(5, 4, 3, 3, generator=g)
    styles = torch.rand(3, 4, generator=g) + 0.5
    f = setup_filter([1, 3, 3, 1])
    fused = modulated_conv2d(x, w, styles, up=up, padding=1, resample_filter=f, fused=True)
    split = modulated_conv2d(x, w, styles, up=up, padding=1, resample_filter=f, fused=False)
    torch.testing.assert_close(fused, split, atol=1e-5, rtol=1e-4)


def test_demodulation_keeps_unit_variance():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(8, 64, 16, 16, generator=g)
    out = modulated_conv2d(x, torch.randn(32, 64, 3, 3, generator=g), torch.rand(8, 64, generator=g) * 5, padding=1)
    assert abs(out[..., 2:-2, 2:-2].std().item() - 1.0) < 0.1


def test_generator_shapes_truncation_and_noise_modes():
    torch.manual_seed(0)
    G = Generator(c_dim=0, **SMALL).eval()
    assert G.num_ws == 1 + 2 * 2 + 1  # b4: 1 conv; b8, b16: 2 each; + the last toRGB
    z = torch.randn(2, 16)
    img = G(z, noise_mode="const")
    assert img.shape == (2, 3, 16, 16)
    torch.testing.assert_close(G(z, noise_mode="const"), img)  # const noise: repeatable
    G.synthesis.b16.conv1.noise_strength.data.fill_(1.0)
    assert not torch.equal(G(z, noise_mode="random"), G(z, noise_mode="random"))
    G.mapping.w_avg.normal_()
    ws = G.mapping(z, None, truncation_psi=0.0)
    torch.testing.assert_close(ws, G.mapping.w_avg.expand_as(ws))
    with pytest.raises(ValueError, match="noise_mode"):
        G(z, noise_mode="sometimes")


def test_w_avg_moves_only_in_training_mode():
    G = Generator(c_dim=0, **SMALL)
    G.eval()(torch.randn(4, 16))
    assert G.mapping.w_avg.abs().sum() == 0
    G.train()(torch.randn(4, 16))
    assert G.mapping.w_avg.abs().sum() > 0


def test_camera_path_changes_the_image_but_not_w():
    torch.manual_seed(0)
    G = Generator(c_dim=0, pose_dim=3, **SMALL).eval()
    z = torch.randn(1, 16)
    a = torch.tensor([[0.0, 1.0, 0.1]])
    b = torch.tensor([[1.0, 0.0, 0.1]])
    torch.testing.assert_close(G.mapping(z, None), G.mapping(z, None))
    assert not torch.allclose(G(z, None, a, noise_mode="const"), G(z, None, b, noise_mode="const"))
    with pytest.raises(ValueError, match="camera input"):
        G(z, None, None)


def test_discriminator_conditioning_and_shape_checks():
    D = Discriminator(c_dim=3, img_resolution=16, img_channels=6, channel_base=256, channel_max=32,
                      epilogue_kwargs=dict(mbstd_group_size=2))
    logits = D(torch.randn(4, 6, 16, 16), torch.randn(4, 3))
    assert logits.shape == (4, 1)
    with pytest.raises(AssertionError, match="expected shape"):
        D(torch.randn(4, 3, 16, 16), torch.randn(4, 3))


def test_minibatch_std_appends_group_statistics():
    x = torch.zeros(4, 2, 3, 3)
    x[1] = 2.0  # groups of 2: samples (0, 2) and (1, 3); sample 1 differs from sample 3 by 2
    y = MinibatchStdLayer(group_size=2)(x)
    assert y.shape == (4, 3, 3, 3)
    assert torch.allclose(y[0, 2], torch.full((3, 3), math.sqrt(1e-8)), atol=1e-5)
    assert torch.allclose(y[1, 2], torch.ones(3, 3), atol=1e-4)
    with pytest.raises(ValueError, match="multiple"):
        MinibatchStdLayer(group_size=4)(torch.zeros(6, 2, 3, 3))


def test_assert_shape_names_both_shapes():
    with pytest.raises(AssertionError, match=r"expected shape \[None, 3\], got \[2, 4\]"):
        assert_shape(torch.zeros(2, 4), [None, 3])
