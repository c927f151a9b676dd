"""Photos as users bring them: phone pictures stored sideways with an EXIF orientation, photos too large
to decode, and the memory a large photo with several faces costs to analyse."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from synthforge_hf.io.images import open_photo
from synthforge_hf.models.synthforge import SynthForgeImageProcessor

from .photo_files import save_with_orientation, write_blank_png

REAL_FACES = Path(__file__).resolve().parents[2] / "shared" / "real-faces"
GROUP_PHOTO = REAL_FACES / "2008_004176.jpg"  # seven labelled faces


def _picture() -> np.ndarray:
    """An upright test picture whose every pixel differs from its mirror and turned copies."""
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (30, 50, 3), dtype=np.uint8)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_a_photo_reads_upright_whatever_its_exif_orientation(tmp_path, orientation):
    upright = _picture()
    path = save_with_orientation(upright, orientation, tmp_path / "photo.png")
    if orientation != 1:
        assert not np.array_equal(np.asarray(Image.open(path)), upright)  # the file itself is turned
    assert np.array_equal(open_photo(path), upright)


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_the_processor_reads_pil_photos_upright(tmp_path, orientation):
    upright = _picture()
    processor = SynthForgeImageProcessor(size=32)
    expected = processor(upright, return_tensors="pt")
    image = Image.open(save_with_orientation(upright, orientation, tmp_path / "photo.png"))
    given = processor(image, return_tensors="pt")
    assert given["original_sizes"].tolist() == [[30, 50]]
    np.testing.assert_array_equal(given["pixel_values"].numpy(), expected["pixel_values"].numpy())


@pytest.mark.skipif(not GROUP_PHOTO.exists(), reason="../shared/real-faces is not here")
def test_faces_of_a_sideways_phone_photo_are_found_where_they_are(tmp_path):
    pytest.importorskip("dlib", reason="face detection needs dlib-bin (the `detect` extra)")
    upright = np.asarray(Image.open(GROUP_PHOTO).convert("RGB"))
    processor = SynthForgeImageProcessor(size=64)
    ((boxes, _),) = processor.detect_faces(upright)
    assert len(boxes) >= 5
    stored = save_with_orientation(upright, 6, tmp_path / "phone.jpg", quality=95)
    assert not processor.detect_faces(np.asarray(Image.open(stored).convert("RGB")))[0][0].size  # sideways
    ((found, _),) = processor.detect_faces(Image.open(stored))
    assert len(found) == len(boxes)
    nearest = np.abs(found[:, None] - boxes[None]).max(axis=-1).min(axis=1)
    assert nearest.max() < 6.0  # pixels: the same faces, at the same places of the upright photo


@pytest.mark.slow
def test_a_photo_too_large_is_refused_from_its_header(tmp_path):
    """A 13000 x 13000 PNG of a few hundred kilobytes (169 MB decoded) is refused before decoding:
    the process's peak memory does not grow by the decoded size."""
    path = write_blank_png(tmp_path / "huge.png", 13000, 13000)
    assert path.stat().st_size < 1_000_000
    script = textwrap.dedent(
        f"""
        import resource
        from synthforge_hf.io.images import open_photo
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
            open_photo({str(path)!r})
        except ValueError as error:
            print(error)
        grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
        print("grown_kb", grown)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    message, grown = result.stdout.strip().splitlines()
    assert "huge.png: 13000x13000 pixels, more than the 64,000,000" in message
    assert int(grown.split()[1]) < 50_000  # kilobytes, against the 169,000 decoding would take


@pytest.mark.slow
def test_analysing_a_large_photo_costs_memory_by_its_faces(tmp_path):
    """A 12-megapixel photo with seven faces: what the analysis adds to the process's peak memory stays
    far below one photo-sized float map per face (about 1 GB each for 20 classes), the cost of mapping
    each face's logits back over the whole photo."""
    script = textwrap.dedent(
        """
        import resource
        import numpy as np
        import torch
        from synthforge_hf.analysis import PhotoAnalyser
        from synthforge_hf.models.synthforge import (
            SynthForgeConfig, SynthForgeForFaceAnalysis, SynthForgeImageProcessor,
        )
        torch.manual_seed(0)
        model = SynthForgeForFaceAnalysis(SynthForgeConfig.tiny()).eval()
        analyser = PhotoAnalyser(model, SynthForgeImageProcessor(size=64))
        photo = np.random.default_rng(0).integers(0, 256, (3000, 4000, 3), dtype=np.uint8)
        boxes = [(300 + 500 * k, 1200, 700 + 500 * k, 1650) for k in range(7)]
        analyser(photo[:200, :200], boxes=[(50, 50, 120, 130)])  # warm up the kernels' workspaces
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        result = analyser(photo, boxes=boxes)
        grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
        assert len(result.faces) == 7 and result.parsing.shape == (3000, 4000)
        print(grown)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    grown_mb = int(result.stdout.split()[-1]) / 1024
    assert grown_mb < 400, grown_mb
