"""Data: parametric car generator, GAN dataset zip, image-folder import, and the object folder (``object_views``)."""
