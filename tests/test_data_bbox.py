"""Boxes: VOC/ImageNet XML reading, scaling, boxes <-> masks, real files.

Boxes inside hrcam are pixel-edge boxes (hrcam.arrays); the expected values here are written in the files'
inclusive pixel indices and compared through the two conversions (E: inclusive -> edges, I: edges ->
inclusive).
"""

from pathlib import Path

import numpy as np
import pytest

from hrcam.arrays import boxes_to_inclusive as I  # noqa: E741
from hrcam.arrays import inclusive_to_boxes as E
from hrcam.data.bbox import (
    boxes_to_masks,
    clip_boxes,
    masks_to_boxes,
    read_voc_xml,
    scale_boxes,
    write_voc_xml,
)
from hrcam.data.folder import FolderDataset

VOC = """<annotation><filename>x.JPEG</filename>
<size><width>{w}</width><height>{h}</height><depth>3</depth></size>
<object><name>n001</name><bndbox><xmin>3</xmin><ymin>5</ymin><xmax>10</xmax><ymax>20</ymax></bndbox></object>
<object><name>n002</name><bndbox><xmin>0</xmin><ymin>0</ymin><xmax>63</xmax><ymax>31</ymax></bndbox></object>
</annotation>"""


def test_read_voc_xml_known_answer(tmp_path):
    p = tmp_path / "a.xml"
    p.write_text(VOC.format(w=64, h=48))
    ann = read_voc_xml(p)
    assert (ann["width"], ann["height"], ann["filename"]) == (64, 48, "x.JPEG")
    assert ann["names"] == ["n001", "n002"]
    assert ann["boxes"].dtype == np.float32
    np.testing.assert_array_equal(I(ann["boxes"]), [[3, 5, 10, 20], [0, 0, 63, 31]])
    np.testing.assert_array_equal(I(read_voc_xml(p, one_based=True)["boxes"])[0], [2, 4, 9, 19])


def test_read_voc_xml_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.xml"):
        read_voc_xml(tmp_path / "nope.xml")
    bad = tmp_path / "bad.xml"
    bad.write_text("<annotation><object>")
    with pytest.raises(ValueError, match="bad.xml"):
        read_voc_xml(bad)
    inv = tmp_path / "inv.xml"
    inv.write_text(VOC.format(w=64, h=64).replace("<xmax>10</xmax>", "<xmax>1</xmax>"))
    with pytest.raises(ValueError, match="inverted"):
        read_voc_xml(inv)
    empty = tmp_path / "empty.xml"
    empty.write_text("<annotation><size><width>8</width><height>8</height></size></annotation>")
    assert read_voc_xml(empty)["boxes"].shape == (0, 4)


def test_write_then_read_roundtrip(tmp_path):
    boxes = np.array([[1, 2, 30, 40], [5, 5, 5, 5]], np.float32)
    write_voc_xml(tmp_path / "b.xml", E(boxes), ["cat", "dog & co"], (48, 64), filename="b.png")
    ann = read_voc_xml(tmp_path / "b.xml")
    np.testing.assert_array_equal(I(ann["boxes"]), boxes)
    assert ann["names"] == ["cat", "dog & co"] and (ann["height"], ann["width"]) == (48, 64)


def test_scale_boxes_uses_pixel_edges():
    full = np.array([[0, 0, 63, 63]], np.float32)
    np.testing.assert_allclose(I(scale_boxes(E(full), 64, 224)), [[0, 0, 223, 223]])
    np.testing.assert_allclose(I(scale_boxes(E([10, 20, 29, 39]), 64, 128)), [[20, 40, 59, 79]])
    # (height, width) order: only the x coordinates scale when only the width changes.
    np.testing.assert_allclose(I(scale_boxes(E([10, 20, 29, 39]), (64, 64), (64, 128))), [[20, 20, 59, 39]])
    rng = np.random.default_rng(0)
    b = np.sort(rng.uniform(0, 63, (20, 2, 2)), axis=1).transpose(0, 2, 1).reshape(20, 4)
    np.testing.assert_allclose(scale_boxes(scale_boxes(b, 64, 97), 97, 64), b, atol=1e-4)


def test_boxes_to_masks_inclusive_pixel_count():
    m = boxes_to_masks([E([[2, 3, 5, 4]])], (8, 10))
    assert m.shape == (1, 8, 10) and m.dtype == bool
    assert m.sum() == (5 - 2 + 1) * (4 - 3 + 1)
    assert m[0, 3, 2] and m[0, 4, 5] and not m[0, 5, 5] and not m[0, 3, 6]
    # Union of overlapping boxes, an image without boxes, and an (N, 4) array (one box per image).
    m = boxes_to_masks([E([[0, 0, 3, 3], [2, 2, 5, 5]]), np.zeros((0, 4))], 8)
    assert m[0].sum() == 16 + 16 - 4 and not m[1].any()
    m = boxes_to_masks(E([[0, 0, 0, 0], [7, 7, 20, 20]]), 8)
    assert m[0].sum() == 1 and m[1].sum() == 1 and m[1, 7, 7]


def test_masks_to_boxes_inverts_boxes_to_masks():
    rng = np.random.default_rng(1)
    lo = rng.integers(0, 30, (50, 2))
    hi = lo + rng.integers(0, 20, (50, 2))
    boxes = np.concatenate([lo, hi], axis=1).astype(np.float32)
    back = I(masks_to_boxes(boxes_to_masks(E(boxes), (50, 50))))
    np.testing.assert_array_equal(back, boxes)
    assert np.isnan(masks_to_boxes(np.zeros((1, 4, 4), bool))).all()


def test_clip_boxes():
    np.testing.assert_array_equal(I(clip_boxes(E([[-3, 2, 70, 40]]), (32, 64))), [[0, 2, 63, 31]])


@pytest.mark.needs_data
def test_real_tiny_imagenet_boxes(tiny_imagenet_root: Path):
    ds = FolderDataset(tiny_imagenet_root)
    files = ds.files("val")
    boxes = ds.boxes("val")
    assert len(boxes) == len(files) == 500
    assert all(b.shape == (1, 4) for b in boxes)
    allb = I(np.concatenate(boxes))
    assert allb.min() >= 0 and allb.max() <= 63
    assert np.all(allb[:, 2] >= allb[:, 0]) and np.all(allb[:, 3] >= allb[:, 1])
    # Each flat val XML names the class of the folder its image sits in.
    for f in files[::25]:
        ann = read_voc_xml(tiny_imagenet_root / "bbox" / "val" / (Path(f).stem + ".xml"))
        assert ann["names"] == [Path(f).parent.name] and (ann["width"], ann["height"]) == (64, 64)
    # Objects cover 14% to 45% of the image on average (README): a loose check of the convention.
    cover = boxes_to_masks(boxes, 64).mean(axis=(1, 2))
    assert 0.1 < cover.mean() < 0.6
    # Rescaled boxes (train: one folder per class) match scale_boxes of the originals.
    small = ds.boxes("train")[:5]
    big = ds.boxes("train", image_size=128)[:5]
    for s, b in zip(small, big, strict=True):
        np.testing.assert_allclose(b, scale_boxes(s, 64, 128))
