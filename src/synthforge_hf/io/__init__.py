"""Readers for the file formats users supply (OBJ meshes, pickles)."""
