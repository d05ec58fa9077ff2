"""The bundled ICT head: its builder's rules and what the committed asset holds."""

import numpy as np
import pytest

from a2f_core.arkit import ARKIT_NAMES
from training.assets import build_ict
from training.assets.ict_head import ASSET, load_head

FLOAT16_REL = 2 ** -11  # the asset stores deltas as float16: half an ulp, relative


@pytest.fixture(scope="module")
def head():
    return load_head()


def _posed(head, **weights):
    w = np.zeros((1, len(ARKIT_NAMES)), np.float32)
    for name, value in weights.items():
        w[0, ARKIT_NAMES.index(name)] = value
    return head.pose(w, ARKIT_NAMES)[0]


def test_key_names_follow_blender_and_arkit():
    assert build_ict.key_name("mouthSmile_L") == "mouthSmileLeft"
    assert build_ict.key_name("eyeBlink_R") == "eyeBlinkRight"
    assert build_ict.key_name("jawOpen") == "jawOpen"


def test_to_blender_is_a_rotation_to_metres():
    axes = build_ict.to_blender(np.eye(3)) / 0.01
    assert np.linalg.det(axes) == pytest.approx(1.0)
    assert build_ict.to_blender(np.array([0.0, 0.0, 1.0]))[1] < 0  # the face looks along -y
    assert build_ict.to_blender(np.array([0.0, 1.0, 0.0]))[2] > 0  # up is +z


def test_read_obj_reads_positions_polygons_and_materials(tmp_path):
    path = tmp_path / "quad.obj"
    path.write_text("v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nvt 0 0\nusemtl M_Face\n"
                    "f 1/1 2/1 3/1 4/1\nf 1/1 2/1 3/1\n")
    positions, polygons, materials = build_ict.read_obj(path)
    assert positions.shape == (4, 3) and polygons == [[0, 1, 2, 3], [0, 1, 2]]
    assert materials == ["M_Face", "M_Face"]


def test_builder_names_the_missing_folder(tmp_path):
    with pytest.raises(SystemExit, match="no generic_neutral_mesh.obj in"):
        build_ict.build(tmp_path)


def test_asset_is_small_and_holds_arkit_keys(head):
    assert ASSET.stat().st_size < 4 * 2 ** 20
    assert set(ARKIT_NAMES) - set(head.names) == {"tongueOut"}  # the scan has none
    assert set(head.names) - set(ARKIT_NAMES) == {"cheekRaiserLeft", "cheekRaiserRight",
                                                  "PupilDilateLeft", "PupilDilateRight"}
    assert list(head.objects) == ["skin", "gums_tongue", "teeth", "eye_left", "eye_right",
                                  "eyelashes"]
    assert len(head.skin().vertices) == 14062  # face, head and neck, mouth and eye sockets
    for name in head.objects:  # every polygon stays inside its object
        vertices, _ = head.objects[name]
        corners = np.concatenate(head.polygons(name))
        assert corners.min() >= 0 and corners.max() < vertices.stop - vertices.start


def test_left_keys_move_the_subjects_left_side(head):
    """The subject's left is +x when the face looks along -y with z up."""
    for name in ("mouthSmile", "eyeBlink", "browDown"):
        left, right = (np.abs(head.deltas[head.names.index(name + s)]).sum(1) for s in
                       ("Left", "Right"))
        assert np.average(head.vertices[:, 0], weights=left) > 0.01
        assert np.average(head.vertices[:, 0], weights=right) < -0.01


def test_lower_teeth_and_tongue_follow_the_jaw(head):
    """jawOpen carries the lower teeth, gums and tongue down with the chin; the upper teeth stay."""
    moved = np.linalg.norm(_posed(head, jawOpen=1.0) - head.vertices, axis=1)
    chin = moved[head.lower_lip_vertices].mean()
    teeth = head.objects["teeth"][0]
    lower, upper = moved[teeth] > 0.4 * chin, moved[teeth] < 0.01 * chin  # rotation: molars less
    assert chin > 0.03
    assert np.all(lower | upper) and 0.4 < lower.mean() < 0.6  # two rows: one moves, one stays
    assert head.vertices[teeth, 2][lower].mean() < head.vertices[teeth, 2][upper].mean()
    assert np.median(moved[head.objects["gums_tongue"][0]]) > 0.3 * chin


def test_lips_meet_at_rest_and_with_mouth_close(head):
    def gap(points):
        return np.linalg.norm(points[head.upper_lip_vertices].mean(0)
                              - points[head.lower_lip_vertices].mean(0))
    rest = gap(head.vertices)
    opened = gap(_posed(head, jawOpen=1.0))
    closed = gap(_posed(head, jawOpen=1.0, mouthClose=1.0))
    assert rest < 0.002 and opened > 0.03 and closed < 0.3 * opened


def test_pose_adds_float16_deltas_linearly(head):
    half, full = _posed(head, jawOpen=0.5), _posed(head, jawOpen=1.0)
    # one float32 multiply-add per vertex: rounding at the positions' scale (0.2 m)
    np.testing.assert_allclose(2 * (half - head.vertices), full - head.vertices, atol=1e-6)
    delta = head.deltas[head.names.index("jawOpen")]
    assert np.array_equal(delta.astype(np.float16).astype(np.float32), delta)
    assert FLOAT16_REL * np.abs(delta).max() < 3e-5  # float16 keeps the 3.5 cm jaw to 0.02 mm
    skin = head.skin()
    posed = skin.pose(np.ones((1, 52), np.float32), ARKIT_NAMES)
    everything = head.pose(np.ones((1, 52), np.float32), ARKIT_NAMES)
    assert posed.shape == (1, len(skin.vertices), 3)
    assert np.array_equal(posed[0], everything[0, :len(skin.vertices)])  # the same sums
    assert len(skin.polygons("skin")) == len(head.polygons("skin"))
