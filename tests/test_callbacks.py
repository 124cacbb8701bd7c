"""Maps in TensorBoard during training (issue 23): hrcam.callbacks.MapSummaries with any model.fit and in
every hrcam trainer, read back with TensorBoard's event reader (image count, shape, step)."""

from __future__ import annotations

import io
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

from hrcam.callbacks import MapSummaries, first_images, hook_from_config, summaries_hook
from hrcam.plotting.colors import DEFAULT_CMAP
from hrcam.plotting.overlays import overlay


def read_images(log_dir: Path) -> dict[str, list[tuple[int, list[np.ndarray], str]]]:
    """``{tag: [(step, decoded images, description), ...]}`` of the image summaries in ``log_dir``."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(log_dir), size_guidance={"tensors": 0})
    acc.Reload()
    out = {}
    for tag in acc.Tags()["tensors"]:
        events = []
        for ev in acc.Tensors(tag):
            raw = ev.tensor_proto.string_val  # [width, height, png, png, ...]
            pngs = [np.asarray(Image.open(io.BytesIO(b))) for b in raw[2:]]
            assert all(p.shape[:2] == (int(raw[1]), int(raw[0])) for p in pngs)
            events.append((ev.step, pngs, acc.SummaryMetadata(tag).summary_description))
        out[tag] = events
    return out


def tiny_classifier(classes: int = 3) -> keras.Model:
    keras.utils.set_random_seed(0)
    x = keras.Input((32, 32, 3))
    h = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv")(x)
    h = keras.layers.GlobalAveragePooling2D()(h)
    model = keras.Model(x, keras.layers.Dense(classes, activation="softmax")(h))
    model.compile("adam", "sparse_categorical_crossentropy")
    return model


def test_map_summaries_with_any_model_fit(tmp_path):
    rng = np.random.default_rng(0)
    x = (rng.random((12, 32, 32, 3)) * 255).astype(np.uint8)
    y = rng.integers(0, 3, 12)
    model = tiny_classifier()
    cb = MapSummaries(
        (x[:3], y[:3]), ["gradcam", "cam"], log_dir=tmp_path, every=2, class_names=["a", "b", "c"]
    )
    model.fit(x, y, epochs=3, batch_size=4, verbose=0, callbacks=[cb])
    found = read_images(tmp_path)
    assert set(found) == {"maps/images", "maps/gradcam", "maps/cam"}
    assert [step for step, _, _ in found["maps/images"]] == [1]  # the images once, at the first write
    for tag in ("maps/gradcam", "maps/cam"):
        assert [step for step, _, _ in found[tag]] == [1, 2]  # every 2nd epoch (0-based index 1) and the last
        for _, images, description in found[tag]:
            assert len(images) == 3 and all(im.shape == (32, 32, 3) for im in images)
            assert DEFAULT_CMAP in description and "true" in description
    np.testing.assert_array_equal(found["maps/images"][0][1][0], x[0])
    # the overlays are hrcam's overlays of the source's maps for the true class, in the default colour map
    from hrcam import sources

    maps = sources.get("gradcam", model).run(x[:3], y[:3]).maps
    want = overlay(x[0], maps[0])
    assert np.abs(found["maps/gradcam"][-1][1][0].astype(int) - want.astype(int)).max() <= 1
    assert cb.writes == 2 and cb.seconds > 0


def test_per_class_summaries_datasets_and_clear_errors(tmp_path):
    import tensorflow as tf

    rng = np.random.default_rng(1)
    x = rng.random((8, 32, 32, 3), dtype=np.float32)
    y = keras.utils.to_categorical(rng.integers(0, 3, 8), 3)  # one-hot labels become class indices
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(3)
    images, labels = first_images(ds, 4)
    assert images.shape == (4, 32, 32, 3) and labels.tolist() == y[:4].argmax(1).tolist()
    model = tiny_classifier()
    cb = MapSummaries(
        ds, {"G": "gradcam"}, log_dir=tmp_path, targets="all", max_images=2, class_names=list("xyz")
    )
    cb.set_model(model)
    cb.write(5)
    found = read_images(tmp_path)
    assert set(found) == {"maps/images", "maps/G/x", "maps/G/y", "maps/G/z"}
    assert all(ev[0][0] == 5 and len(ev[0][1]) == 2 for ev in found.values())
    with pytest.raises(ValueError, match="every"):
        MapSummaries(x, "gradcam", every=0)
    with pytest.raises(ValueError, match="targets"):
        MapSummaries(x, "gradcam", targets="nope")
    with pytest.raises(ValueError, match="`images`"):
        MapSummaries(x[0], "gradcam")
    with pytest.raises(ValueError, match="cmap"):
        summaries_hook(cmap="no-such-map")
    off = type("S", (), {"every": 0})()
    assert hook_from_config(off) is None


TINY_HRCAM = [
    "data.image_size=32",
    "data.num_classes=3",
    "data.train_size=32",
    "data.val_size=16",
    "data.test_size=16",
    "data.batch_size=16",
    "model.num_blocks=2",
    "model.layers_per_block=2",
    "model.growth_rate=4",
    "model.initial_filters=8",
    "model.cam_channels=6",
    "half.epochs=2",
    "full.epochs=1",
    "summaries.images=3",
]


TINY_CASM = [  # as tests/test_casm_training.py
    "classifier.path=null",
    "data.image_size=32",
    "data.train_size=32",
    "data.val_size=16",
    "data.test_size=16",
    "data.batch_size=16",
    "data.augment=false",
    "classifier.kind=resnet",
    "classifier.resnet={widths: [8, 8, 16, 16], stem: 8}",
    "masker.channels=8",
]


def _sets(items: list[str]) -> list[str]:
    return [a for item in items for a in ("--set", item)]


@pytest.mark.slow
def test_every_hrcam_trainer_writes_map_summaries(tmp_path):
    """HalfModel (stage 1), FullModel (stage 2), CASM and the Explainer (its classifier and itself), through
    their commands with --map-summaries: each stage's own map, per epoch, in RUN_DIR/logs/<stage>/maps."""
    from hrcam.cli import main

    run = tmp_path / "hrcam"
    common = ["--config", "synthetic", "--run-dir", str(run), "--quiet", "--json", "--map-summaries", "1"]
    assert main(["train-half", *common, *_sets(TINY_HRCAM)]) == 0
    assert main(["train-full", *common, *_sets(TINY_HRCAM)]) == 0
    for stage, tag, epochs in (("half", "maps/cam", 2), ("full", "maps/high_res_cam", 1)):
        found = read_images(run / "logs" / stage / "maps")
        assert [s for s, _, _ in found[tag]] == list(range(epochs)), stage
        assert all(len(images) == 3 and images[0].shape == (32, 32, 3) for _, images, _ in found[tag])

    casm = tmp_path / "casm"
    casm_args = [*TINY_CASM, "train.epochs=1", "summaries.sources=[casm, gradcam]", "summaries.images=2"]
    assert main(["train-casm", "--config", "casm-synthetic", "--run-dir", str(casm), "--quiet", "--json",
                 "--map-summaries", "1", *_sets(casm_args)]) == 0  # fmt: skip
    found = read_images(casm / "logs" / "casm" / "maps")
    assert {"maps/casm", "maps/gradcam"} <= set(found)
    assert all(len(ev[0][1]) == 2 and ev[0][0] == 0 for tag, ev in found.items())

    explainer = tmp_path / "explainer"
    explainer_args = [
        "data.image_size=32",
        "data.train_size=16",
        "data.val_size=8",
        "classifier.num_blocks=2",
        "classifier.growth_rate=4",
        "classifier.epochs=1",
        "explainer.channels=8",
        "explainer.decoder_stride=2",  # DeepLabv3+ (the features are at stride 4 here)
        "train.steps_per_epoch=2",
        "train.epochs=1",
        "summaries.target=all",
        "summaries.images=2",
    ]
    assert main(["train-explainer", "--config", "explainer-synthetic", "--run-dir", str(explainer), "--quiet",
                 "--json", "--map-summaries", "1", *_sets(explainer_args)]) == 0  # fmt: skip
    classifier = read_images(explainer / "logs" / "classifier" / "maps")
    masks = read_images(explainer / "logs" / "explainer" / "maps")
    assert any(tag.startswith("maps/gradcam/") for tag in classifier)  # one summary per class
    per_class = [tag for tag in masks if tag.startswith("maps/explainer/")]
    assert len(per_class) >= 2 and all(len(masks[t][0][1]) == 2 for t in per_class)
