"""Face-analysis models (transformers layout): the synthetic backbone (SB) and label fine-tuning (LF)."""
