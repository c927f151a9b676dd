"""Benchmark readers (300W, LaPa, CelebAMask-HQ) and metrics (NME, CED/AUC, per-class F1)."""
