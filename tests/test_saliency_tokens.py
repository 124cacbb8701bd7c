"""Vision transformers: CAM methods on token layers (found automatically or named), attention rollout, and the
input-space methods on a small randomly initialised ViT built from Keras layers."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from hrcam import sources
from hrcam.models.vit import build_vit
from hrcam.saliency import CAM, AttentionRollout, GradCAM, GradCAMPlusPlus, LayerCAM, ScoreCAM
from hrcam.saliency.tokens import TokenGrid, find_token_layer, token_grid


@pytest.fixture(scope="module")
def gap_vit() -> keras.Model:
    keras.utils.set_random_seed(0)
    return build_vit(4, (32, 32, 3), patch_size=4, dim=16, depth=2, heads=2, head="pooled")


@pytest.fixture(scope="module")
def token_vit() -> keras.Model:
    keras.utils.set_random_seed(1)
    return build_vit(4, (32, 24, 3), patch_size=4, dim=16, depth=2, heads=2, head="token")


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return np.random.default_rng(0).random((3, 32, 32, 3), dtype=np.float32)


def sub_model(model: keras.Model, name: str) -> keras.Model:
    return keras.Model(model.input, model.get_layer(name).output)


def test_token_grid_inference():
    assert token_grid(64, (32, 32)) == TokenGrid(0, 8, 8)
    assert token_grid(65, (32, 32)) == TokenGrid(1, 8, 8)  # a class token first
    assert token_grid(49, (32, 24)) == TokenGrid(1, 8, 6)  # the input's aspect ratio
    assert token_grid(48, (32, 24)) == TokenGrid(0, 8, 6)
    assert token_grid(51, (32, 32)) is None and token_grid(3, (32, 32)) is None
    assert token_grid(66, (32, 32), grid=(8, 8)) == TokenGrid(2, 8, 8)  # two extra tokens, given grid
    assert token_grid(60, (32, 32), grid=(8, 8)) is None


def test_gradcam_of_a_gap_token_model_equals_its_cam(gap_vit, images):
    """The known answer of the CNN case on tokens: GAP over tokens + Dense makes Grad-CAM = ReLU(CAM)."""
    grad = GradCAM(gap_vit)
    assert grad.layer_name == "norm" and grad.layer_ref.tokens == TokenGrid(0, 8, 8)
    cam = CAM(gap_vit, relu=True)
    assert cam.layer_ref.tokens == TokenGrid(0, 8, 8)
    for target in (None, 2, [0, 1, 3]):
        p1, m1 = cam(images, target_class=target)
        p2, m2 = grad(images, target_class=target)
        np.testing.assert_allclose(p1, p2, atol=1e-6)
        np.testing.assert_allclose(m1, m2, atol=1e-5)
        assert m2.shape == (3, 32, 32)
    # raw Grad-CAM = relu(CAM) / N: a GAP + Dense score's gradient w.r.t. each of the N tokens is kernel / N
    _, raw_cam = CAM(gap_vit, relu=True, normalize=False, upsample=False)(images, target_class=1)
    _, raw_grad = GradCAM(gap_vit, normalize=False, upsample=False)(images, target_class=1)
    assert raw_grad.shape == (3, 8, 8)
    np.testing.assert_allclose(raw_grad, raw_cam / 64.0, rtol=1e-4, atol=1e-6)
    # and the raw CAM is the tokens times the Dense kernel, on the 8 x 8 grid
    tokens = sub_model(gap_vit, "norm")(images).numpy()  # (3, 64, 16)
    kernel = gap_vit.get_layer("logits").kernel.numpy()
    want = np.maximum(tokens @ kernel[:, 1], 0).reshape(3, 8, 8)
    np.testing.assert_allclose(raw_cam, want, rtol=1e-4, atol=1e-5)


def test_class_token_model_uses_the_input_of_the_last_attention(token_vit):
    images = np.random.default_rng(1).random((2, 32, 24, 3), dtype=np.float32)
    found = find_token_layer(token_vit)
    assert found is not None and found[0] == "block1_norm1" and found[3] == TokenGrid(1, 8, 6)
    for cls in (GradCAM, GradCAMPlusPlus, LayerCAM, ScoreCAM):
        method = cls(
            token_vit, normalize=False, upsample=False, **({"chunk_size": 32} if cls is ScoreCAM else {})
        )
        assert method.layer_name == "block1_norm1"
        _, raw = method(images, target_class=[0, 2])
        assert raw.shape == (2, 8, 6) and np.all(np.isfinite(raw))
        _, maps = cls(token_vit)(images)
        assert maps.shape == (2, 32, 24)
    # the hand recipe for Grad-CAM at that layer: gradients of the class score w.r.t. the tokens
    import tensorflow as tf

    method = GradCAM(token_vit, normalize=False, upsample=False)
    with tf.GradientTape() as tape:
        fwd = method._forward(tf.constant(images), watch_features=True, tape=tape)  # noqa: SLF001
        score = tf.reduce_sum(fwd.scores[:, 0])
    grads = tape.gradient(score, fwd.watched).numpy()[:, 1:]  # class token dropped
    feats = fwd.watched.numpy()[:, 1:]
    want = np.maximum(np.einsum("bnc,bc->bn", feats, grads.mean(1)), 0).reshape(2, 8, 6)
    _, raw = method(images, target_class=0)
    np.testing.assert_allclose(raw, want, rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="GlobalAveragePooling"):
        CAM(token_vit)  # a class-token head has no CAM


def test_named_token_layer_and_token_grid(gap_vit, images):
    method = GradCAM(gap_vit, layer="block0_out", upsample=False, normalize=False)
    assert method.layer_ref.tokens == TokenGrid(0, 8, 8)
    assert method(images)[1].shape == (3, 8, 8)
    given = GradCAM(gap_vit, layer="block0_out", token_grid=(8, 8), upsample=False, normalize=False)
    np.testing.assert_allclose(given(images)[1], method(images)[1], atol=1e-6)
    with pytest.raises(ValueError, match="token_grid"):
        GradCAM(gap_vit, layer="block0_out", token_grid=(9, 9))
    with pytest.raises(ValueError, match="token_grid"):
        GradCAM(gap_vit, token_grid=(0, 8))


@pytest.mark.filterwarnings("ignore:model 'vit' has no ReLU")
def test_sources_take_token_models_by_name(gap_vit, token_vit, images):
    """Every CAM source runs on both ViTs; the gradient and perturbation sources, which never look inside the
    model, on one (the contract's shapes)."""
    cheap = {"smoothgrad": "smoothgrad:n_samples=2,seed=0", "integrated_gradients": "ig:steps=4",
             "rise": "rise:n_masks=8,chunk_size=8", "scorecam": "scorecam:chunk_size=32",
             "blur_ig": "blur_ig:steps=3", "guided_ig": "guided_ig:steps=3",
             "lime": "lime:samples=8,segmentation=grid,n_segments=4",
             "extremal_perturbation": "extremal_perturbation:iterations=2",
             "igos_pp": "igos_pp:iterations=1,ig_steps=2,line_steps=2"}  # fmt: skip
    both = ["gradcam", "gradcam_plus_plus", "layercam", "scorecam", "guided_gradcam", "attention_rollout"]
    one = ["cam", "gradients", *(n for n in cheap if n != "scorecam")]
    for name, model in [*((n, m) for n in both for m in (gap_vit, token_vit)), *((n, gap_vit) for n in one)]:
        x = images if model is gap_vit else images[:, :, :24]
        res = sources.get(cheap.get(name, name), model).run(x)
        assert res.maps.shape == (3, *x.shape[1:3]), name
        assert np.all(np.isfinite(res.maps)) and res.maps.max() <= 1 + 1e-6, name


def test_integrated_gradients_completeness_on_a_vit(gap_vit, images):
    # a grey baseline: at black the tokens are zero vectors, where LayerNorm jumps (not integrable)
    ig = sources.get("ig:steps=64,baseline=0.5", gap_vit, normalize=False)
    res = ig.run(images, 2)
    logits = keras.Model(gap_vit.input, gap_vit.get_layer("logits").output)
    diff = logits(images).numpy()[:, 2] - logits(np.full_like(images, 0.5)).numpy()[:, 2]
    np.testing.assert_allclose(res.maps.sum(axis=(1, 2)), diff, rtol=0.02, atol=2e-3)


# ------------------------------------------------------------------------------------- attention rollout


def rollout_reference(weights: list[np.ndarray], prefix: int) -> np.ndarray:
    """NumPy rollout of per-layer (b, heads, N, N) weights: mean of heads, (A + I) / 2, rows normalised."""
    out = None
    for w in weights:
        a = w.mean(1)
        a = (a + np.eye(a.shape[-1])) / 2
        a = a / a.sum(-1, keepdims=True)
        out = a if out is None else a @ out
    return out[:, 0, prefix:] if prefix else out.mean(1)


def attention_weights(model: keras.Model, x: np.ndarray, depth: int) -> list[np.ndarray]:
    outs = []
    for i in range(depth):
        q = keras.Model(model.input, model.get_layer(f"block{i}_norm1").output)(x)
        outs.append(model.get_layer(f"block{i}_attn")(q, q, return_attention_scores=True)[1].numpy())
    return outs


@pytest.mark.parametrize("head", ["pooled", "token"])
def test_attention_rollout_by_hand(head, gap_vit, token_vit, images):
    model = gap_vit if head == "pooled" else token_vit
    x = images if head == "pooled" else images[:, :, :24]
    grid = (8, 8) if head == "pooled" else (8, 6)
    method = AttentionRollout(model, normalize=False, upsample=False)
    assert method.grid.prefix == (head == "token") and not method.per_class
    preds, raw = method(x, target_class=[[0, 3]] * 3)
    assert raw.shape == (3, 2, *grid)
    np.testing.assert_allclose(raw[:, 0], raw[:, 1])  # class-agnostic
    want = rollout_reference(attention_weights(model, x, 2), 1 if head == "token" else 0)
    np.testing.assert_allclose(raw[:, 0], want.reshape(3, *grid), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(preds, model(x).numpy(), atol=1e-5)


def test_attention_rollout_recomputes_weights_the_model_does_not_return(images):
    """A ViT calling MultiHeadAttention without return_attention_scores: the layer is called again."""
    keras.utils.set_random_seed(3)
    inp = keras.Input((32, 32, 3))
    t = keras.layers.Reshape((64, 8))(keras.layers.Conv2D(8, 4, strides=4)(inp))
    q = keras.layers.LayerNormalization(name="block0_norm1")(t)
    t = keras.layers.Add()([t, keras.layers.MultiHeadAttention(2, 4, name="block0_attn")(q, q)])
    out = keras.layers.Dense(3)(keras.layers.GlobalAveragePooling1D()(t))
    model = keras.Model(inp, out)
    _, raw = AttentionRollout(model, normalize=False, upsample=False, head_fusion="max")(images)
    q_val = keras.Model(inp, q)(images)
    w = model.get_layer("block0_attn")(q_val, q_val, return_attention_scores=True)[1].numpy()
    a = (w.max(1) + np.eye(64)) / 2
    a = a / a.sum(-1, keepdims=True)
    np.testing.assert_allclose(raw, a.mean(1).reshape(3, 8, 8), rtol=1e-4, atol=1e-6)


def test_attention_rollout_refuses_a_cnn():
    keras.utils.set_random_seed(0)
    inp = keras.Input((16, 16, 3))
    out = keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(inp)))
    with pytest.raises(ValueError, match="no keras.layers.MultiHeadAttention"):
        AttentionRollout(keras.Model(inp, out))
    # and a CNN still gets its last conv layer for Grad-CAM (no token layer)
    assert GradCAM(keras.Model(inp, out)).layer_ref.tokens is None


def test_vit_file_round_trip(tmp_path, gap_vit, images):
    """Standard layers only: a saved ViT loads with plain Keras and gives the same maps."""
    gap_vit.save(tmp_path / "vit.keras")
    loaded = keras.saving.load_model(tmp_path / "vit.keras")
    for name in ("gradcam", "attention_rollout"):
        a = sources.get(name, gap_vit).run(images).maps
        b = sources.get(name, loaded).run(images).maps
        np.testing.assert_allclose(a, b, atol=1e-5)
