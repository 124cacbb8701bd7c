"""Overlays, the saliency figure (2D grid, 3D montage of slices) and atomic PNG export."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib import colormaps
from matplotlib.figure import Figure
from PIL import Image

from hrcam.plotting import overlay, saliency_plot, save_overlays


def test_overlay_blends_image_and_colormap():
    img = np.random.RandomState(0).randint(0, 256, (6, 5, 3)).astype(np.uint8)
    m = np.linspace(0, 1, 30, dtype=np.float32).reshape(6, 5)
    np.testing.assert_array_equal(overlay(img, m, alpha=0.0), img)
    heat = np.round(colormaps["viridis"](m)[..., :3] * 255).astype(np.uint8)
    np.testing.assert_array_equal(overlay(img, m, alpha=1.0, cmap="viridis"), heat)
    half = overlay(img, m, alpha=0.5, cmap="viridis").astype(int)
    want = np.round(0.5 * img / 255.0 * 255 + 0.5 * colormaps["viridis"](m)[..., :3] * 255)
    assert np.abs(half - want).max() <= 1
    out = overlay(img.astype(np.float32) / 255.0, m, alpha=0.3)
    assert out.dtype == np.uint8 and out.shape == (6, 5, 3)


def test_overlay_resizes_and_normalises_the_map():
    gray = np.full((8, 8), 0.5, np.float32)  # (H, W) grayscale image
    low = np.array([[0.0, 2.0], [4.0, 6.0]], np.float32)  # outside [0, 1]: min-max scaled
    out = overlay(gray, low, alpha=1.0, cmap="gray")
    assert out.shape == (8, 8, 3)
    assert out[0, 0, 0] == 0 and out[-1, -1, 0] == 255  # corners keep the extremes
    assert out[0, 0, 0] < out[0, -1, 0] < out[-1, 0, 0] < out[-1, -1, 0]
    np.testing.assert_array_equal(overlay(gray, np.zeros((2, 2)), alpha=1.0, cmap="gray"), 0)
    with pytest.raises(ValueError, match="alpha"):
        overlay(gray, low, alpha=1.5)
    with pytest.raises(ValueError, match="`map` must be 2-D"):
        overlay(gray, np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="`image` must be"):
        overlay(np.zeros((4, 4, 2)), low)


def test_saliency_plot_2d_grid_and_3d_montage():
    x = np.random.RandomState(0).rand(3, 8, 8, 3).astype(np.float32)
    fig = saliency_plot(x, np.random.rand(3, 8, 8), alpha=0.8)
    assert isinstance(fig, Figure) and len(fig.axes) == 3 * 2
    fig = saliency_plot(x, np.random.rand(3, 2, 8, 8), titles=["cat", "dog"])
    assert len(fig.axes) == 3 * 3 and fig.axes[1].get_title() == "cat"
    vol = np.random.rand(2, 10, 6, 6, 1).astype(np.float32)
    fig = saliency_plot(vol, np.random.rand(2, 10, 6, 6), mode="3D", n_slices=4)
    assert len(fig.axes) == 2 * 4
    assert [ax.get_title() for ax in fig.axes[:4]] == ["slice 0", "slice 3", "slice 6", "slice 9"]
    fig.canvas.draw()  # renders without pyplot
    with pytest.raises(ValueError, match="`maps` must be"):
        saliency_plot(x, np.random.rand(2, 8, 8))
    with pytest.raises(ValueError, match="`mode`"):
        saliency_plot(x, np.random.rand(3, 8, 8), mode="4D")


def test_save_overlays_writes_pngs_atomically(tmp_path):
    x = (np.random.RandomState(0).rand(2, 8, 6, 3) * 255).astype(np.uint8)
    paths = save_overlays(x, np.random.rand(2, 8, 6), tmp_path / "out", names=["a", "b"])
    assert [p.name for p in paths] == ["a.png", "b.png"]
    assert Image.open(paths[0]).size == (6, 8) and Image.open(paths[0]).mode == "RGB"
    maps = np.random.RandomState(1).rand(2, 8, 6).astype(np.float32)
    p = save_overlays(x, maps, tmp_path / "out", names=["a", "b"], alpha=0.5)[0]
    np.testing.assert_array_equal(np.asarray(Image.open(p)), overlay(x[0], maps[0], alpha=0.5))
    multi = save_overlays(x, np.random.rand(2, 3, 8, 6), tmp_path / "multi")
    assert [q.name for q in multi] == [f"{i:04d}_{j}.png" for i in range(2) for j in range(3)]
    vol = save_overlays(
        np.random.rand(1, 5, 4, 4, 1), np.random.rand(1, 5, 4, 4), tmp_path / "vol", mode="3D"
    )
    assert Image.open(vol[0]).size == (5 * 4, 4)  # a strip of 5 slices
    assert sorted(f.name for f in (tmp_path / "out").iterdir()) == [
        "a.png",
        "b.png",
    ]  # no temporary files left
    with pytest.raises(ValueError, match="unique"):
        save_overlays(x, np.random.rand(2, 8, 6), tmp_path, names=["a", "a"])
    with pytest.raises(ValueError, match="plain file stems"):
        save_overlays(x, np.random.rand(2, 8, 6), tmp_path, names=["a", "../b"])


def test_unique_stems_and_write_overlays_at_each_images_size(tmp_path):
    from hrcam.plotting.overlays import unique_stems, write_overlays

    assert unique_stems(["a/x.jpg", "b/x.png", "c/x.jpg", "y.png"]) == ["x", "x-1", "x-2", "y"]
    small, big = np.zeros((4, 6, 3), np.uint8), np.zeros((30, 20), np.uint8)
    m = np.random.RandomState(0).rand(8, 8).astype(np.float32)
    paths = write_overlays([("x", small, {"": m}), ("x-1", big, {"cam": m, "gradcam": m})], tmp_path)
    assert [p.name for p in paths] == ["x.png", "x-1_cam.png", "x-1_gradcam.png"]
    assert Image.open(paths[0]).size == (6, 4) and Image.open(paths[2]).size == (20, 30)
    with pytest.raises(ValueError, match="same file name|stems must be unique"):
        write_overlays([("x", small, {"": m}), ("x", small, {"": m})], tmp_path / "dup")
    with pytest.raises(ValueError, match="plain file stems"):
        write_overlays([("../x", small, {"": m})], tmp_path)


def test_one_colour_convention_perceptually_uniform_by_default():
    """Every drawing function, the CLI and the report default to one perceptually uniform colour map; jet
    only on request (no "jet" literal left in the package)."""
    import ast
    import inspect
    from pathlib import Path

    from hrcam.cli import build_parser
    from hrcam.highres.refine.figure import plot_pipeline
    from hrcam.plotting import colors
    from hrcam.plotting.grids import cam_grid_figure
    from hrcam.plotting.overlays import write_overlays
    from hrcam.sources.plots import compare_sources

    assert colors.DEFAULT_CMAP in ("inferno", "viridis", "magma", "plasma", "cividis")
    for fn in (overlay, saliency_plot, save_overlays, write_overlays, cam_grid_figure, compare_sources):
        assert inspect.signature(fn).parameters["cmap"].default == colors.DEFAULT_CMAP, fn.__name__
    assert inspect.signature(plot_pipeline).parameters["cmap"].default == colors.DEFAULT_CMAP
    img = np.zeros((4, 4, 3), np.uint8)
    m = np.linspace(0, 1, 16, dtype=np.float32).reshape(4, 4)
    np.testing.assert_array_equal(overlay(img, m, alpha=1.0), overlay(img, m, alpha=1.0, cmap="inferno"))
    jet = overlay(img, m, alpha=1.0, cmap="jet")  # on request
    assert not np.array_equal(overlay(img, m, alpha=1.0), jet)
    table = colors.color_table(n=3)
    assert table.shape == (3, 3) and table.dtype == np.uint8
    np.testing.assert_array_equal(table[0], np.round(np.array(colormaps["inferno"](0.0)[:3]) * 255))
    grad = colors.css_gradient(stops=3)
    assert grad.startswith("linear-gradient(to right, #") and grad.endswith("100%)") and grad.count("#") == 3
    with pytest.raises(ValueError, match="`cmap`"):
        colors.check_cmap("no-such-map")
    assert build_parser().parse_args(["explain", "x.png", "--out", "o"]).cmap == colors.DEFAULT_CMAP
    package = Path(colors.__file__).resolve().parents[1]
    found = [  # no "jet" literal: not as a default, not passed anywhere
        str(p)
        for p in package.rglob("*.py")
        for node in ast.walk(ast.parse(p.read_text()))
        if isinstance(node, ast.Constant) and node.value == "jet"
    ]
    assert not found, found
