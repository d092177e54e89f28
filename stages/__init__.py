"""DVC stage scripts: ``python -m stages.<name>`` from the repository root."""
