"""Training with Accelerate: the synthetic backbone (SB) and label fine-tuning (LF)."""
