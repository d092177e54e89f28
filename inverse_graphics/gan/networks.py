"""StyleGAN2-ADA generator and discriminator (Karras et al. 2020), written for this project, in one file.

Parameter and buffer names follow the StyleGAN2-ADA checkpoints (``mapping.fc0.weight``,
``synthesis.b64.conv0.affine.bias``, ``b4.out.weight``...), so an official ``G_ema``/``D`` state dict loads into
these modules as it is (``checkpoint.py``). Everything is pure PyTorch, fp32 on the CPU; blocks marked
``use_fp16`` run in half precision on CUDA.

One addition for multi-view synthesis: a camera input separate from the identity. With ``pose_dim > 0`` the
generator takes ``G(z, c, pose)``; ``pose: (N, pose_dim)`` (here ``[sin azim, cos azim, elev / 90]``) is mapped by
its own small MLP (``PoseEncoder``) to a 4x4 feature map that is added to the learned constant input, so the
camera sets the layout of the coarsest layer while ``w`` (from ``z`` alone) styles every layer. Fixing ``w`` and
changing ``pose`` keeps the identity input fixed by construction; training with a pair discriminator makes the
views agree (``train.py``). With ``pose_dim = 0`` the networks are exactly the official architecture.

Shapes: ``z: (N, z_dim)``, ``c: (N, c_dim)``, ``ws: (N, num_ws, w_dim)``, images ``(N, C, R, R)`` in about [-1, 1].
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .ops import (ACTIVATION_GAIN, bias_act, conv2d_resample, downsample2d, modulated_conv2d,
                  normalize_2nd_moment, setup_filter, upsample2d)


def assert_shape(tensor: torch.Tensor, shape: list) -> None:
    """Check ``tensor.shape`` against ``shape`` (``None`` matches any size)."""
    if tensor.ndim != len(shape) or any(s is not None and s != t for s, t in zip(shape, tensor.shape)):
        raise AssertionError(f"expected shape {shape}, got {list(tensor.shape)}")


class FullyConnectedLayer(torch.nn.Module):
    """Dense layer with an equalised learning rate: weights stored at unit scale, multiplied at run time."""

    def __init__(self,
                 in_features: int,              # Number of input features.
                 out_features: int,             # Number of output features.
                 bias: bool = True,             # Add a bias before the activation?
                 activation: str = "linear",    # 'linear', 'relu' or 'lrelu'.
                 lr_multiplier: float = 1.0,    # Learning-rate multiplier (0.01 in the mapping network).
                 bias_init: float = 0.0):       # Initial bias (1 for the style affines: styles start at 1).
        super().__init__()
        self.activation = activation
        self.weight = torch.nn.Parameter(torch.randn([out_features, in_features]) / lr_multiplier)
        self.bias = torch.nn.Parameter(torch.full([out_features], float(bias_init))) if bias else None
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, in_features)`` -> ``(N, out_features)``."""
        w = self.weight.to(x.dtype) * self.weight_gain
        b = self.bias.to(x.dtype) * self.bias_gain if self.bias is not None else None
        if self.activation == "linear" and b is not None:
            return torch.addmm(b[None], x, w.t())
        return bias_act(x.matmul(w.t()), b, self.activation, gain=ACTIVATION_GAIN[self.activation])


class Conv2dLayer(torch.nn.Module):
    """Convolution with an equalised learning rate and optional 2x FIR up/downsampling."""

    def __init__(self,
                 in_channels: int,              # Number of input channels.
                 out_channels: int,             # Number of output channels.
                 kernel_size: int,              # Width and height of the kernel.
                 bias: bool = True,             # Add a bias before the activation?
                 activation: str = "linear",    # 'linear', 'relu' or 'lrelu'.
                 up: int = 1,                   # Upsampling factor (1 or 2).
                 down: int = 1,                 # Downsampling factor (1 or 2).
                 resample_filter=(1, 3, 3, 1),  # Low-pass filter taps for resampling.
                 conv_clamp: float | None = None):  # Clamp the output to +-X; None: no clamp.
        super().__init__()
        self.activation, self.up, self.down, self.conv_clamp = activation, up, down, conv_clamp
        self.register_buffer("resample_filter", setup_filter(list(resample_filter)))
        self.padding = kernel_size // 2
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size**2)
        self.act_gain = ACTIVATION_GAIN[activation]
        self.weight = torch.nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        self.bias = torch.nn.Parameter(torch.zeros([out_channels])) if bias else None

    def forward(self, x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
        """``(N, in, H, W)`` -> ``(N, out, H*up/down, W*up/down)``."""
        w = (self.weight * self.weight_gain).to(x.dtype)
        x = conv2d_resample(x, w, self.resample_filter, up=self.up, down=self.down, padding=self.padding)
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_act(x, self.bias, self.activation, gain=self.act_gain * gain, clamp=clamp)


class MappingNetwork(torch.nn.Module):
    """z (and an optional label c) -> w, broadcast to ``num_ws`` copies; tracks the running mean ``w_avg``."""

    def __init__(self,
                 z_dim: int,                    # Latent z size; 0: no latent (the discriminator's label mapping).
                 c_dim: int,                    # Label size; 0: unconditional.
                 w_dim: int,                    # Intermediate latent w size.
                 num_ws: int | None,            # Copies of w to output; None: return (N, w_dim).
                 num_layers: int = 8,           # Dense layers.
                 embed_features: int | None = None,  # Label embedding size; None: w_dim.
                 layer_features: int | None = None,  # Hidden layer size; None: w_dim.
                 activation: str = "lrelu",     # Hidden activation.
                 lr_multiplier: float = 0.01,   # Learning-rate multiplier of the dense layers.
                 w_avg_beta: float | None = 0.995):  # Decay of the running mean of w; None: not tracked.
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = z_dim, c_dim, w_dim, num_ws
        self.num_layers, self.w_avg_beta = num_layers, w_avg_beta
        embed_features = 0 if c_dim == 0 else (w_dim if embed_features is None else embed_features)
        layer_features = w_dim if layer_features is None else layer_features
        features = [z_dim + embed_features] + [layer_features] * (num_layers - 1) + [w_dim]
        if c_dim > 0:
            self.embed = FullyConnectedLayer(c_dim, embed_features)
        for i in range(num_layers):
            setattr(self, f"fc{i}", FullyConnectedLayer(features[i], features[i + 1], activation=activation,
                                                        lr_multiplier=lr_multiplier))
        if num_ws is not None and w_avg_beta is not None:
            self.register_buffer("w_avg", torch.zeros([w_dim]))

    def forward(self, z: torch.Tensor | None, c: torch.Tensor | None, truncation_psi: float = 1.0,
                truncation_cutoff: int | None = None, update_w_avg: bool = True) -> torch.Tensor:
        """-> ``(N, num_ws, w_dim)`` (or ``(N, w_dim)``). Truncation pulls the first ``truncation_cutoff`` ws
        (all when None) toward ``w_avg`` by ``1 - truncation_psi``. ``w_avg`` moves only in training mode."""
        parts = []
        if self.z_dim > 0:
            assert_shape(z, [None, self.z_dim])
            parts.append(normalize_2nd_moment(z.float()))
        if self.c_dim > 0:
            assert_shape(c, [None, self.c_dim])
            parts.append(normalize_2nd_moment(self.embed(c.float())))
        x = torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)
        if self.w_avg_beta is not None and self.training and update_w_avg:
            self.w_avg.copy_(x.detach().mean(dim=0).lerp(self.w_avg, self.w_avg_beta))
        if self.num_ws is not None:
            x = x[:, None].repeat(1, self.num_ws, 1)
        if truncation_psi != 1:
            cutoff = self.num_ws if truncation_cutoff is None or self.num_ws is None else truncation_cutoff
            x = x.clone()
            x[:, :cutoff] = self.w_avg.lerp(x[:, :cutoff], truncation_psi)
        return x


class SynthesisLayer(torch.nn.Module):
    """Modulated 3x3 convolution + per-pixel noise + bias + leaky ReLU."""

    def __init__(self,
                 in_channels: int,              # Number of input channels.
                 out_channels: int,             # Number of output channels.
                 w_dim: int,                    # Size of w.
                 resolution: int,               # Output resolution of the layer.
                 kernel_size: int = 3,          # Kernel size.
                 up: int = 1,                   # 2: upsample before the convolution.
                 use_noise: bool = True,        # Add per-pixel noise?
                 activation: str = "lrelu",     # Activation.
                 resample_filter=(1, 3, 3, 1),  # Low-pass filter taps for upsampling.
                 conv_clamp: float | None = None):  # Clamp the output to +-X; None: no clamp.
        super().__init__()
        self.resolution, self.up, self.use_noise = resolution, up, use_noise
        self.activation, self.conv_clamp = activation, conv_clamp
        self.register_buffer("resample_filter", setup_filter(list(resample_filter)))
        self.padding = kernel_size // 2
        self.act_gain = ACTIVATION_GAIN[activation]
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = torch.nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        if use_noise:
            self.register_buffer("noise_const", torch.randn([resolution, resolution]))
            self.noise_strength = torch.nn.Parameter(torch.zeros([]))
        self.bias = torch.nn.Parameter(torch.zeros([out_channels]))

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "random", fused_modconv: bool = True,
                gain: float = 1.0) -> torch.Tensor:
        """``x: (N, in, R/up, R/up)``, ``w: (N, w_dim)`` -> ``(N, out, R, R)``. ``noise_mode``: 'random' (fresh
        noise per call), 'const' (the stored ``noise_const``, the same every call) or 'none'."""
        if noise_mode not in ("random", "const", "none"):
            raise ValueError(f"noise_mode must be 'random', 'const' or 'none', got {noise_mode!r}")
        assert_shape(x, [None, self.weight.shape[1], self.resolution // self.up, self.resolution // self.up])
        styles = self.affine(w)
        noise = None
        if self.use_noise and noise_mode == "random":
            noise = torch.randn([x.shape[0], 1, self.resolution, self.resolution], device=x.device) * self.noise_strength
        elif self.use_noise and noise_mode == "const":
            noise = self.noise_const * self.noise_strength
        x = modulated_conv2d(x, self.weight, styles, noise=noise, up=self.up, padding=self.padding,
                             resample_filter=self.resample_filter, fused=fused_modconv)
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return bias_act(x, self.bias, self.activation, gain=self.act_gain * gain, clamp=clamp)


class ToRGBLayer(torch.nn.Module):
    """Modulated 1x1 convolution (no demodulation) to the image channels."""

    def __init__(self,
                 in_channels: int,              # Number of input channels.
                 out_channels: int,             # Number of image channels.
                 w_dim: int,                    # Size of w.
                 kernel_size: int = 1,          # Kernel size.
                 conv_clamp: float | None = None):  # Clamp the output to +-X; None: no clamp.
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = torch.nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        self.bias = torch.nn.Parameter(torch.zeros([out_channels]))
        self.weight_gain = 1 / math.sqrt(in_channels * kernel_size**2)

    def forward(self, x: torch.Tensor, w: torch.Tensor, fused_modconv: bool = True) -> torch.Tensor:
        """``x: (N, in, R, R)``, ``w: (N, w_dim)`` -> ``(N, out, R, R)``."""
        styles = self.affine(w) * self.weight_gain
        x = modulated_conv2d(x, self.weight, styles, demodulate=False, fused=fused_modconv)
        return bias_act(x, self.bias, clamp=self.conv_clamp)


class SynthesisBlock(torch.nn.Module):
    """One resolution of the 'skip' synthesis network: [upsampling conv], conv, toRGB added to the upsampled image."""

    def __init__(self,
                 in_channels: int,              # Input channels; 0: the first block (learned 4x4 constant input).
                 out_channels: int,             # Output channels.
                 w_dim: int,                    # Size of w.
                 resolution: int,               # Resolution of this block.
                 img_channels: int,             # Image channels.
                 is_last: bool,                 # The last (highest-resolution) block?
                 architecture: str = "skip",    # Only 'skip' (the StyleGAN2 generator default) is built here.
                 resample_filter=(1, 3, 3, 1),  # Low-pass filter taps.
                 conv_clamp: float | None = None,  # Clamp convolution outputs to +-X; None: no clamp.
                 use_fp16: bool = False,        # Run this block in fp16 on CUDA?
                 fp16_channels_last: bool = False,  # Accepted for checkpoint compatibility; unused.
                 **layer_kwargs):               # SynthesisLayer arguments (use_noise, activation, kernel_size).
        super().__init__()
        if architecture != "skip":
            raise ValueError(f"synthesis architecture {architecture!r} is not supported (only 'skip')")
        self.in_channels, self.w_dim, self.resolution = in_channels, w_dim, resolution
        self.img_channels, self.is_last, self.use_fp16 = img_channels, is_last, use_fp16
        self.register_buffer("resample_filter", setup_filter(list(resample_filter)))
        if in_channels == 0:
            self.const = torch.nn.Parameter(torch.randn([out_channels, resolution, resolution]))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim, resolution, up=2,
                                        resample_filter=resample_filter, conv_clamp=conv_clamp, **layer_kwargs)
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim, resolution, conv_clamp=conv_clamp,
                                    **layer_kwargs)
        self.torgb = ToRGBLayer(out_channels, img_channels, w_dim, conv_clamp=conv_clamp)
        self.num_conv = 1 if in_channels == 0 else 2
        self.num_torgb = 1

    def forward(self, x: torch.Tensor | None, img: torch.Tensor | None, ws: torch.Tensor,
                const_offset: torch.Tensor | None = None, force_fp32: bool = False,
                fused_modconv: bool | None = None, noise_mode: str = "random") -> tuple[torch.Tensor, torch.Tensor]:
        """``ws: (N, num_conv + 1, w_dim)``; ``x: (N, in, R/2, R/2)`` or None (first block); ``img: (N, C, R/2,
        R/2)`` or None; ``const_offset: (N, out, 4, 4)`` added to the constant (the camera). -> x, img at R."""
        assert_shape(ws, [None, self.num_conv + self.num_torgb, self.w_dim])
        w_iter = iter(ws.unbind(dim=1))
        half = self.use_fp16 and not force_fp32 and ws.device.type == "cuda"
        dtype = torch.float16 if half else torch.float32
        if fused_modconv is None:  # fused for inference (fast for small batches), split for training
            fused_modconv = not self.training and (dtype == torch.float32 or ws.shape[0] == 1)
        if self.in_channels == 0:
            x = self.const.to(dtype)[None].repeat(ws.shape[0], 1, 1, 1)
            if const_offset is not None:
                x = x + const_offset.to(dtype)
            x = self.conv1(x, next(w_iter), noise_mode=noise_mode, fused_modconv=fused_modconv)
        else:
            assert_shape(x, [None, self.in_channels, self.resolution // 2, self.resolution // 2])
            x = x.to(dtype)
            x = self.conv0(x, next(w_iter), noise_mode=noise_mode, fused_modconv=fused_modconv)
            x = self.conv1(x, next(w_iter), noise_mode=noise_mode, fused_modconv=fused_modconv)
        if img is not None:
            assert_shape(img, [None, self.img_channels, self.resolution // 2, self.resolution // 2])
            img = upsample2d(img, self.resample_filter)
        y = self.torgb(x, next(w_iter), fused_modconv=fused_modconv).float()
        img = img + y if img is not None else y
        return x, img


class SynthesisNetwork(torch.nn.Module):
    """ws -> image, one ``SynthesisBlock`` per resolution 4, 8, ..., ``img_resolution``."""

    def __init__(self,
                 w_dim: int,                    # Size of w.
                 img_resolution: int,           # Output resolution (a power of two >= 4).
                 img_channels: int,             # Image channels.
                 channel_base: int = 32768,     # Channels at resolution r: min(channel_base // r, channel_max).
                 channel_max: int = 512,        # Most channels in any layer.
                 num_fp16_res: int = 0,         # fp16 (on CUDA) for the N highest resolutions.
                 **block_kwargs):               # SynthesisBlock arguments.
        super().__init__()
        if img_resolution < 4 or img_resolution & (img_resolution - 1):
            raise ValueError(f"img_resolution must be a power of two >= 4, got {img_resolution}")
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        self.block_resolutions = [2**i for i in range(2, int(math.log2(img_resolution)) + 1)]
        channels = {r: min(channel_base // r, channel_max) for r in self.block_resolutions}
        fp16_resolution = max(2 ** (int(math.log2(img_resolution)) + 1 - num_fp16_res), 8)
        self.channels = channels
        self.num_ws = 0
        for r in self.block_resolutions:
            block = SynthesisBlock(channels[r // 2] if r > 4 else 0, channels[r], w_dim, r, img_channels,
                                   is_last=(r == img_resolution), use_fp16=(r >= fp16_resolution), **block_kwargs)
            self.num_ws += block.num_conv
            setattr(self, f"b{r}", block)
        self.num_ws += 1  # the last toRGB

    def forward(self, ws: torch.Tensor, const_offset: torch.Tensor | None = None, **block_kwargs) -> torch.Tensor:
        """``ws: (N, num_ws, w_dim)`` -> ``(N, img_channels, R, R)``. Block i reads its convs' ws and its toRGB's
        (shared with the next block's first conv)."""
        assert_shape(ws, [None, self.num_ws, self.w_dim])
        ws = ws.float()
        x = img = None
        index = 0
        for r in self.block_resolutions:
            block = getattr(self, f"b{r}")
            block_ws = ws.narrow(1, index, block.num_conv + block.num_torgb)
            index += block.num_conv
            x, img = block(x, img, block_ws, const_offset=const_offset if r == 4 else None, **block_kwargs)
        return img


class PoseEncoder(torch.nn.Module):
    """The camera path of the generator: pose ``(N, pose_dim)`` -> an offset ``(N, C, 4, 4)`` of the constant input."""

    def __init__(self,
                 pose_dim: int,                 # Camera parameters per sample ([sin azim, cos azim, elev/90]: 3).
                 channels: int,                 # Channels of the 4x4 constant.
                 hidden: int = 128,             # Hidden features.
                 num_layers: int = 2):          # Hidden dense layers (lrelu).
        super().__init__()
        self.pose_dim, self.channels, self.num_layers = pose_dim, channels, num_layers
        features = [pose_dim] + [hidden] * num_layers
        for i in range(num_layers):
            setattr(self, f"fc{i}", FullyConnectedLayer(features[i], features[i + 1], activation="lrelu"))
        self.out = FullyConnectedLayer(hidden, channels * 16)

    def forward(self, pose: torch.Tensor) -> torch.Tensor:
        assert_shape(pose, [None, self.pose_dim])
        x = pose.float()
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)
        return self.out(x).reshape(-1, self.channels, 4, 4)


class Generator(torch.nn.Module):
    """``G(z, c[, pose]) -> image``: mapping network + synthesis network (+ the camera path when ``pose_dim > 0``)."""

    def __init__(self,
                 z_dim: int,                    # Latent z size.
                 c_dim: int,                    # Label size fed to the mapping network; 0: none.
                 w_dim: int,                    # Intermediate latent w size.
                 img_resolution: int,           # Output resolution.
                 img_channels: int,             # Output channels.
                 pose_dim: int = 0,             # Camera input size on its own path; 0: none (official form).
                 mapping_kwargs: dict | None = None,    # MappingNetwork arguments.
                 synthesis_kwargs: dict | None = None,  # SynthesisNetwork arguments.
                 pose_kwargs: dict | None = None):      # PoseEncoder arguments.
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.pose_dim = z_dim, c_dim, w_dim, pose_dim
        self.img_resolution, self.img_channels = img_resolution, img_channels
        self.synthesis = SynthesisNetwork(w_dim, img_resolution, img_channels, **(synthesis_kwargs or {}))
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(z_dim, c_dim, w_dim, self.num_ws, **(mapping_kwargs or {}))
        if pose_dim > 0:
            self.pose = PoseEncoder(pose_dim, self.synthesis.channels[4], **(pose_kwargs or {}))

    def synthesize(self, ws: torch.Tensor, pose: torch.Tensor | None = None, **synthesis_kwargs) -> torch.Tensor:
        """``ws: (N, num_ws, w_dim)`` (+ ``pose: (N, pose_dim)``) -> image ``(N, C, R, R)``."""
        offset = None
        if self.pose_dim > 0:
            if pose is None:
                raise ValueError("this generator has a camera input: pass pose (N, pose_dim)")
            offset = self.pose(pose)
        return self.synthesis(ws, const_offset=offset, **synthesis_kwargs)

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, pose: torch.Tensor | None = None,
                truncation_psi: float = 1.0, truncation_cutoff: int | None = None, **synthesis_kwargs) -> torch.Tensor:
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        return self.synthesize(ws, pose, **synthesis_kwargs)


class DiscriminatorBlock(torch.nn.Module):
    """One resolution of the residual discriminator: [fromRGB], conv, downsampling conv, 1x1 downsampling skip."""

    def __init__(self,
                 in_channels: int,              # Input channels; 0: the first block (reads the image).
                 tmp_channels: int,             # Channels of the intermediate activations.
                 out_channels: int,             # Output channels.
                 resolution: int,               # Resolution of this block's input.
                 img_channels: int,             # Image channels (6 for a pair of RGB views).
                 first_layer_idx: int = 0,      # Index of this block's first layer (for freeze_layers).
                 architecture: str = "resnet",  # Only 'resnet' (the StyleGAN2 discriminator default) is built here.
                 activation: str = "lrelu",     # Activation.
                 resample_filter=(1, 3, 3, 1),  # Low-pass filter taps.
                 conv_clamp: float | None = None,  # Clamp convolution outputs to +-X; None: no clamp.
                 use_fp16: bool = False,        # Run this block in fp16 on CUDA?
                 fp16_channels_last: bool = False,  # Accepted for checkpoint compatibility; unused.
                 freeze_layers: int = 0):       # Layers with index < this are frozen (Freeze-D).
        super().__init__()
        if architecture != "resnet":
            raise ValueError(f"discriminator architecture {architecture!r} is not supported (only 'resnet')")
        if in_channels not in (0, tmp_channels):
            raise ValueError("in_channels must be 0 or tmp_channels")
        self.in_channels, self.resolution, self.img_channels = in_channels, resolution, img_channels
        self.use_fp16 = use_fp16
        self.register_buffer("resample_filter", setup_filter(list(resample_filter)))
        layers = []
        if in_channels == 0:
            self.fromrgb = Conv2dLayer(img_channels, tmp_channels, 1, activation=activation, conv_clamp=conv_clamp)
            layers.append(self.fromrgb)
        self.conv0 = Conv2dLayer(tmp_channels, tmp_channels, 3, activation=activation, conv_clamp=conv_clamp)
        self.conv1 = Conv2dLayer(tmp_channels, out_channels, 3, activation=activation, down=2,
                                 resample_filter=resample_filter, conv_clamp=conv_clamp)
        self.skip = Conv2dLayer(tmp_channels, out_channels, 1, bias=False, down=2, resample_filter=resample_filter)
        layers += [self.conv0, self.conv1, self.skip]
        self.num_layers = len(layers)
        for i, layer in enumerate(layers):
            if first_layer_idx + i < freeze_layers:
                layer.requires_grad_(False)

    def forward(self, x: torch.Tensor | None, img: torch.Tensor | None,
                force_fp32: bool = False) -> tuple[torch.Tensor, None]:
        """``x: (N, in, R, R)`` or None; ``img: (N, C, R, R)`` (first block) -> ``(N, out, R/2, R/2)``, None."""
        half = self.use_fp16 and not force_fp32 and (x if x is not None else img).device.type == "cuda"
        dtype = torch.float16 if half else torch.float32
        if self.in_channels == 0:
            assert_shape(img, [None, self.img_channels, self.resolution, self.resolution])
            x = self.fromrgb(img.to(dtype))
        else:
            assert_shape(x, [None, self.in_channels, self.resolution, self.resolution])
            x = x.to(dtype)
        y = self.skip(x, gain=math.sqrt(0.5))
        x = self.conv1(self.conv0(x), gain=math.sqrt(0.5))
        return y + x, None


class MinibatchStdLayer(torch.nn.Module):
    """Append the mean standard deviation over groups of samples as extra feature maps (a diversity cue)."""

    def __init__(self,
                 group_size: int | None,        # Samples per group; None: the whole minibatch.
                 num_channels: int = 1):        # Feature groups, one extra channel each.
        super().__init__()
        self.group_size, self.num_channels = group_size, num_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, C, H, W)`` -> ``(N, C + num_channels, H, W)``. Sample ``n`` is in group ``n % (N / G)``."""
        n, c, h, w = x.shape
        g = min(self.group_size, n) if self.group_size is not None else n
        if n % g:
            raise ValueError(f"minibatch {n} is not a multiple of the mbstd group size {g}")
        f = self.num_channels
        y = x.reshape(g, -1, f, c // f, h, w)
        y = (y - y.mean(dim=0)).square().mean(dim=0)
        y = (y + 1e-8).sqrt().mean(dim=[2, 3, 4])  # (N/G, F)
        y = y.reshape(-1, f, 1, 1).repeat(g, 1, h, w)
        return torch.cat([x, y], dim=1)


class DiscriminatorEpilogue(torch.nn.Module):
    """4x4 head: minibatch std, conv, dense, output; a label enters by projection (output . cmap)."""

    def __init__(self,
                 in_channels: int,              # Input channels.
                 cmap_dim: int,                 # Size of the mapped label; 0: unconditional (one logit).
                 resolution: int,               # Input resolution (4).
                 img_channels: int,             # Image channels (unused by the 'resnet' head).
                 architecture: str = "resnet",  # Only 'resnet'.
                 mbstd_group_size: int | None = 4,  # Minibatch-std group size; None: whole minibatch.
                 mbstd_num_channels: int = 1,   # Minibatch-std channels; 0: no minibatch std.
                 activation: str = "lrelu",     # Activation.
                 conv_clamp: float | None = None):  # Clamp convolution outputs to +-X; None: no clamp.
        super().__init__()
        self.in_channels, self.cmap_dim, self.resolution = in_channels, cmap_dim, resolution
        self.mbstd = MinibatchStdLayer(mbstd_group_size, mbstd_num_channels) if mbstd_num_channels > 0 else None
        self.conv = Conv2dLayer(in_channels + mbstd_num_channels, in_channels, 3, activation=activation,
                                conv_clamp=conv_clamp)
        self.fc = FullyConnectedLayer(in_channels * resolution**2, in_channels, activation=activation)
        self.out = FullyConnectedLayer(in_channels, 1 if cmap_dim == 0 else cmap_dim)

    def forward(self, x: torch.Tensor, cmap: torch.Tensor | None) -> torch.Tensor:
        """``x: (N, C, 4, 4)``, ``cmap: (N, cmap_dim)`` or None -> logits ``(N, 1)``."""
        assert_shape(x, [None, self.in_channels, self.resolution, self.resolution])
        x = x.float()
        if self.mbstd is not None:
            x = self.mbstd(x)
        x = self.out(self.fc(self.conv(x).flatten(1)))
        if self.cmap_dim > 0:
            assert_shape(cmap, [None, self.cmap_dim])
            x = (x * cmap).sum(dim=1, keepdim=True) * (1 / np.sqrt(self.cmap_dim))
        return x


class Discriminator(torch.nn.Module):
    """``D(img, c) -> logit``: residual blocks down to 4x4 and the epilogue; a label ``c`` enters by projection.

    For a pair discriminator use ``img_channels = 6`` (two RGB views stacked) and ``c`` = both cameras.
    """

    def __init__(self,
                 c_dim: int,                    # Label size; 0: unconditional.
                 img_resolution: int,           # Input resolution.
                 img_channels: int,             # Input channels.
                 architecture: str = "resnet",  # Only 'resnet'.
                 channel_base: int = 32768,     # Channels at resolution r: min(channel_base // r, channel_max).
                 channel_max: int = 512,        # Most channels in any layer.
                 num_fp16_res: int = 0,         # fp16 (on CUDA) for the N highest resolutions.
                 conv_clamp: float | None = None,  # Clamp convolution outputs to +-X; None: no clamp.
                 cmap_dim: int | None = None,   # Size of the mapped label; None: the 4x4 channels.
                 block_kwargs: dict | None = None,     # DiscriminatorBlock arguments.
                 mapping_kwargs: dict | None = None,   # MappingNetwork arguments (label mapping).
                 epilogue_kwargs: dict | None = None):  # DiscriminatorEpilogue arguments.
        super().__init__()
        self.c_dim, self.img_resolution, self.img_channels = c_dim, img_resolution, img_channels
        log2 = int(math.log2(img_resolution))
        self.block_resolutions = [2**i for i in range(log2, 2, -1)]
        channels = {r: min(channel_base // r, channel_max) for r in self.block_resolutions + [4]}
        fp16_resolution = max(2 ** (log2 + 1 - num_fp16_res), 8)
        cmap_dim = 0 if c_dim == 0 else (channels[4] if cmap_dim is None else cmap_dim)
        common = dict(img_channels=img_channels, architecture=architecture, conv_clamp=conv_clamp)
        layer_index = 0
        for r in self.block_resolutions:
            block = DiscriminatorBlock(channels[r] if r < img_resolution else 0, channels[r], channels[r // 2], r,
                                       first_layer_idx=layer_index, use_fp16=(r >= fp16_resolution),
                                       **(block_kwargs or {}), **common)
            setattr(self, f"b{r}", block)
            layer_index += block.num_layers
        if c_dim > 0:
            self.mapping = MappingNetwork(0, c_dim, cmap_dim, num_ws=None, w_avg_beta=None, **(mapping_kwargs or {}))
        self.b4 = DiscriminatorEpilogue(channels[4], cmap_dim, 4, **(epilogue_kwargs or {}), **common)

    def forward(self, img: torch.Tensor, c: torch.Tensor | None = None, **block_kwargs) -> torch.Tensor:
        """``img: (N, img_channels, R, R)``, ``c: (N, c_dim)`` -> logits ``(N, 1)``."""
        assert_shape(img, [None, self.img_channels, self.img_resolution, self.img_resolution])
        x = None
        for r in self.block_resolutions:
            x, _ = getattr(self, f"b{r}")(x, img, **block_kwargs)
        cmap = self.mapping(None, c) if self.c_dim > 0 else None
        return self.b4(x, cmap)
