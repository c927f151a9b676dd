"""The Next3D backend: the official checkpoint read safely and its generator in native PyTorch."""
