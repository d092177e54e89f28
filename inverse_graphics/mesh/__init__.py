"""Meshes: I/O (trimesh), normalisation, ico-sphere, losses, ground-truth metrics."""
