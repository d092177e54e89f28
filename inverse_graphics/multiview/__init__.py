"""One image in, many calibrated views of the same car out (stage ``multiview``).

- ``distance``: what "looks the same" means during the search: a multi-scale pixel loss and feature distances of
  networks the project owns (the car critic, the GAN's discriminator), or LPIPS-VGG16 from local weight files.
- ``projector``: image -> latent (W or W+) + per-layer noise + camera, after the official StyleGAN2 projector, with
  the camera as a jointly optimised input; optional pivotal tuning of the generator around the found latent.
- ``views``: latent -> the views of a rig: the camera input of a pose-conditioned generator, or GANverse3D-style
  viewpoint anchors (coarse ws from an anchor, the rest from the car) for an unconditional one.
- ``io``: the inputs (object folders with ``input.png``, image files); outputs go through ``data/object_views``.
- ``scores``: PSNR, SSIM and mask IoU against the ground truth.
- ``background``: car masks of synth-style views by background subtraction, while no segmenter exists.

Images are ``(N, 3, R, R)`` in [-1, 1] (the generator's range) unless a docstring says otherwise.
"""
