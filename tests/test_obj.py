import numpy as np
import pytest

from synthforge_hf.errors import MalformedAssetError, MissingAssetError
from synthforge_hf.io.obj import read_obj


def test_triangles_quads_uvs_and_negative_indices(tmp_path):
    path = tmp_path / "m.obj"
    path.write_text(
        "# comment\nv 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nvt 0 0\nvt 1 0\nvt 1 1\nvt 0 1\n"
        "f 1/1 2/2 3/3 4/4\nf -4/-4 -2/-2 -1/-1\n"
    )
    mesh = read_obj(path)
    assert mesh.vertices.shape == (4, 3) and mesh.uvs.shape == (4, 2)
    assert mesh.faces.tolist() == [[0, 1, 2], [0, 2, 3], [0, 2, 3]]
    assert mesh.uv_faces.tolist() == mesh.faces.tolist()


def test_real_flame_template(flame_template):
    assert flame_template.vertices.shape == (5023, 3)
    assert flame_template.faces.shape == (9976, 3)
    assert flame_template.uvs.shape == (5118, 2) and flame_template.uv_faces.shape == (9976, 3)
    assert np.isclose(flame_template.vertices[:, 0].mean(), 0.0, atol=2e-3)  # symmetric about x = 0


def test_errors(tmp_path):
    with pytest.raises(MissingAssetError, match="head mesh not found.*download it"):
        read_obj(tmp_path / "none.obj", what="head mesh", where="download it")
    bad = tmp_path / "bad.obj"
    bad.write_text("v 0 0 zero\n")
    with pytest.raises(MalformedAssetError, match="line 1"):
        read_obj(bad)
    out_of_range = tmp_path / "range.obj"
    out_of_range.write_text("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 9\n")
    with pytest.raises(MalformedAssetError, match="out of range"):
        read_obj(out_of_range)
    empty = tmp_path / "empty.obj"
    empty.write_bytes(b"\x00\x01binary junk")
    with pytest.raises(MalformedAssetError, match="no vertices"):
        read_obj(empty)
