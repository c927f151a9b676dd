"""File formats users supply (OBJ meshes, pickles), file digests, and writing files safely into a folder."""
