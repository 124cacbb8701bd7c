"""hrcam.highres.refine.figure: the step-by-step figure is drawn from the pipeline's dict."""

from __future__ import annotations

import io

import numpy as np
import pytest
from matplotlib.figure import Figure
from scipy import ndimage

import hrcam.highres.refine as pp
import hrcam.highres.refine.figure as figure_module
from hrcam.highres.refine.figure import PANELS
from hrcam.highres.refine.figure import plot_pipeline as pipeline_figure


@pytest.fixture(scope="module")
def scene():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:64, :64]
    obj = ((yy - 30) ** 2 + (xx - 34) ** 2) < 15**2
    img = (rng.random((64, 64, 3)) * 0.3 + 0.5 * obj[..., None]).astype(np.float32)
    high = obj * (0.6 + 0.4 * np.exp(-((yy - 30) ** 2 + (xx - 34) ** 2) / 200)) + 0.02 * rng.random((64, 64))
    low = ndimage.gaussian_filter(obj.reshape(8, 8, 8, 8).mean((1, 3)), 1.0)
    return img, low.astype(np.float32), high.astype(np.float32)


def test_figure_has_every_step_and_runs_the_pipeline_once(scene, monkeypatch):
    calls = []
    real = pp.pipeline

    def counting(*a, **k):
        calls.append(k)
        return real(*a, **k)

    monkeypatch.setattr(figure_module, "run_pipeline", counting)
    fig = pipeline_figure(*scene, roi_percentile=80)
    assert calls == [{"roi_percentile": 80}]
    assert isinstance(fig, Figure)
    assert [a.get_title() for a in fig.axes] == list(PANELS)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=40)
    assert buf.getvalue()[:4] == b"\x89PNG"


def test_panels_show_the_dict_not_a_recomputation(scene):
    img, low, high = scene
    steps = pp.pipeline(img, low, high)
    doctored = dict(steps)
    doctored["merged"] = np.tile(np.linspace(0, 1, 64, dtype=np.float32), (64, 1))  # recognisable
    doctored["bounds"] = (0.125, 0.625)
    doctored["focal_points"] = np.array([[3, 5], [7, 11]])
    fig = pipeline_figure(img, low, high, steps=doctored)
    ax = fig.axes
    np.testing.assert_array_equal(
        ax[PANELS.index("High-low merger")].images[0].get_array(), doctored["merged"]
    )
    np.testing.assert_array_equal(ax[PANELS.index("Blurred")].images[0].get_array(), steps["blurred"])
    np.testing.assert_array_equal(
        ax[PANELS.index("Region growing")].images[0].get_array(), steps["segmented"].astype(float)
    )
    hist = ax[PANELS.index("Edge histogram")]
    lines = sorted(line.get_xdata()[0] for line in hist.get_lines() if line.get_linestyle() == "--")
    assert lines == [0.125, 0.625]
    offsets = ax[PANELS.index("Focal points")].collections[0].get_offsets()
    np.testing.assert_array_equal(np.asarray(offsets), [[3, 5], [7, 11]])


def test_bad_arguments(scene):
    img, low, high = scene
    steps = pp.pipeline(img, low, high)
    with pytest.raises(ValueError, match="only used when `steps` is None"):
        pipeline_figure(img, low, high, steps=steps, roi_percentile=90)
    batch = pp.pipeline(img[None].repeat(2, 0), low[None].repeat(2, 0), high[None].repeat(2, 0))
    with pytest.raises(ValueError, match="one image's steps"):
        pipeline_figure(img, low, high, steps=batch)
    with pytest.raises(ValueError, match="lacks"):
        pipeline_figure(img, low, high, steps={"merged": steps["merged"]})


def test_the_figure_no_longer_shares_the_pipeline_computations_name():
    import hrcam.highres.refine.figure as module
    import hrcam.plotting

    assert not hasattr(module, "pipeline") and not hasattr(hrcam.plotting, "pipeline")
    assert module.plot_pipeline is pipeline_figure
