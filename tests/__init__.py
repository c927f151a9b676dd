"""Test suite (a package, so test helpers import as `from .meshes import ...`)."""
