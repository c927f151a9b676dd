"""Datasets of generated samples: typed features, sharded resumable generation, streaming."""
