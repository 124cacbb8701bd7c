"""Synthetic scenes and volumes: exact masks and boxes, determinism, cue, multi-label, folder round trip."""

import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from hrcam.arrays import boxes_to_inclusive
from hrcam.data.bbox import masks_to_boxes
from hrcam.data.folder import FolderDataset, load_image_files
from hrcam.data.synthetic import (
    CUE_COLORS,
    SHAPE_NAMES,
    make_scenes,
    make_volumes,
    write_folder,
)


def _tight_box(mask: np.ndarray) -> list[int]:
    ys, xs = np.nonzero(mask)
    return [xs.min(), ys.min(), xs.max(), ys.max()]


@pytest.fixture(scope="module")
def scenes():
    return make_scenes(96, image_size=48, seed=5)


def test_shapes_dtypes_and_boxes_are_tight(scenes):
    n, s = 96, 48
    assert scenes.images.shape == (n, s, s, 3) and scenes.images.dtype == np.uint8
    assert scenes.labels.shape == (n,) and scenes.labels.dtype == np.int32
    assert scenes.masks.shape == (n, s, s) and scenes.masks.dtype == bool
    assert scenes.class_names == SHAPE_NAMES[:6] and len(scenes) == n
    assert np.bincount(scenes.labels, minlength=6).min() >= 15  # blocks of C hold every class once
    assert sorted(scenes.labels[:6]) == list(range(6))
    assert scenes.masks.any(axis=(1, 2)).all()
    # Objects lie fully inside: the mask never touches the border.
    border = scenes.masks[:, [0, -1]].any() or scenes.masks[:, :, [0, -1]].any()
    assert not border
    for i in range(n):
        assert scenes.boxes[i].shape == (1, 4) and scenes.boxes[i].dtype == np.float32
        np.testing.assert_array_equal(boxes_to_inclusive(scenes.boxes[i])[0], _tight_box(scenes.masks[i]))
        assert scenes.box_labels[i].tolist() == [scenes.labels[i]]
    # Object sizes: 16%..30% of the side as radius -> a sizable but not dominant area.
    area = scenes.masks.mean(axis=(1, 2))
    assert 0.01 < area.min() and area.max() < 0.35


def test_masks_are_exactly_the_painted_object():
    clean = make_scenes(64, image_size=40, seed=2, sensor_noise=False)
    noisy = make_scenes(64, image_size=40, seed=2)
    np.testing.assert_array_equal(clean.masks, noisy.masks)  # noise does not change the scene
    np.testing.assert_array_equal(clean.labels, noisy.labels)
    for img, m in zip(clean.images, clean.masks, strict=True):
        inside = img[m]
        colours = np.unique(inside, axis=0)
        assert len(colours) == 1  # one flat colour under the mask ...
        same = np.all(img == colours[0], axis=-1)
        assert same[~m].mean() < 0.005  # ... and (almost) nowhere else
    # With sensor noise, the object pixels stay close to one colour.
    diff = [
        np.abs(im[m].astype(float) - im[m].mean(0)).mean()
        for im, m in zip(noisy.images, noisy.masks, strict=True)
    ]
    assert max(diff) < 12


def test_determinism_and_prefix():
    a = make_scenes(70, image_size=32, seed=11, spurious_cue=0.3)
    b = make_scenes(70, image_size=32, seed=11, spurious_cue=0.3)
    for f in ("images", "labels", "masks", "cue"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f))
    c = make_scenes(70, image_size=32, seed=12, spurious_cue=0.3)
    assert not np.array_equal(a.images, c.images) and not np.array_equal(a.masks, c.masks)
    head = make_scenes(10, image_size=32, seed=11, spurious_cue=0.3)
    np.testing.assert_array_equal(head.images, a.images[:10])


def test_spurious_cue_patch():
    s = make_scenes(64, image_size=64, seed=0, spurious_cue=1.0, sensor_noise=False)
    q = s.cue_size
    assert s.cue.all() and q == 8
    np.testing.assert_array_equal(
        s.images[:, :q, :q], np.broadcast_to(CUE_COLORS[s.labels][:, None, None], (64, q, q, 3))
    )
    assert not s.masks[:, :q, :q].any()  # objects never hide the cue
    assert not make_scenes(32, seed=0).cue.any()
    half = make_scenes(256, image_size=32, seed=1, spurious_cue=0.5)
    assert 0.35 < half.cue.mean() < 0.65
    assert not half.masks[:, : half.cue_size, : half.cue_size].any()  # same placement rule without the cue


def test_multi_label():
    s = make_scenes(48, image_size=64, num_classes=6, seed=3, multi_label=True, objects_per_image=(2, 3))
    assert s.labels.shape == (48, 6) and s.masks.shape == (48, 6, 64, 64)
    counts = s.labels.sum(1)
    assert counts.min() >= 1 and counts.max() <= 3 and (counts >= 2).mean() > 0.9
    np.testing.assert_array_equal(s.labels.astype(bool), s.masks.any(axis=(2, 3)))
    assert s.masks.sum(axis=1).max() <= 1  # one owner per pixel (occlusion resolved)
    for i in range(48):
        np.testing.assert_array_equal(s.box_labels[i], np.flatnonzero(s.labels[i]))
        for b, c in zip(s.boxes[i], s.box_labels[i], strict=True):
            np.testing.assert_array_equal(boxes_to_inclusive(b)[0], _tight_box(s.masks[i, c]))
    with pytest.raises(ValueError, match="objects_per_image"):
        make_scenes(2, multi_label=True, objects_per_image=(3, 2))


@pytest.mark.parametrize("size", [32, 224])
def test_sizes(size):
    s = make_scenes(3, image_size=size, num_classes=8, seed=0)
    assert s.images.shape == (3, size, size, 3) and s.masks.any(axis=(1, 2)).all()
    np.testing.assert_array_equal(masks_to_boxes(s.masks), np.concatenate(s.boxes))


def test_argument_errors():
    with pytest.raises(ValueError, match="image_size"):
        make_scenes(2, image_size=16)
    with pytest.raises(ValueError, match="num_classes"):
        make_scenes(2, num_classes=9)
    with pytest.raises(ValueError, match="spurious_cue"):
        make_scenes(2, spurious_cue=1.5)
    with pytest.raises(TypeError, match="n"):
        make_scenes(2.5)
    with pytest.raises(ValueError, match="size"):
        make_volumes(2, size=8)


def test_speed_is_vectorised():
    t = time.perf_counter()
    s = make_scenes(1000, image_size=64, seed=0)
    elapsed = time.perf_counter() - t
    assert len(s) == 1000 and elapsed < 10.0, f"1000 scenes took {elapsed:.1f} s"


def test_volumes():
    v = make_volumes(10, size=16, num_classes=3, seed=4)
    assert v.volumes.shape == (10, 16, 16, 16, 1) and v.volumes.dtype == np.uint8
    assert v.masks.shape == (10, 16, 16, 16) and v.masks.dtype == bool
    assert set(v.labels.tolist()) <= {0, 1, 2} and v.class_names == ("sphere", "cube", "torus")
    assert v.masks.any(axis=(1, 2, 3)).all()
    for m, b in zip(v.masks, v.boxes, strict=True):
        zs, ys, xs = np.nonzero(m)
        np.testing.assert_array_equal(
            b[0] - [0, 0, 0, 1, 1, 1], [xs.min(), ys.min(), zs.min(), xs.max(), ys.max(), zs.max()]
        )  # voxel-edge boxes: the end is one past the last voxel
    w = make_volumes(10, size=16, num_classes=3, seed=4)
    np.testing.assert_array_equal(v.volumes, w.volumes)
    assert not np.array_equal(v.volumes, make_volumes(10, size=16, num_classes=3, seed=5).volumes)
    # The object stands out from the background: mean |object - background| intensity is large.
    contrast = [
        abs(x[..., 0][m].mean() - x[..., 0][~m].mean()) for x, m in zip(v.volumes, v.masks, strict=True)
    ]
    assert min(contrast) > 25
    x, y = next(iter(v.dataset(4, one_hot=True)))
    assert x.shape == (4, 16, 16, 16, 1) and y.shape == (4, 3) and x.dtype == tf.float32


def test_dataset(scenes):
    batches = list(scenes.dataset(32))
    x = np.concatenate([b[0].numpy() for b in batches])
    np.testing.assert_allclose(x, scenes.images / 255.0, atol=1e-6)
    y = np.concatenate([b[1].numpy() for b in batches])
    np.testing.assert_array_equal(y, scenes.labels)
    _, yo = next(iter(scenes.dataset(8, one_hot=True)))
    assert yo.shape == (8, 6) and yo.dtype == tf.float32
    ml = make_scenes(8, image_size=32, multi_label=True, seed=0)
    _, ym = next(iter(ml.dataset(8)))
    assert ym.dtype == tf.float32 and np.array_equal(ym.numpy(), ml.labels)
    shuffled = np.concatenate([b[1].numpy() for b in scenes.dataset(32, shuffle=True, seed=1)])
    assert sorted(shuffled) == sorted(scenes.labels) and not np.array_equal(shuffled, scenes.labels)


def test_write_folder_roundtrip(tmp_path):
    train = make_scenes(12, image_size=32, seed=0)
    val = make_scenes(6, image_size=32, seed=1)
    root = tmp_path / "synth"
    write_folder(train, root, "train")
    write_folder(val, root, "val")
    assert not [p for p in root.rglob(".*")]  # no temporary leftovers
    ds = FolderDataset(root)
    assert ds.class_names == list(train.class_names)  # class order from classes.txt, not sorted
    files = ds.files("val")
    idx = np.array([int(Path(f).stem.split("_")[1]) for f in files])
    np.testing.assert_array_equal(ds.labels("val"), val.labels[idx])
    np.testing.assert_array_equal(load_image_files(files, None), val.images[idx])  # PNG is lossless
    np.testing.assert_array_equal(ds.masks("val"), val.masks[idx])
    for b, i in zip(ds.boxes("val"), idx, strict=True):
        np.testing.assert_array_equal(b, val.boxes[i])
    with pytest.raises(FileExistsError, match="train"):
        write_folder(train, root, "train")
    with pytest.raises(ValueError, match="no example of classes"):
        write_folder(train.subset(slice(0, 4)), root, "train", overwrite=True)
    write_folder(train.subset(slice(0, 6)), root, "train", overwrite=True)
    assert len(FolderDataset(root).files("train")) == 6
    with pytest.raises(ValueError, match="multi-label"):
        write_folder(make_scenes(2, image_size=32, multi_label=True), tmp_path / "m")
    with pytest.raises(ValueError, match="classes"):
        write_folder(make_scenes(2, image_size=32, num_classes=3), root, "test")


def test_from_arrays_validation():
    from hrcam.data.pipeline import from_arrays

    x = np.zeros((4, 8, 8, 3), np.float32)
    with pytest.raises(ValueError, match="images"):
        from_arrays(x + 2.0, np.zeros(4, int), 2)
    with pytest.raises(ValueError, match="labels"):
        from_arrays(x, np.zeros(3, int), 2)
    with pytest.raises(TypeError, match="labels"):
        from_arrays(x, np.zeros(4, np.float32), 2)
    xf, _ = next(iter(from_arrays(x + 0.25, np.zeros(4, int), 4)))
    np.testing.assert_allclose(xf, 0.25)  # float input in [0, 1] passes through unchanged
