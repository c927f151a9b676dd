"""Benchmark readers (300W, LaPa, CelebAMask-HQ), metrics (NME, CED/AUC, per-class F1), the benchmark
registry and evaluation loop (`benchmarks`), and face-box matching (`detection`)."""
