"""One toolkit: every map source of hrcam.sources meets one contract, and every consumer takes every source
by name (score, COSE, deletion / insertion, the Explainer's class-mask protocol, CASM's masked-image
classification, extract, export heads, explain, plots, the HTML report, TensorBoard summaries). A cell that
cannot make sense gets a clear error, tested here too."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from hrcam import sources
from hrcam.highres import DenseNetFCNConfig, FullModel, HalfModel

TINY = DenseNetFCNConfig(num_blocks=2, layers_per_block=2, growth_rate=4, initial_filters=8, cam_channels=6)
N_CLASSES = 3
# options that keep the costly sources small; every consumer passes them in the spec itself
SMALL = {
    "rise": "rise:n_masks=16,chunk_size=16,seed=0",
    "smoothgrad": "smoothgrad:n_samples=2,seed=0",
    "integrated_gradients": "integrated_gradients:steps=2",
    "refined": "refined:workers=0",
    "guided_cam": "guided_cam:iterations=1",
}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A HalfModel, its FullModel, a CASM masker on it, an Explainer with its multi-label classifier."""
    from hrcam.casm.masker import CasmMasker
    from hrcam.explainer.classifier import build_classifier
    from hrcam.explainer.network import build_explainer

    d = tmp_path_factory.mktemp("sources")
    keras.utils.set_random_seed(7)
    hm = HalfModel(num_classes=N_CLASSES, input_shape=(32, 32, 3), config=TINY)
    fm = FullModel(half_model=hm)
    CasmMasker(hm.model).save(d / "masker.keras")
    clf = build_classifier("densenet_fcn", N_CLASSES, (32, 32, 3), densenet=TINY)
    clf.save(d / "classifier.keras")
    build_explainer(N_CLASSES, (32, 32, 3), clf, channels=8, rates=(1, 2)).save(d / "explainer.keras")
    from hrcam.models.vit import build_vit

    build_vit(N_CLASSES, (32, 32, 3), patch_size=4, dim=16, depth=1, heads=2).save(d / "vit.keras")
    return {
        "dir": d,
        "half": hm.save(d / "half.keras"),
        "full": fm.save(d / "full.keras"),
        "masker": d / "masker.keras",
        "classifier": d / "classifier.keras",
        "explainer": d / "explainer.keras",
        "vit": d / "vit.keras",  # attention rollout needs attention weights: a token model
    }


def case(name: str, files: dict) -> tuple[str, object]:
    """``(spec, model path)`` of source ``name`` on the fixture's files."""
    if name == "casm":
        return f"casm:masker={files['masker']}", None
    if name == "explainer":
        return f"explainer:model={files['explainer']}", files["classifier"]
    if name == "attention_rollout":
        return name, files["vit"]
    model = files["full"] if name in ("high_res_cam", "refined") else files["half"]
    return SMALL.get(name, name), model


@pytest.fixture(scope="module")
def images():
    return (np.random.default_rng(0).random((3, 32, 32, 3)) * 255).astype(np.uint8)


# -- the contract ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sources.available())
def test_every_source_meets_the_contract(name, files, images):
    spec, model = case(name, files)
    source = sources.get(spec, model)
    res = source.run(images)
    assert res.preds.shape == (3, N_CLASSES) and res.preds.dtype == np.float32
    np.testing.assert_array_equal(res.classes[:, 0], res.preds.argmax(1))  # None = the predicted class
    assert res.maps.shape == (3, 32, 32) and res.maps.dtype == np.float32
    assert np.all(np.isfinite(res.maps)) and res.maps.min() >= 0 and res.maps.max() <= 1 + 1e-6
    two = source.run(images, np.array([[0, 2]] * 3))
    assert two.maps.shape == (3, 2, 32, 32)
    np.testing.assert_array_equal(two.classes, [[0, 2]] * 3)
    if not source.per_class:  # class-agnostic: the same map for every class
        np.testing.assert_allclose(two.maps[:, 0], two.maps[:, 1])
    if source.traceable:  # the tensor core in a graph gives what the NumPy front door gives
        fn = tf.function(lambda x, c: source.compute(x, c).maps)
        got = fn(tf.constant(images, tf.float32) / 255.0, tf.constant([[-1]] * 3, tf.int32))
        np.testing.assert_allclose(got.numpy()[:, 0], res.maps, atol=1e-5)
    assert sources.info(name).name == name and source.name  # a row for the README table


def test_names_and_aliases():
    pairs = [("hrcam", "high_res_cam"), ("hrcam-high", "high_res_cam"), ("HighResCAM", "high_res_cam"),
             ("guided", "guided_cam"), ("hrcam_guided", "guided_cam"), ("GuidedCAM", "guided_cam"),
             ("gradcam++", "gradcam_plus_plus"), ("full", "ones"), ("rtsal", "explainer")]  # fmt: skip
    for alias, name in pairs:
        assert sources.label(alias) == name
    with pytest.raises(ValueError, match="unknown map source 'nosuch'"):
        sources.get("nosuch", None)
    with pytest.raises(ValueError, match="key=value"):
        sources.parse("gradcam:layer")
    assert sources.parse("rise:n_masks=8,seed=1") == ("rise", {"n_masks": 8, "seed": 1})
    assert sources.split_specs("cam,casm:masker=m.keras,normalize=false,gradcam") == [
        "cam",
        "casm:masker=m.keras,normalize=false",
        "gradcam",
    ]


def test_known_answers(files, images):
    """Each source gives the map its own code base defines."""
    from hrcam.casm.masker import load_masker
    from hrcam.explainer.source import load_explainer
    from hrcam.highres import load_model
    from hrcam.highres.refine import refine

    fm = load_model(files["full"])
    high, low, guided, probs = fm.generate_cams(images, guided=True)
    np.testing.assert_allclose(sources.get("hrcam", fm).run(images).maps, high, atol=1e-5)
    np.testing.assert_allclose(sources.get("guided", fm).run(images).maps, guided, atol=1e-5)
    np.testing.assert_allclose(sources.get("cam", fm).run(images).preds, probs, atol=1e-6)
    merged = refine(images, low, high, workers=0, keys=("merged",), progress=False)["merged"]
    np.testing.assert_allclose(sources.get("refined:workers=0", fm).run(images).maps, merged, atol=1e-5)
    masker = load_masker(files["masker"])
    np.testing.assert_allclose(
        sources.get("casm", masker=masker).run(images).maps, masker.masks(images), atol=1e-6
    )
    net, clf = load_explainer(files["explainer"]), keras.saving.load_model(files["classifier"])
    res = sources.get("explainer", clf, network=net).run(images)
    want = 1 / (1 + np.exp(-net.predict(images / 255.0, verbose=0)))
    np.testing.assert_allclose(res.maps, want[np.arange(3), :, :, res.classes[:, 0]], atol=1e-5)
    center = sources.get("center", fm).run(images).maps[0]
    assert center.argmax() in {15 * 32 + 15, 15 * 32 + 16, 16 * 32 + 15, 16 * 32 + 16} and center.min() == 0
    assert np.all(sources.get("ones", fm).run(images).maps == 1)
    assert np.all(sources.get("zeros", fm).run(images).maps == 0)


def test_sources_refuse_what_they_cannot_use(files):
    hm = HalfModel(num_classes=N_CLASSES, input_shape=(32, 32, 3), config=TINY)
    with pytest.raises(ValueError, match="needs a FullModel"):
        sources.get("high_res_cam", hm)
    with pytest.raises(ValueError, match="needs `masker`"):
        sources.get("casm", hm)
    with pytest.raises(ValueError, match="needs the classifier it explains"):
        sources.get(f"explainer:model={files['explainer']}")
    other = HalfModel(num_classes=5, input_shape=(32, 32, 3), config=TINY)
    with pytest.raises(ValueError, match="5 classes"):
        sources.get(f"casm:masker={files['masker']}", other)
    with pytest.raises(ValueError, match="needs a model"):
        sources.get("gradcam")
    with pytest.raises(TypeError, match="unexpected keyword"):
        sources.get("gradcam", hm, n_masks=3)


# -- every consumer x every source -----------------------------------------------------------------------
CONSUMERS = (
    "score",
    "cose",
    "deletion",
    "class_masks",
    "masked_images",
    "extract",
    "export",
    "explain",
    "plot",
    "report",
    "summaries",
)
#: cells that cannot make sense, and the error they must give
REFUSED = {("export", "refined"): "cannot be a serving head", ("export", "lime"): "cannot be a serving head"}


def _consume(consumer: str, spec: str, model, files, images, tmp_path):  # noqa: C901 - one branch a consumer
    from hrcam.highres import load_model

    loaded = load_model(model) if model is not None else None
    x = images.astype(np.float32) / 255.0
    labels = np.array([0, 1, 2])
    if consumer == "score":
        from hrcam.arrays import boxes_to_masks
        from hrcam.evaluation.scoring import ScoringData
        from hrcam.sources.scoring import score_methods

        boxes = [np.array([[4.0, 4.0, 20.0, 20.0]])] * 3
        data = ScoringData(images, labels, boxes, boxes_to_masks(boxes, (32, 32)), exact_masks=True)
        row = score_methods(loaded, data, [spec], progress=False)["methods"][spec]
        assert 0 <= row["PxAP"] <= 1 and 0 <= row["MaxBoxAccV2"] <= 1 and "mask_mean" in row
    elif consumer == "cose":
        from hrcam.evaluation.cose import cose_table
        from hrcam.sources.cose import method_source

        table, info = cose_table(method_source(loaded, spec), x, np.zeros(3, int), transforms=["rotate"],
                                 magnitudes=[0.5], perturbations={})  # fmt: skip
        assert info["n_images"] == 3
    elif consumer == "deletion":
        from hrcam.evaluation.cose import deletion_insertion

        res = sources.get(spec, loaded).run(x)
        curves = deletion_insertion(
            sources.get(spec, loaded).predict, x, res.maps, res.classes[:, 0], steps=2
        )
        assert curves["deletion"].shape == (3,) and curves["insertion"].shape == (3,)
    elif consumer == "class_masks":
        from hrcam.sources.class_masks import evaluate_methods

        multi = np.eye(N_CLASSES, dtype=np.float32)[labels]
        masks = np.zeros((3, N_CLASSES, 32, 32), bool)
        masks[np.arange(3), labels, 8:24, 8:24] = True
        out = evaluate_methods([spec], x, multi, masks, loaded, batch_size=4)
        assert 0 <= out["table"][spec]["continuous_iou"] <= 1
    elif consumer == "masked_images":  # CASM's masked-in / masked-out / inpainted classification
        from hrcam.cli import main

        argv = [
            "evaluate",
            "masks",
            "--source",
            f"s={spec}",
            "--classifier",
            f"c={model}",
            "--data",
            "synthetic",
        ]
        assert main([*argv, "--num-synthetic", "3", "--json"]) == 0
    elif consumer == "extract":
        from hrcam.extract.engine import MapEngine

        engine = MapEngine(model, (spec,), batch_size=4)
        probs, classes, maps = engine(images)
        assert maps[sources.label(spec)].shape == (3, 32, 32) and probs.shape == (3, N_CLASSES)
    elif consumer == "export":
        from hrcam.export import ServingHeads

        serving = ServingHeads(loaded, heads=[spec])
        out = serving.explain(tf.constant(x), tf.constant([-1, 0, 2], tf.int32))
        assert out[sources.label(spec)].shape == (3, 32, 32)
    elif consumer == "explain":
        from PIL import Image

        from hrcam.cli import main

        paths = []
        for i, img in enumerate(images):
            Image.fromarray(np.kron(img, np.ones((2, 1, 1), np.uint8))).save(tmp_path / f"i{i}.png")  # 64x32
            paths.append(str(tmp_path / f"i{i}.png"))
        argv = ["explain", "--model", str(model), "--method", spec, *paths, "--out", str(tmp_path / "o")]
        assert main([*argv, "--json"]) == 0
        assert Image.open(tmp_path / "o" / "i0.png").size == (32, 64)  # the file's resolution
        assert json.loads((tmp_path / "o" / "explain.json").read_text())["images"][0]["explained_classes"]
    elif consumer == "plot":
        from hrcam.sources.plots import compare_sources

        fig = compare_sources(loaded, images, [spec])
        assert len(fig.axes) == 3 * 2  # the image and its map, per image
    elif consumer == "report":
        from hrcam.report import ReportImages, make_report

        masks = np.zeros((3, 32, 32), bool)
        masks[:, 8:24, 8:24] = True
        boxes = [np.array([[4.0, 4.0, 20.0, 20.0]])] * 3
        shown = ReportImages(images, ["a", "b", "c"], labels, None, masks, boxes)
        out = make_report(loaded, shown, [spec], tmp_path / "r.html", steps=2)
        row = out["sources"][sources.label(spec)]
        assert {"iou", "pxap", "box_iou", "deletion", "insertion", "top1"} <= set(row)
        assert (tmp_path / "r.html").is_file()
    elif consumer == "summaries":  # TensorBoard during training
        from hrcam.callbacks import MapSummaries

        callback = MapSummaries((images, labels), spec, log_dir=tmp_path / "tb", model=loaded)
        callback.write(0)
        assert callback.writes == 1 and list((tmp_path / "tb").glob("events.out.tfevents.*"))


@pytest.mark.parametrize("consumer", CONSUMERS)
@pytest.mark.parametrize("name", sources.available())
def test_every_consumer_takes_every_source(consumer, name, files, images, tmp_path):
    spec, model = case(name, files)
    model = files["half"] if model is None else model  # a masker carries its classifier; tools take --model
    expected = REFUSED.get((consumer, name))
    if expected:
        with pytest.raises(ValueError, match=expected):
            _consume(consumer, spec, model, files, images, tmp_path)
    else:
        _consume(consumer, spec, model, files, images, tmp_path)


def test_readme_table_lists_every_source():
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    table = text[text.index("## Map sources") : text.index("## Command line")]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    named = {name.strip("` ") for row in rows for name in row.split("|")[1].split("(")[0].split(",")}
    assert named == set(sources.available())
