"""The Next3D backend: the official checkpoint read safely, and (next) the native generator."""
