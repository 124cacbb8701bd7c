"""COSE and faithfulness metrics: known answers (equivariant and constant maps), round trips, skimage's SSIM,
deletion / insertion on a model with a known receptive region, the C / F split, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hrcam.evaluation.cose import (
    DEFAULT_MAGNITUDES,
    GEOMETRIC,
    PHOTOMETRIC,
    TRANSFORMS,
    apply_transform,
    cose_bootstrap,
    cose_summary,
    cose_table,
    deletion_insertion,
    function_source,
    inverse_warp,
    masked_saliency_score,
    masked_ssim,
    transform_plan,
    validity_mask,
    warp,
)


def _images(n: int = 6, size: int = 32, seed: int = 0) -> np.ndarray:
    rng = np.random.RandomState(seed)
    x = rng.rand(n, size, size, 3).astype(np.float32)
    return (0.5 * x + 0.5 * x.mean(axis=(1, 2), keepdims=True)).astype(np.float32)


def _always(cls: int, num_classes: int = 3):
    def probs(x: np.ndarray) -> np.ndarray:
        p = np.zeros((len(x), num_classes), np.float32)
        p[:, cls] = 1.0
        return p

    return probs


def test_thirteen_transforms_keep_shape_and_range():
    x = _images(2)
    assert len(TRANSFORMS) == 13 and len(GEOMETRIC) == 5 and len(PHOTOMETRIC) == 8
    for name in TRANSFORMS:
        for m in (-1.0, 0.5):
            y = apply_transform(x, name, m).numpy()
            assert y.shape == x.shape and y.min() >= 0.0 and y.max() <= 1.0, name
    # signed magnitudes: brightness up and down, translate left and right
    assert (
        apply_transform(x, "brightness", -1).numpy().mean()
        < x.mean()
        < apply_transform(x, "brightness", 1).numpy().mean()
    )
    right = apply_transform(x, "translate_x", 0.25).numpy()  # 8 px
    np.testing.assert_array_equal(right[:, :, 8:], x[:, :, :-8])
    assert np.all(right[:, :, :8] == 0)
    assert len(transform_plan()) == 7 * 6 + 6  # magnitude-free transforms run once


def test_equivariant_map_has_consistency_one_under_flips_and_translations():
    """The image's own brightness channel moves exactly with the image: C = 1."""
    brightness = function_source(lambda x: (_always(0)(x), x.mean(axis=-1)), "brightness")
    x = _images(5, 40)
    y = np.zeros(5, np.int64)
    table, info = cose_table(
        brightness, x, y, transforms=["flip_lr", "flip_ud", "translate_x", "translate_y"]
    )
    s = cose_summary(table)
    assert info["n_correct"] == 5 and s["n_nan"] == 0
    assert s["n_consistency"] == 5 * 4 * 6
    assert abs(s["consistency"] - 1.0) < 1e-3 and abs(s["consistency_geometric"] - 1.0) < 1e-3
    assert math.isnan(s["fidelity"]) and math.isnan(s["cose"])  # nothing became wrong: F undefined
    # rotations by +-90 degrees (magnitude 2/3 of 135) land on pixel centres: also exact
    table, _ = cose_table(brightness, x, y, transforms=["rotate"], magnitudes=(-2 / 3, 2 / 3))
    assert abs(cose_summary(table)["consistency"] - 1.0) < 1e-3


def test_constant_map_has_consistency_one_under_photometric_transforms():
    const = function_source(lambda x: (_always(1)(x), np.full(x.shape[:3], 0.5, np.float32)), "constant")
    x = _images(4)
    table, _ = cose_table(const, x, np.ones(4, np.int64), transforms=PHOTOMETRIC)
    s = cose_summary(table)
    assert s["n_consistency"] == 4 * 8 * 6
    assert abs(s["consistency"] - 1.0) < 1e-6 and abs(s["consistency_photometric"] - 1.0) < 1e-6


@pytest.mark.parametrize("name", ["translate_x", "translate_y", "flip_lr", "flip_ud", "rotate"])
def test_inverse_warp_round_trips_inside_the_validity_mask(name):
    rng = np.random.RandomState(3)
    maps = rng.rand(3, 40, 40).astype(np.float32)
    mags = (-2 / 3, 2 / 3) if name == "rotate" else DEFAULT_MAGNITUDES
    for m in mags:
        moved = warp(maps[..., None], name, m).numpy()[..., 0]
        back = inverse_warp(moved, name, m).numpy()
        valid = validity_mask(40, 40, name, m).numpy().astype(bool)
        assert valid.any()
        np.testing.assert_allclose(back[:, valid], maps[:, valid], atol=1e-5)
        if name.startswith("flip"):
            assert valid.all()
    # a 16 px shift keeps exactly half of the columns
    assert validity_mask(32, 32, "translate_x", 0.5).numpy().sum() == 32 * 16


def test_masked_ssim_equals_skimage_without_mask():
    from skimage.metrics import structural_similarity

    rng = np.random.RandomState(0)
    a = rng.rand(5, 24, 28).astype(np.float32)
    b = (0.6 * a + 0.4 * rng.rand(5, 24, 28)).astype(np.float32)
    b[2] = rng.rand(24, 28) * 3  # a larger range
    b[3] = a[3]
    ours = masked_ssim(a, b).numpy()
    ref = [
        structural_similarity(
            a[i].astype(np.float64),
            b[i].astype(np.float64),
            win_size=5,
            data_range=max(np.ptp(a[i]), np.ptp(b[i])),
        )
        for i in range(5)
    ]
    np.testing.assert_allclose(ours, ref, atol=1e-4)
    assert abs(ours[3] - 1.0) < 1e-6
    # an all-ones mask is the same; a mask is eroded 5x5 before averaging
    np.testing.assert_allclose(masked_ssim(a, b, np.ones((24, 28))).numpy(), ours, atol=1e-6)
    mask = np.zeros((24, 28))
    mask[:, :14] = 1
    half = masked_ssim(a, b, mask).numpy()
    ref_half = [
        structural_similarity(
            a[i, :, :14].astype(np.float64),
            b[i, :, :14].astype(np.float64),
            win_size=5,
            data_range=max(np.ptp(a[i]), np.ptp(b[i])),
        )
        for i in range(5)
    ]
    np.testing.assert_allclose(half, ref_half, atol=1e-4)


def _top_left_model(size: int = 16):
    """Probabilities that depend only on the top-left 4x4 pixels: p0 = softmax([20 * mean(tl) - 5, 0])."""

    def prob_fn(x):
        x = np.asarray(x)
        z = 20.0 * x[:, :4, :4].mean(axis=(1, 2, 3)) - 5.0
        p0 = 1.0 / (1.0 + np.exp(-z))
        return np.stack([p0, 1.0 - p0], axis=1)

    return prob_fn


def test_deletion_auc_of_the_used_pixels_beats_a_random_map():
    rng = np.random.RandomState(0)
    x = rng.rand(6, 16, 16, 3).astype(np.float32) * 0.3
    x[:, :4, :4] = 0.9
    good = np.zeros((6, 16, 16), np.float32)
    good[:, :4, :4] = 1.0
    rand = rng.rand(6, 16, 16).astype(np.float32)
    fn = _top_left_model()
    cls = np.zeros(6, np.int64)
    for baseline in ("zero", "blur"):
        g = deletion_insertion(fn, x, good, cls, steps=16, baseline=baseline, blur_sigma=2.0, batch_size=7)
        r = deletion_insertion(fn, x, rand, cls, steps=16, baseline=baseline, blur_sigma=2.0, batch_size=7)
        assert g["deletion_curve"].shape == (6, 17)
        assert np.all(g["deletion"] < r["deletion"]), baseline
        assert np.all(g["insertion"] > r["insertion"]), baseline
    # the curves start at the image's (deletion) and the baseline's (insertion) probability
    np.testing.assert_allclose(g["deletion_curve"][:, 0], fn(x)[:, 0], rtol=1e-6)
    # masked-image score: lower (better) for the small map on the used pixels than for a full map
    good_score = masked_saliency_score(fn, x, good, cls)
    full_score = masked_saliency_score(fn, x, np.ones_like(good) + rand * 1e-3, cls)
    assert np.all(good_score < full_score)


def test_consistency_fidelity_split_on_a_hand_made_table():
    rows = {
        "transform": ["flip_lr", "flip_lr", "rotate", "blur", "blur", "contrast", "random", "random", "ckpt"],
        "kind": [
            "geometric",
            "geometric",
            "geometric",
            "photometric",
            "photometric",
            "photometric",
            "model",
            "model",
            "model",
        ],
        "correct": [True, False, True, True, False, True, False, True, False],
        "ssim": [0.9, 0.5, 0.7, 0.6, 0.3, float("nan"), 0.1, 0.99, 0.2],
        "weight": [6, 6, 1, 6, 6, 1, 1, 1, 1],
    }
    s = cose_summary(rows)
    c = (0.9 * 6 + 0.7 + 0.6 * 6) / 13
    f = (0.5 * 6 + 0.3 * 6 + 0.1 + 0.2) / 14
    assert s["consistency"] == pytest.approx(c)
    assert s["fidelity"] == pytest.approx(f)
    assert s["cose"] == pytest.approx(math.sqrt(c * (1 - f)))
    assert s["consistency_geometric"] == pytest.approx((0.9 * 6 + 0.7) / 7)
    assert s["consistency_photometric"] == pytest.approx(0.6)
    assert s["fidelity_geometric"] == pytest.approx(0.5)
    assert s["fidelity_model"] == pytest.approx(0.15)  # the still-correct perturbation is left out
    assert s["cose_geometric"] == pytest.approx(math.sqrt((0.9 * 6 + 0.7) / 7 * (1 - (3 + 0.3) / 8)))
    assert s["n_consistency"] == 13 and s["n_fidelity"] == 14 and s["n_nan"] == 1


def test_bootstrap_draws_equal_the_summary_of_the_resampled_table():
    rng = np.random.RandomState(3)
    n_img, per = 7, 5
    rows = {
        "image": np.repeat(np.arange(n_img), per),
        "transform": ["rotate"] * (n_img * per),
        "kind": rng.choice(["geometric", "photometric", "model"], n_img * per),
        "correct": rng.rand(n_img * per) > 0.4,
        "ssim": rng.rand(n_img * per),
        "weight": rng.choice([1, 6], n_img * per),
    }
    rows["kind"][rows["kind"] == "model"] = "photometric"  # keep C pairs in every draw
    rows["ssim"][4] = float("nan")
    boot = cose_bootstrap(rows, n_boot=50, seed=11)
    draws = np.random.default_rng(11).integers(0, n_img, size=(50, n_img))
    for i in (0, 1, 17):
        take = np.concatenate([np.flatnonzero(rows["image"] == j) for j in draws[i]])
        resampled = {k: np.asarray(v)[take] for k, v in rows.items()}
        assert boot["cose_draws"][i] == pytest.approx(cose_summary(resampled)["cose"], rel=1e-9)
    lo, hi = boot["cose_ci"]
    assert lo < cose_summary(rows)["cose"] < hi and hi - lo > 0.01
    pattern = np.tile([1, 0, 1, 1, 1], n_img) > 0
    same = dict(rows, ssim=np.where(pattern, 0.8, 0.2), correct=pattern)
    lo, hi = cose_bootstrap(same, n_boot=20)["cose_ci"]  # identical images: no spread
    assert lo == pytest.approx(hi) == pytest.approx(math.sqrt(0.8 * 0.8))
    with pytest.raises(ValueError, match="n_boot"):
        cose_bootstrap(rows, n_boot=0)
    with pytest.raises(ValueError, match="level"):
        cose_bootstrap(rows, level=1.0)


def test_bad_input_fails_clearly():
    x = _images(2)
    with pytest.raises(ValueError, match="unknown `transform` 'shear'"):
        apply_transform(x, "shear", 0.5)
    with pytest.raises(ValueError, match=r"`magnitude` must be a signed fraction in \[-1, 1\]"):
        apply_transform(x, "rotate", 1.5)
    with pytest.raises(ValueError, match="magnitudes"):
        transform_plan(["rotate"], magnitudes=(0.5, 2.0))
    with pytest.raises(TypeError, match="`magnitude` must be a real number"):
        apply_transform(x, "rotate", "big")
    wrong = function_source(lambda im: (_always(0)(im), np.zeros((len(im), 8, 8), np.float32)), "small")
    with pytest.raises(
        ValueError, match=r"map source 'small' returned maps of shape \(2, 8, 8\); expected \(2, 32, 32\)"
    ):
        cose_table(wrong, x, np.zeros(2, np.int64))
    with pytest.raises(ValueError, match="same shape"):
        masked_ssim(np.zeros((2, 8, 8)), np.zeros((2, 8, 9)))
    with pytest.raises(ValueError, match=r"`maps` must be \(B, H, W\)"):
        deletion_insertion(_top_left_model(), x, np.zeros((2, 16, 16)), np.zeros(2, np.int64))
    with pytest.raises(ValueError, match="`labels`"):
        cose_table(function_source(lambda im: (_always(0)(im), im.mean(-1))), x, np.zeros(3, np.int64))


def test_cose_package_is_not_imported_by_hrcam_evaluation():
    import subprocess
    import sys

    code = (
        "import sys, hrcam.evaluation; "
        "print('hrcam.evaluation.cose' in sys.modules, 'tensorflow' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
