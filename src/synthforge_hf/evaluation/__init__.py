"""Benchmark readers (300W, LaPa, CelebAMask-HQ), metrics (NME, CED/AUC, per-class F1), the benchmark
registry, protocols (the face crops models see) and evaluation loop (`benchmarks`), and face-box
matching (`detection`)."""
