"""inverse_graphics: a staged, reproducible single-image-to-3D pipeline (library part).

The library holds the math and the models; the DVC stage scripts in ``stages/`` read
``params.yaml``, call into it and write outputs. One concept per module:

- ``params``      schema and validation of params.yaml
- ``errors``      the one exception type a user sees, ``UserError``
- ``io_utils``    atomic writes (temp path, then rename), JSON helpers
- ``device``      cuda-if-available device choice and seeding
- ``mesh``        mesh I/O, normalisation, ico-sphere, losses, ground-truth metrics
- ``render``      cameras, silhouette renderers (fast CPU one and PyTorch3D), shaded renderer
- ``data``        parametric car generator, GAN dataset zip, image-folder import
- ``fit``         optimisation loops (silhouette fit, mesh-to-mesh fit)
"""

__version__ = "0.1.0"
