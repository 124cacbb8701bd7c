"""CASM (issue 11): masker, pool, training step, config errors, scoring statistics."""

import numpy as np
import pytest

from hrcam.casm.config import REPRODUCE, load_casm_config
from hrcam.casm.pool import ClassifierPool
from hrcam.casm.scoring import crop_boxes
from hrcam.evaluation.mask_stats import mask_statistics


# -- scoring: hand-computed --------------------------------------------------------------------
def test_mask_statistics_hand_computed():
    m = np.zeros((2, 2, 2), np.float32)
    # image 0: mean 0.5; entropy: two pixels of 1 bit -> 2/4; TV: h (0 + 1) / 2, v (.25 + .25) / 2
    m[0] = [[0.5, 0.5], [0.0, 1.0]]
    m[1] = 1.0  # mean 1, entropy 0, TV 0
    s = mask_statistics(m)
    assert s["mask_mean"] == pytest.approx(0.75)
    assert s["mask_std_of_means"] == pytest.approx(0.25)
    assert s["mask_entropy"] == pytest.approx((0.5 + 0.0) / 2)
    assert s["mask_tv"] == pytest.approx(((1.0 / 2 + 0.5 / 2) + 0.0) / 2)


def test_crop_boxes_maps_like_resize_and_centre_crop():
    # 100x50 (h x w) image, Resize(shorter side 40) -> 80x40, CenterCrop 40 -> top offset 20
    b = crop_boxes(np.array([[10, 50, 30, 90]]), (100, 50), resize=40, size=40)
    np.testing.assert_allclose(b, [[8, 40 - 20, 24, 72 - 20]])


def test_casm_box_rule_on_a_hand_mask():
    from hrcam.evaluation.localisation import localization_scores

    m = np.full((1, 8, 8), 0.1, np.float32)
    m[0, 2:6, 1:5] = 0.9  # 16 bright pixels; alpha = (16*.9 + 48*.1)/64 = 0.3 -> keeps the top ~19 pixels
    loc = localization_scores(m, [np.array([[1, 2, 5, 6]], float)], correct=[True])
    np.testing.assert_array_equal(loc["boxes"][0], [1, 2, 5, 6])  # ties at 0.1 are not > th: only the block
    assert loc["LE"][0] == 0 and loc["OM"][0] == 0
    p, r = 16 * 0.9 / m.sum(), 16 * 0.9 / 16
    assert loc["F1"][0] == pytest.approx(2 * p * r / (p + r + 1e-6), rel=1e-5)


# -- the pool: fake clock (batch index) and seeded RNG -----------------------------------------
def test_pool_size_cap_schedule_and_random_replacement():
    pool = ClassifierPool(f_size=3, hp=0.5, smf=4, seed=1)
    taken = []
    for batch in range(40):  # fake clock: the batch index within one epoch
        if pool.due(batch):
            slot = pool.add([np.full(2, batch, np.float32)])
            taken.append((batch, slot))
        assert len(pool) <= 3
    # the first batch (empty pool), then every batch with i % smf == smf - 1
    assert [b for b, _ in taken] == [0, 3, 7, 11, 15, 19, 23, 27, 31, 35, 39]
    assert [s for _, s in taken[:3]] == [0, 1, 2]
    slots = [s for _, s in taken[3:]]
    assert len(set(slots)) > 1 and all(0 <= s < 3 for s in slots)  # random slots once full
    assert pool.stored == 11 and len(pool) == 3


def test_pool_probability_and_disabled_modes():
    pool = ClassifierPool(f_size=5, hp=0.3, smf=1, seed=0)
    assert pool.choose() is None  # empty
    for i in range(5):
        pool.add([np.zeros(1) + i])
    picks = [pool.choose() for _ in range(4000)]
    used = np.array([p is not None for p in picks])
    assert abs(used.mean() - 0.3) < 0.03
    assert set(p for p in picks if p is not None) == set(range(5))
    never = ClassifierPool(f_size=5, hp=0.0, smf=1)
    assert not never.due(0) and never.choose() is None
    fixed = ClassifierPool(f_size=5, hp=0.5, smf=1, enabled=False)
    assert not fixed.due(0)


def test_pool_save_load_restores_snapshots_and_rng(tmp_path):
    a = ClassifierPool(f_size=2, hp=0.5, smf=1, seed=3)
    for i in range(3):
        a.add([np.arange(3) + i, np.ones((2, 2)) * i])
    state = a.save(tmp_path / "pool.npz")
    b = ClassifierPool(f_size=2, hp=0.5, smf=1, seed=99)
    b.load(tmp_path / "pool.npz", state)
    assert len(b) == 2 and b.stored == 3
    for sa, sb in zip(a.snapshots, b.snapshots):
        for x, y in zip(sa, sb):
            np.testing.assert_array_equal(x, y)
    assert [a.choose() for _ in range(20)] == [b.choose() for _ in range(20)]


# -- configs ----------------------------------------------------------------------------------
def test_reproduce_sets_the_table():
    for mode, (fixed, hp, smf, lam_e, lam_a) in REPRODUCE.items():
        c = load_casm_config("casm-synthetic", reproduce=mode)
        t = c.train
        assert (t.fixed_classifier, t.hp, t.smf, t.lambda_r) == (fixed, hp, smf, lam_e)
        c = load_casm_config("casm-synthetic", ["train.adversarial=true"], reproduce=mode)
        assert c.train.lambda_r == lam_a


@pytest.mark.parametrize(
    "overrides, reproduce, match",
    [
        ([], "L10", "reproduce"),
        (["reproduce=null", "train.hp=1.5"], None, r"train.hp`: expected a number in \[0, 1\]"),
        (["reproduce=null", "train.hp=-0.1"], None, r"train.hp"),
        (["train.f_size=0"], None, "f_size"),
        (["masker.upsample=cubic"], None, "upsample"),
        (["nonsense.x=1"], None, "unknown config section"),
    ],
)
def test_bad_configs_fail_clearly(overrides, reproduce, match):
    with pytest.raises(ValueError, match=match):
        load_casm_config("casm-synthetic", overrides, reproduce=reproduce)


def test_unknown_feature_layer_fails_clearly():
    from hrcam.casm.masker import CasmMasker
    from hrcam.casm.resnet import build_resnet

    with pytest.raises(ValueError, match="feature layer 'layer9' is not a layer"):
        CasmMasker(build_resnet(3, (32, 32, 3)), features=["layer1", "layer9"], logits_layer="fc")
    import keras

    plain = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="masker.features"):
        CasmMasker(plain)
