"""Folder datasets: layout, class order, stratified split, decoding (gray/RGBA/JPEG), errors, tf.data."""

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from hrcam.arrays import boxes_to_inclusive
from hrcam.data.folder import (
    FolderDataset,
    check_images_readable,
    load_image_files,
    make_dataset,
    read_classes_file,
)


def _png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = array if array.ndim == 3 else array[..., None]
    path.write_bytes(tf.io.encode_png(arr).numpy())


def _jpeg(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(tf.io.encode_jpeg(array, quality=95).numpy())


def _rgb(seed: int, size: int = 8) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


@pytest.fixture
def layout(tmp_path) -> Path:
    """3 classes, classes.txt in non-sorted order; mixed formats; 4 train images per class, 2 val."""
    root = tmp_path / "ds"
    (root).mkdir()
    (root / "classes.txt").write_text("zeta\tthe last letter\nalpha first, one\nmid\n")
    k = 0
    for cls in ("alpha", "mid", "zeta"):
        for i in range(4):
            k += 1
            _png(root / "train" / cls / f"{cls}_{i}.png", _rgb(k))
        _jpeg(root / "train" / cls / f"{cls}_up.JPEG", _rgb(k + 100))
        for i in range(2):
            _png(root / "val" / cls / f"val_{cls}_{i}.PNG", _rgb(k + 200 + i))
        (root / "train" / cls / "notes.txt").write_text("not an image")
        (root / "train" / cls / ".hidden.png").write_bytes(b"")
    return root


def test_classes_file_order_and_labels(layout):
    ds = FolderDataset(layout)
    assert ds.class_names == ["zeta", "alpha", "mid"]  # file order, not sorted
    assert ds.class_labels == ["the last letter", "first, one", "mid"]
    assert ds.num_classes == 3 and ds.class_index("first") == 1 and ds.class_index("zeta") == 0
    files, labels = ds.files("train"), ds.labels("train")
    assert len(files) == 15 and labels.dtype == np.int32
    assert [Path(f).parent.name for f in files] == [ds.class_names[y] for y in labels]
    assert list(labels) == [0] * 5 + [1] * 5 + [2] * 5
    assert sum(f.endswith(".JPEG") for f in files) == 3  # upper-case extension listed
    assert not any("notes" in f or ".hidden" in f for f in files)
    assert len(ds.files("val")) == 6 and len(ds.files("test")) == 6  # test falls back to val


def test_sorted_folders_without_classes_file_and_test_split(tmp_path):
    root = tmp_path / "r"
    for cls in ("b", "a"):
        _png(root / "test" / cls / "x.png", _rgb(1))
    ds = FolderDataset(root)
    assert ds.class_names == ["a", "b"]
    assert ds.split_dir("val").name == "test" and len(ds.files("val")) == 2
    assert not ds.has_split("train")
    with pytest.raises(FileNotFoundError, match="train"):
        ds.files("train")


def test_read_classes_file_errors(tmp_path):
    p = tmp_path / "c.txt"
    p.write_text("a x\nb\na y\n")
    with pytest.raises(ValueError, match="more than once"):
        read_classes_file(p)
    p.write_text("\n# comment\n")
    with pytest.raises(ValueError, match="no classes"):
        read_classes_file(p)


def test_layout_errors(tmp_path, layout):
    with pytest.raises(FileNotFoundError, match="missing"):
        FolderDataset(tmp_path / "missing")
    (tmp_path / "nosplit").mkdir()
    with pytest.raises(FileNotFoundError, match="no split folder"):
        FolderDataset(tmp_path / "nosplit")
    empty_class = layout / "val" / "mid"
    for f in empty_class.iterdir():
        f.unlink()
    with pytest.raises(ValueError, match=r"val/mid has no images"):
        FolderDataset(layout).files("val")
    empty_class.rmdir()
    with pytest.raises(ValueError, match=r"lacks folders for classes \['mid'\]"):
        FolderDataset(layout).files("val")
    (layout / "train" / "extra").mkdir()
    with pytest.raises(ValueError, match="extra"):
        FolderDataset(layout).files("train")
    with pytest.raises(ValueError, match="split"):
        FolderDataset(layout).files("training")


def test_split_train_val_stratified_deterministic_disjoint(tmp_path):
    root = tmp_path / "s"
    for c, n in (("a", 20), ("b", 10), ("c", 3)):
        for i in range(n):
            _png(root / "train" / c / f"{i:02d}.png", _rgb(i, 2))
    ds = FolderDataset(root)
    tr, ytr, va, yva = ds.split_train_val(0.2, seed=0)
    assert np.bincount(yva, minlength=3).tolist() == [4, 2, 1]  # round(n * 0.2), at least 1
    assert set(tr).isdisjoint(va) and sorted(tr + va) == sorted(ds.files("train"))
    assert [Path(f).parent.name for f in va] == [ds.class_names[y] for y in yva]
    again = ds.split_train_val(0.2, seed=0)
    assert again[2] == va and again[0] == tr
    other = ds.split_train_val(0.2, seed=1)
    assert other[2] != va
    assert ds.split_train_val(0.0)[2] == []
    with pytest.raises(ValueError, match="val_fraction"):
        ds.split_train_val(1.0)


def test_decoding_gray_rgba_and_exact_same_size(tmp_path):
    rgb = _rgb(3, 16)
    gray = np.arange(256, dtype=np.uint8).reshape(16, 16)
    rgba = np.concatenate([rgb, np.zeros((16, 16, 1), np.uint8)], axis=-1)  # fully transparent
    rgba[:8, :, 3] = 255
    paths = [tmp_path / "rgb.png", tmp_path / "gray.png", tmp_path / "rgba.png"]
    _png(paths[0], rgb)
    _png(paths[1], gray)
    _png(paths[2], rgba)
    x = load_image_files(paths, 16)
    assert x.shape == (3, 16, 16, 3) and x.dtype == np.uint8
    np.testing.assert_array_equal(x[0], rgb)  # same-size "resize" is exact
    np.testing.assert_array_equal(x[1], np.repeat(gray[..., None], 3, axis=-1))  # gray tiled
    np.testing.assert_array_equal(x[2], rgb)  # alpha dropped, colours kept (not premultiplied)
    flat = np.full((10, 30, 3), (200, 40, 90), np.uint8)  # non-square, resized and antialiased
    _png(tmp_path / "flat.png", flat)
    y = load_image_files([tmp_path / "flat.png"], (7, 5))
    assert y.shape == (1, 7, 5, 3) and np.all(np.abs(y.astype(int) - (200, 40, 90)) <= 1)


def test_load_image_files_native_size(tmp_path):
    _png(tmp_path / "a.png", _rgb(1, 8))
    _png(tmp_path / "b.png", _rgb(2, 10))
    assert load_image_files([tmp_path / "a.png"], None).shape == (1, 8, 8, 3)
    with pytest.raises(ValueError, match="different sizes"):
        load_image_files([tmp_path / "a.png", tmp_path / "b.png"], None)


def test_make_dataset_batches(layout):
    ds = FolderDataset(layout)
    files, labels = ds.files("train"), ds.labels("train")
    data = make_dataset(files, labels, image_size=(12, 10), batch_size=4)
    batches = list(data)
    assert [len(b[0]) for b in batches] == [4, 4, 4, 3]
    x, y = batches[0]
    assert x.dtype == tf.float32 and x.shape[1:] == (12, 10, 3) and y.dtype == tf.int32
    allx = np.concatenate([b[0].numpy() for b in batches])
    assert allx.min() >= 0.0 and allx.max() <= 1.0 and allx.max() > 0.5
    np.testing.assert_array_equal(np.concatenate([b[1].numpy() for b in batches]), labels)
    # The images are the decoded files / 255.
    np.testing.assert_allclose(allx, load_image_files(files, (12, 10)) / 255.0, atol=1e-6)
    # one_hot, drop_remainder, shuffle: a seeded permutation.
    oh = make_dataset(files, labels, 8, 4, one_hot=3, drop_remainder=True)
    ys = [b[1].numpy() for b in oh]
    assert len(ys) == 3 and ys[0].shape == (4, 3) and ys[0].dtype == np.float32
    np.testing.assert_array_equal(np.concatenate(ys).argmax(1), labels[:12])

    def order(d):
        return np.concatenate([b[1].numpy() for b in d])

    sh1 = order(make_dataset(files, labels, 8, 5, shuffle=True, seed=3))
    sh2 = order(make_dataset(files, labels, 8, 5, shuffle=True, seed=3))
    np.testing.assert_array_equal(sh1, sh2)
    assert sorted(sh1) == sorted(labels)


def test_make_dataset_cache_and_augment(layout):
    ds = FolderDataset(layout)
    data = ds.dataset("val", 8, 6, cache=True)
    e1 = np.concatenate([b[0].numpy() for b in data])
    e2 = np.concatenate([b[0].numpy() for b in data])
    np.testing.assert_array_equal(e1, e2)

    def invert(x):
        return 1.0 - x

    aug = np.concatenate([b[0].numpy() for b in ds.dataset("val", 8, 6, augment=invert)])
    np.testing.assert_allclose(aug, 1.0 - e1, atol=1e-6)


def test_corrupt_and_fake_images_are_named(tmp_path):
    good = tmp_path / "good.png"
    _png(good, _rgb(0))
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(good.read_bytes()[:40])  # valid signature, broken data
    fake = tmp_path / "fake.jpg"
    fake.write_text("this is not a picture")
    with pytest.raises(ValueError, match="truncated.png"):
        check_images_readable([good, truncated])
    check_images_readable([good, truncated], decode=False)  # the header alone looks fine
    with pytest.raises(ValueError, match="fake.jpg"):
        make_dataset([good, fake], [0, 1], 8, 2)
    with pytest.raises(ValueError, match="truncated.png"):
        make_dataset([good, truncated], [0, 1], 8, 2, check="decode")
    with pytest.raises(FileNotFoundError, match="absent.png"):
        load_image_files([tmp_path / "absent.png"], 8)
    with pytest.raises(ValueError, match="truncated.png"):
        load_image_files([truncated], 8)


def test_make_dataset_argument_errors(tmp_path):
    p = tmp_path / "a.png"
    _png(p, _rgb(0))
    with pytest.raises(ValueError, match="labels"):
        make_dataset([p], [0, 1], 8, 1)
    with pytest.raises(ValueError, match="image_size"):
        make_dataset([p], [0], 0, 1)
    with pytest.raises(ValueError, match="batch_size"):
        make_dataset([p], [0], 8, 0)
    with pytest.raises(ValueError, match="empty"):
        make_dataset([], [], 8, 1)
    with pytest.raises(TypeError, match="single path"):
        make_dataset(str(p), [0], 8, 1)


def test_boxes_explicit_dir_class_subfolders_and_scaling(layout, tmp_path):
    ds = FolderDataset(layout)
    files = ds.files("val")
    bdir = tmp_path / "boxes"
    first = Path(files[0])
    (bdir / first.parent.name).mkdir(parents=True)
    # No <size>: scaling falls back to the image's own size (8x8).
    (bdir / first.parent.name / f"{first.stem}.xml").write_text(
        "<annotation><object><name>x</name><bndbox><xmin>0</xmin><ymin>2</ymin>"
        "<xmax>3</xmax><ymax>7</ymax></bndbox></object></annotation>"
    )
    boxes = ds.boxes("val", bbox_dir=bdir)
    assert len(boxes) == len(files)
    np.testing.assert_array_equal(boxes_to_inclusive(boxes[0]), [[0, 2, 3, 7]])  # file values
    assert all(b.shape == (0, 4) for b in boxes[1:])  # images without an XML file
    big = ds.boxes("val", image_size=16, bbox_dir=bdir)[0]
    np.testing.assert_array_equal(boxes_to_inclusive(big), [[0, 4, 7, 15]])
    np.testing.assert_array_equal(FolderDataset(layout, bbox_dir=bdir).boxes("val")[0], boxes[0])
    with pytest.raises(FileNotFoundError, match="bounding-box directory"):
        ds.boxes("val")  # no ROOT/bbox/val
