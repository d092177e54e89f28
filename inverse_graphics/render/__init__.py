"""Rendering: cameras, silhouette renderers (``fast`` CPU/GPU and ``pytorch3d``), shaded renderer."""
