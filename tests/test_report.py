"""`hrcam report` (issue 23): the report's content, the page, the command, and the page in a real browser
(headless Chromium from file://: rows x columns, no broken images, sorting through the URL fragment, a
screenshot)."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

from hrcam.highres import DenseNetFCNConfig, FullModel, HalfModel
from hrcam.plotting.colors import DEFAULT_CMAP, css_gradient
from hrcam.report import build_report, from_synthetic, make_report, write_report

TINY = DenseNetFCNConfig(num_blocks=2, layers_per_block=2, growth_rate=4, initial_filters=8, cam_channels=6)
SOURCES = ["cam", "gradcam", "high_res_cam"]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("report")
    keras.utils.set_random_seed(3)
    hm = HalfModel(num_classes=3, input_shape=(32, 32, 3), config=TINY)
    fm = FullModel(half_model=hm)
    return {"dir": d, "half": hm.save(d / "half.keras"), "full": fm.save(d / "full.keras"), "fm": fm}


@pytest.fixture(scope="module")
def report(models):
    images = from_synthetic(7, image_size=32, num_classes=3, seed=5)
    return build_report(models["fm"], images, SOURCES, steps=2)


def test_report_content_scores_every_source(report):
    assert [c.title for c in report.columns] == SOURCES and report.target == "label"
    assert report.title == "hrcam map report"
    assert report.metrics() == ["iou", "pxap", "box_iou", "deletion", "insertion"]
    for c in report.columns:
        assert c.maps.shape == (7, 32, 32) and c.maps.dtype == np.uint8
        assert c.classes.tolist() == report.images.labels.tolist()  # maps of the true class
        for m in report.metrics():
            assert c.scores[m].shape == (7,)
        assert 0 <= c.summary["top1"] <= 1 and 0 <= c.summary["insertion"] <= 1
    summary = report.to_json()
    assert summary["num_images"] == 7 and set(summary["sources"]) == set(SOURCES)
    json.dumps(summary)  # JSON-ready (NaN as None)
    from hrcam.evaluation.pixel_ap import pxap

    cam = report.columns[0]
    assert cam.summary["pxap"] == pytest.approx(pxap(cam.maps / 255.0, report.images.masks), abs=1e-3)


class Dom(HTMLParser):
    """The grid of a report page: rows (their cells and scores) and every image's src and class."""

    def __init__(self) -> None:
        super().__init__()
        self.rows, self.images, self.body = [], [], {}
        self._cell = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "body":
            self.body = a
        elif tag == "tr" and a.get("class") == "row":
            self.rows.append({"index": int(a["data-index"]), "cells": {}})
        elif tag == "td" and self.rows and a.get("data-source"):
            self._cell = self.rows[-1]["cells"].setdefault(a["data-source"], {})
        elif tag == "span" and self._cell is not None and "data-metric" in a:
            value = a.get("data-value")
            self._cell[a["data-metric"]] = float(value) if value else None
        elif tag == "img":
            self.images.append(a)

    def handle_endtag(self, tag):
        if tag == "td":
            self._cell = None


def page_images(html: str) -> list[np.ndarray]:
    """The decoded data-URI images of the page's JSON payload."""
    uris = re.findall(r"data:image/(?:png|jpeg);base64,[A-Za-z0-9+/=]+", html)
    return [np.asarray(Image.open(io.BytesIO(base64.b64decode(u.split(",", 1)[1])))) for u in uris]


def test_page_is_self_contained_and_assets_mode(report, tmp_path):
    page = write_report(report, tmp_path / "r.html", page_size=5)
    text = page.read_text()
    assert "http://" not in text and "https://" not in text  # nothing to fetch
    assert css_gradient(DEFAULT_CMAP) in text  # the colour scale legend of the one convention
    payload = json.loads(re.search(r'id="report-data">(.*?)</script>', text, re.S).group(1))
    assert len(payload["rows"]) == 7 and payload["page_size"] == 5
    assert [c["key"] for c in payload["columns"]] == SOURCES
    decoded = page_images(text)
    assert len(decoded) == 7 * (1 + len(SOURCES)) and all(im.shape == (32, 32, 3) for im in decoded)
    for m in ("iou", "pxap", "box_iou", "deletion", "insertion", "top1"):
        assert f"data-metric='{m}'" in text  # one chart per metric
    assert "#sort=gradcam:iou&amp;order=desc" in text  # the table's values sort the grid
    # images beside the page
    page = write_report(report, tmp_path / "assets" / "index.html", inline=False)
    files = sorted((tmp_path / "assets" / "index_files").iterdir())
    assert len(files) == 7 * (1 + len(SOURCES)) and "data:image" not in page.read_text()
    assert "index_files/" in page.read_text()
    # names are data, never markup: one that would close the script is escaped
    import dataclasses

    names = ["</script><b>x", *report.images.names[1:]]
    evil = dataclasses.replace(report, images=dataclasses.replace(report.images, names=names))
    text = write_report(evil, tmp_path / "e.html").read_text()
    assert text.count("</script>") == 2 and "<\\/script><b>x" in text


def test_report_of_files_draws_at_each_files_resolution(models, tmp_path):
    from hrcam.report import from_files

    rng = np.random.default_rng(0)
    (tmp_path / "imgs").mkdir()
    for i, (h, w) in enumerate([(40, 60), (300, 200)]):
        Image.fromarray((rng.random((h, w, 3)) * 255).astype(np.uint8)).save(tmp_path / "imgs" / f"im{i}.png")
    (tmp_path / "list.txt").write_text("imgs/im1.png\n")
    images = from_files([tmp_path / "imgs", tmp_path / "list.txt"], (32, 32))
    assert images.names == ["im0", "im1", "im1-1"] and images.labels is None
    summary = make_report(models["half"], images, ["gradcam"], tmp_path / "f.html", steps=2)
    assert summary["target"] == "predicted" and summary["num_images"] == 3
    text = Path(summary["report"]).read_text()
    sizes = sorted({im.shape[:2] for im in page_images(text)})
    # the 40x60 file as it is; the 300x200 one as a 128 px thumbnail and at its own resolution
    assert sizes == [(40, 60), (128, 85), (300, 200)]


def test_cli_report_on_synthetic_data(models, tmp_path, capsys):
    from hrcam.cli import main

    out = tmp_path / "cli.html"
    argv = ["report", "--model", str(models["full"]), "--source", "cam", "--source", "hrcam",
            "--data", "synthetic", "--limit", "5", "--steps", "2", "--out", str(out), "--json"]  # fmt: skip
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["report"] == str(out) and set(summary["sources"]) == {"cam", "high_res_cam"}
    assert summary["sources"]["cam"]["iou"] is not None
    assert main(["report", "--model", str(models["half"]), "--out", str(tmp_path / "x.html")]) == 2
    assert "--data" in capsys.readouterr().err
    assert main(["report", "--model", str(tmp_path / "none.keras"), "--data", "synthetic", "--out", "x"]) == 2


# --- the page in a real browser ---------------------------------------------------------------------------

BROWSER_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


def chromium() -> str:
    """Debian's chromium (.ci/run installs it); the browser tests skip only where it cannot be installed."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get("HRCAM_REQUIRE_BROWSER"):
        pytest.fail("HRCAM_REQUIRE_BROWSER is set but no chromium is installed")
    pytest.skip("chromium is not installed (apt-get install chromium; .ci/run does)")


def browse(page: Path, fragment: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    url = page.resolve().as_uri() + fragment
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    cmd = [chromium(), *BROWSER_FLAGS, f"--user-data-dir={profile}", "--window-size=1400,9000",
           "--virtual-time-budget=15000", *args, url]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=True)


def dom(page: Path, fragment: str, tmp_path: Path) -> Dom:
    parsed = Dom()
    parsed.feed(browse(page, fragment, tmp_path, "--dump-dom").stdout)
    return parsed


def test_report_in_a_real_browser(report, tmp_path):
    page = write_report(report, tmp_path / "report.html", page_size=5)
    first = dom(page, "", tmp_path)
    assert first.body["data-rows"] == "5" and first.body["data-page"] == "1"
    assert [r["index"] for r in first.rows] == [0, 1, 2, 3, 4]  # image order
    assert all(list(r["cells"]) == SOURCES for r in first.rows)  # rows x columns: 5 x (1 + 3)
    grid = [im for im in first.images if im.get("loading") == "lazy"]
    assert len(grid) == 5 * (1 + len(SOURCES)) and all(im["src"].startswith("data:image/") for im in grid)
    assert first.body["data-images-broken"] == "0" and first.body["data-images-loaded"] == str(len(grid))

    # sorting through the URL fragment: Grad-CAM's IoU, best first, over all pages
    desc = dom(page, "#sort=gradcam:iou&order=desc", tmp_path)
    assert desc.body["data-sort"] == "gradcam:iou" and desc.body["data-order"] == "desc"
    values = [r["cells"]["gradcam"]["iou"] for r in desc.rows]
    want = sorted(report.columns[1].scores["iou"], reverse=True)[:5]
    assert values == pytest.approx(want, abs=1e-3) and values == sorted(values, reverse=True)
    second = dom(page, "#sort=gradcam:iou&order=desc&page=2", tmp_path)
    assert second.body["data-rows"] == "2" and second.body["data-page"] == "2"
    assert {r["index"] for r in desc.rows} | {r["index"] for r in second.rows} == set(range(7))
    deletion = dom(page, "#sort=high_res_cam:deletion&order=asc", tmp_path)
    values = [r["cells"]["high_res_cam"]["deletion"] for r in deletion.rows]
    assert values == sorted(values)

    shot = tmp_path / "report.png"
    browse(page, "", tmp_path, f"--screenshot={shot}")
    image = np.asarray(Image.open(shot).convert("RGB"))
    assert image.shape[0] >= 1000 and image.std() > 10  # drawn, not blank
    keep = os.environ.get("HRCAM_TEST_ARTIFACTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / "report.png")
