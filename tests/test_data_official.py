"""The official dataset layouts (PASCAL VOC, MS COCO, CUB-200-2011) and the one resolver of ``--data`` names,
on tiny fixtures written in the exact official formats (tests/official_fixtures.py)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from official_fixtures import VOC_CLASSES, write_coco, write_cub, write_voc

from hrcam.data.coco import COCODataset
from hrcam.data.cub import CUBDataset
from hrcam.data.resolve import data_overrides, open_dataset, parse_data_spec
from hrcam.data.voc import VOCDataset


@pytest.fixture(scope="module")
def voc(tmp_path_factory):
    return write_voc(tmp_path_factory.mktemp("voc"))


@pytest.fixture(scope="module")
def coco(tmp_path_factory):
    pytest.importorskip("pycocotools")
    return write_coco(tmp_path_factory.mktemp("coco"))


@pytest.fixture(scope="module")
def cub(tmp_path_factory):
    root = tmp_path_factory.mktemp("cub")
    return root, write_cub(root)


# -- the resolver ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "spec, expected",
    [
        ("synthetic", ("synthetic", None)),
        ("Synthetic", ("synthetic", None)),
        ("/data/imagenet", ("folder", "/data/imagenet")),
        ("folder:/data/x", ("folder", "/data/x")),
        ("voc2007:/data/VOC", ("voc2007", "/data/VOC")),
        ("VOC2012:rel/path", ("voc2012", "rel/path")),
        ("coco2014:/c", ("coco2014", "/c")),
        ("coco2017:/c", ("coco2017", "/c")),
        ("cub:/b", ("cub", "/b")),
        ("cub-200-2011:/b", ("cub", "/b")),
        ("C:/not/a/source", ("folder", "C:/not/a/source")),
    ],
)
def test_parse_data_spec(spec, expected):
    assert parse_data_spec(spec) == expected


def test_data_spec_errors_and_overrides():
    with pytest.raises(ValueError, match="voc2007:ROOT"):
        parse_data_spec("voc2007")
    with pytest.raises(ValueError, match=r"expected coco2014:ROOT"):
        parse_data_spec("coco2014:")
    with pytest.raises(ValueError, match="empty"):
        parse_data_spec(" ")
    assert data_overrides("voc2007:/a b") == ["data.source=voc2007", 'data.root="/a b"']
    assert data_overrides("synthetic") == ["data.source=synthetic"]
    with pytest.raises(ValueError, match="generated"):
        open_dataset("synthetic")
    with pytest.raises(FileNotFoundError, match="JPEGImages"):
        open_dataset("voc2007:/nonexistent")


# -- PASCAL VOC --------------------------------------------------------------------------------------
def test_voc_finds_its_folder_and_splits(voc):
    base = voc["root"].parents[1]
    for root in (base, base / "VOCdevkit", voc["root"]):
        assert VOCDataset(root).root == voc["root"]
    ds = open_dataset(f"voc2007:{base}")
    assert isinstance(ds, VOCDataset) and ds.class_names == tuple(VOC_CLASSES) and ds.num_classes == 20
    assert ds.ids("test") == ["000005", "000007"]  # ImageSets/Segmentation/test.txt
    assert ds.ids("train") == ["000001", "000002", "000003"]
    assert ds.ids("val") == ["000004", "000006"]
    assert ds.paths(["000001"]) == [str(voc["root"] / "JPEGImages" / "000001.jpg")]


def test_voc_targets_include_difficult_objects(voc):
    ds = VOCDataset(voc["root"])
    y = ds.targets(["000002", "000005", "000007"])
    assert y.dtype == np.int32 and y.shape == (3, 20)
    assert sorted(np.flatnonzero(y[0])) == [VOC_CLASSES.index("bottle"), VOC_CLASSES.index("person")]
    assert sorted(np.flatnonzero(y[1])) == [VOC_CLASSES.index("dog"), VOC_CLASSES.index("person")]
    assert list(np.flatnonzero(y[2])) == [VOC_CLASSES.index("cat")]  # two cats: one class
    assert list(ds.annotation("000002")["difficult"]) == [False, True]


def test_voc_boxes_are_pixel_edges(voc):
    ds = VOCDataset(voc["root"])
    ((boxes, classes),) = ds.boxes_of(["000005"])
    np.testing.assert_array_equal(boxes, [[2, 2, 18, 28], [19, 4, 38, 29]])  # 1-based inclusive -> edges
    assert list(classes) == [VOC_CLASSES.index("dog"), VOC_CLASSES.index("person")]
    ((scaled, _),) = ds.boxes_of(["000005"], image_size=(60, 80))
    np.testing.assert_allclose(scaled, boxes * 2)


def test_voc_masks_void_and_palette(voc):
    ds = VOCDataset(voc["root"])
    idx = voc["masks"]["000005"]
    assert ds.index_mask("000005").tolist() == idx.tolist()  # palette indices, not colours
    h, w = voc["size"]
    m = ds.class_masks(["000005"], (h, w))[0]
    dog, person = VOC_CLASSES.index("dog"), VOC_CLASSES.index("person")
    np.testing.assert_array_equal(m[dog], idx == dog + 1)
    np.testing.assert_array_equal(m[person], idx == person + 1)
    assert m.sum() == ((idx > 0) & (idx < 255)).sum()  # void belongs to no class
    assert (idx == 255).any()
    mv = ds.class_masks(["000005"], (h, w), void_as_foreground=True)[0]
    np.testing.assert_array_equal(mv[dog], (idx == dog + 1) | (idx == 255))  # the original's "> 0" rule
    np.testing.assert_array_equal(mv.any(0), idx > 0)
    small = ds.class_masks(["000005", "000007"], (15, 20))
    assert small.shape == (2, 20, 15, 20) and small.dtype == bool
    np.testing.assert_array_equal(small[0, dog], (idx == dog + 1)[1::2, 1::2])  # nearest neighbour
    assert list(ds.has_masks(["000001", "000002", "000005"])) == [True, False, True]


def test_voc2012_style_without_a_test_list(tmp_path):
    info = write_voc(tmp_path, "2012")
    (info["root"] / "ImageSets" / "Segmentation" / "test.txt").unlink()
    ds = open_dataset(f"voc2012:{tmp_path}")
    assert ds.ids("test") == ["000006"]  # Segmentation/val.txt
    assert ds.ids("val") == ["000004"]  # Main/val without the test images: never scored on val
    with pytest.raises(FileNotFoundError, match="VOC 2007"):
        VOCDataset(tmp_path, "2007")


def test_voc_is_multi_label_for_single_label_commands(voc):
    ds = VOCDataset(voc["root"])
    with pytest.raises(ValueError, match="multi-label"):
        ds.files("train")


# -- MS COCO -----------------------------------------------------------------------------------------
def test_coco_categories_targets_and_splits(coco):
    ds = open_dataset(f"coco2014:{coco['root']}")
    assert isinstance(ds, COCODataset) and ds.class_names == ("person", "car", "dog")  # sorted by id
    test = ds.ids("test")
    assert [i for _, i in test] == [42, 43, 44, 45]
    y = ds.targets(test)
    assert y.tolist() == [[1, 1, 0], [0, 0, 0], [0, 0, 1], [1, 1, 0]]  # crowd person counts; 43 has none
    train, val = ds.ids("train"), ds.ids("val")
    assert len(val) == 1 and not set(train) & set(val) and len(train) + len(val) == 10
    assert ds.train_val_ids(0.1, 0) == ds.train_val_ids(0.1, 0)  # seeded
    assert ds.paths(test[:1]) == [str(coco["root"] / "val2014" / "COCO_val2014_000000000042.jpg")]


def test_coco_masks_equal_pycocotools(coco):
    from pycocotools.coco import COCO

    ds = COCODataset(coco["root"])
    api = COCO(str(coco["root"] / "annotations" / "instances_val2014.json"))
    cat_index = {c["id"]: n for n, c in enumerate(sorted(coco["categories"], key=lambda c: c["id"]))}
    h, w = coco["size"]
    for key in ds.ids("test"):
        expected = np.zeros((3, h, w), bool)
        for ann in api.loadAnns(api.getAnnIds(imgIds=key[1])):
            expected[cat_index[ann["category_id"]]] |= api.annToMask(ann) > 0
        got = ds.class_masks([key], (h, w))[0]
        np.testing.assert_array_equal(got, expected)
    crowd = [a for a in api.loadAnns(api.getAnnIds(imgIds=42)) if a["iscrowd"]]
    assert crowd and isinstance(crowd[0]["segmentation"]["counts"], list) and api.annToMask(crowd[0]).any()
    assert not ds.class_masks([("instances_val2014", 43)], (h, w)).any()  # the image without objects


def test_coco_boxes_and_the_originals_split_files(coco, tmp_path):
    import json
    import shutil

    ds = COCODataset(coco["root"])
    ((boxes, classes),) = ds.boxes_of([("instances_val2014", 44)])
    assert list(classes) == [2, 2] and boxes.shape == (2, 4)
    assert np.all(boxes[:, 2:] > boxes[:, :2])
    root = tmp_path / "coco"
    shutil.copytree(coco["root"], root)
    data = json.loads((root / "annotations" / "instances_train2014.json").read_text())
    for name, keep in (("train2014_train_split", {101, 102, 103}), ("train2014_val_split", {104})):
        part = dict(data, images=[i for i in data["images"] if i["id"] in keep])
        part["annotations"] = [a for a in data["annotations"] if a["image_id"] in keep]
        (root / "annotations" / f"{name}.json").write_text(json.dumps(part))
    ds = COCODataset(root)
    assert [i for _, i in ds.ids("train")] == [101, 102, 103] and [i for _, i in ds.ids("val")] == [104]
    assert ds.paths(ds.ids("val")) == [str(root / "train2014" / "COCO_train2014_000000000104.jpg")]


# -- CUB-200-2011 ------------------------------------------------------------------------------------
def test_cub_classes_splits_labels_boxes_masks(cub):
    root, info = cub
    for r in (root, root / "CUB_200_2011"):
        assert CUBDataset(r).root == root / "CUB_200_2011"
    ds = open_dataset(f"cub:{root}")
    assert ds.class_names == tuple(info["classes"]) and ds.class_labels[0] == "Black footed Albatross"
    assert ds.ids("test") == [4, 8, 12]
    train, val = ds.ids("train"), ds.ids("val")
    assert len(val) == 3 and sorted(train + val) == [i for i in range(1, 13) if info["train"][i]]
    assert sorted(ds.labels("val").tolist()) == [0, 1, 2]  # one per class: stratified
    assert ds.labels("test").tolist() == [0, 1, 2]
    assert ds.files("test")[0] == str(root / "CUB_200_2011" / "images" / info["paths"][4])
    ((box, cls),) = ds.boxes_of([4])
    x, y, bw, bh = info["boxes"][4]
    np.testing.assert_allclose(box, [[x, y, x + bw, y + bh]]) and list(cls) == [0]
    h, w = info["sizes"][4]
    np.testing.assert_allclose(ds.boxes("test", (2 * h, 2 * w))[0], np.array([[x, y, x + bw, y + bh]]) * 2)
    np.testing.assert_array_equal(ds.object_mask(4), info["masks"][4])  # >= 128: three of five annotators
    assert ds.masks("test", (16, 16)).shape == (3, 16, 16)
    cm = ds.class_masks([4, 8], (h, w))
    assert cm.shape == (2, 3, h, w) and cm[0, 0].sum() == info["masks"][4].sum() and not cm[0, 1:].any()
    tr_f, tr_y, va_f, va_y = ds.split_train_val(0.1, seed=3)
    assert len(tr_f) + len(va_f) == 9 and len(va_f) == 3


# -- MaskData for the Explainer ------------------------------------------------------------------------
def _config(source, root, num_classes, **kw):
    base = dict(
        source=source,
        root=str(root),
        image_size=16,
        num_classes=num_classes,
        seed=0,
        void_as_foreground=False,
        test_limit=None,
    )
    return SimpleNamespace(**{**base, **kw})


def test_mask_data_from_each_layout(voc, coco, cub):
    from hrcam.data.masks import mask_data

    test = mask_data(_config("voc2007", voc["root"], 20), "test")
    assert test.images.shape == (2, 16, 16, 3) and test.masks.shape == (2, 20, 16, 16)
    assert test.labels[0, VOC_CLASSES.index("dog")] == 1 and test.files[0].endswith("000005.jpg")
    train = mask_data(_config("voc2007", voc["root"], 20), "train", with_masks=False, load_images=False)
    assert train.images is None and train.masks is None and len(train) == 3
    assert train.load_images(2).shape == (2, 16, 16, 3)
    void = mask_data(_config("voc2007", voc["root"], 20, void_as_foreground=True), "test")
    assert void.masks.sum() > test.masks.sum()
    c = mask_data(_config("coco2014", coco["root"], 3, test_limit=2), "test")
    assert len(c) == 2 and c.masks.shape == (2, 3, 16, 16)
    assert mask_data(_config("coco2014", coco["root"], 3, test_limit=2), "test").files == c.files  # seeded
    root, _ = cub
    b = mask_data(_config("cub", root, 3), "test")
    assert (
        b.labels.tolist() == np.eye(3, dtype=int).tolist()
        and b.masks.any(axis=(2, 3)).tolist() == np.eye(3).tolist()
    )
    with pytest.raises(ValueError, match="data.num_classes=20"):
        mask_data(_config("voc2007", voc["root"], 5), "test")
