"""Score-CAM against a hand computation: masks from the activations, masked-image probabilities as weights."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from hrcam.saliency import ScoreCAM, available_methods, get, saliency


def _model(seed: int = 0) -> keras.Model:
    """conv 'feat' at input resolution (so up-sampling is the identity) -> GAP -> Dense -> Softmax."""
    keras.utils.set_random_seed(seed)
    inp = keras.Input((8, 8, 3))
    h = keras.layers.Conv2D(5, 3, padding="same", activation="relu", name="feat")(inp)
    g = keras.layers.GlobalAveragePooling2D()(h)
    out = keras.layers.Dense(3, name="logits")(g)
    return keras.Model(inp, keras.layers.Softmax()(out))


def _minmax(a: np.ndarray) -> np.ndarray:
    lo, hi = a.min(), a.max()
    return (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)


def test_scorecam_equals_the_hand_computation():
    model = _model()
    x = np.random.RandomState(0).rand(3, 8, 8, 3).astype(np.float32)
    feats = keras.Model(model.input, model.get_layer("feat").output)(x).numpy()  # (3, 8, 8, 5)
    probs = model(x).numpy()
    targets = np.array([[0, 2], [1, 1], [2, 0]])
    want = np.zeros((3, 2, 8, 8))
    for b in range(3):
        masked = np.stack([x[b] * _minmax(feats[b, ..., k])[..., None] for k in range(5)])
        s = model(masked).numpy()  # (5, 3)
        for j, c in enumerate(targets[b]):
            want[b, j] = np.maximum(np.einsum("hwk,k->hw", feats[b], s[:, c]), 0)
    for chunk in (1, 7, 256):
        p, raw = ScoreCAM(model, normalize=False, chunk_size=chunk)(x, target_class=targets)
        np.testing.assert_allclose(p, probs, atol=1e-6)
        np.testing.assert_allclose(raw, want, rtol=1e-4, atol=1e-5)
    _, maps = saliency(model, "score-cam")(x)  # predicted class, normalised
    assert maps.shape == (3, 8, 8) and maps.max() == pytest.approx(1.0)


def test_scorecam_weights_the_channel_the_class_uses():
    """Class 0 is scored by the red channel only: the red blob's channel gets the larger weight."""
    keras.utils.set_random_seed(0)
    inp = keras.Input((16, 16, 3))
    feat = keras.layers.Conv2D(2, 1, use_bias=False, activation="relu", name="feat")(inp)
    g = keras.layers.GlobalAveragePooling2D()(feat)
    logits = keras.layers.Dense(2, use_bias=False, name="logits")(g)
    model = keras.Model(inp, keras.layers.Softmax()(logits))
    model.get_layer("feat").set_weights([np.array([[[[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]]], np.float32)])
    model.get_layer("logits").set_weights([np.array([[20.0, 0.0], [0.0, 0.0]], np.float32)])
    x = np.full((2, 16, 16, 3), 0.1, np.float32)
    x[:, 4:12, 2:6, 0] = 1.0  # red blob on the left: the evidence for class 0
    x[:, 4:12, 10:14, 1] = 1.0  # green blob on the right: ignored by the model
    _, maps = ScoreCAM(model, layer="feat")(x, target_class=0)
    # by hand: mask 0 keeps the red blob (red mean 32/256 -> p0 = sigmoid(20 * 0.125) = 0.924), mask 1 the
    # green blob (red mean 0.1 * 32/256 -> p0 = sigmoid(0.25) = 0.562); map = 0.924 A_red + 0.562 A_green
    w0, w1 = 1 / (1 + np.exp(-2.5)), 1 / (1 + np.exp(-0.25))
    left, right, bg = w0 + 0.1 * w1, 0.1 * w0 + w1, 0.1 * (w0 + w1)
    np.testing.assert_allclose(maps[:, 4:12, 2:6], 1.0, atol=1e-5)
    np.testing.assert_allclose(maps[:, 4:12, 10:14], (right - bg) / (left - bg), atol=1e-5)
    assert maps[0, 0, 0] == 0.0


def test_scorecam_is_registered_with_aliases_and_checks_options():
    assert "ScoreCAM" in available_methods()
    assert get("scorecam") is ScoreCAM and get("Score-CAM") is ScoreCAM and get("score_cam") is ScoreCAM
    with pytest.raises(ValueError, match="`chunk_size` must be a positive int"):
        ScoreCAM(_model(), chunk_size=0)
