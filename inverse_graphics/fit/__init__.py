"""Fits that mold an ico-sphere into a target: silhouettes (``silhouette_fit``) or a 3D mesh (``mesh_to_mesh``)."""
