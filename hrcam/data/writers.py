"""Writing synthetic scenes as a folder dataset (ImageNet layout: PNG images, VOC XML boxes, PNG masks)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import numpy as np

from hrcam.data.bbox import write_voc_xml
from hrcam.data.scenes import SyntheticScenes
from hrcam.io import atomic_dir, write_text

__all__ = ["write_folder"]


# ----------------------------------------------------------------------------------------------------------
# Writing scenes as a folder dataset


def _write_png(path: Path, array: np.ndarray) -> None:
    import cv2  # a declared dependency; imported lazily (only writing PNGs needs it)

    arr = array if array.ndim == 2 else array[..., ::-1]  # RGB -> BGR
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(arr))
    if not ok:
        raise OSError(f"could not encode {path} as PNG")
    path.write_bytes(buf.tobytes())


def write_folder(
    scenes: SyntheticScenes, root: str | os.PathLike, split: str = "train", overwrite: bool = False
) -> Path:
    """Write single-label scenes in the ImageNet folder layout under ``root``.

    Writes ``ROOT/<split>/<class>/<stem>.png`` (RGB), ``ROOT/bbox/<split>/<stem>.xml`` (VOC/ImageNet XML,
    0-based inclusive boxes, converted from the pixel-edge boxes),
    ``ROOT/masks/<split>/<class>/<stem>.png`` (0/255 grayscale) and
    ``ROOT/classes.txt`` (class order, since folder names do not sort in class order); ``stem`` is
    ``<split>_<index:06d>``. Each of the three split folders is built in a temporary folder and renamed into
    place (masks, then boxes, then images last), so ``ROOT/<split>`` only ever appears complete. Other splits
    already under ``root`` are kept.

    Args:
        scenes: single-label :class:`SyntheticScenes`.
        root: dataset root (created if missing).
        split: "train", "val" or "test".
        overwrite: replace an existing split; otherwise an existing split raises ``FileExistsError``.

    Returns:
        ``Path(root)``.

    Raises:
        ValueError: multi-label scenes, a bad split name, or a ``classes.txt`` listing other classes.
        FileExistsError: the split exists and ``overwrite`` is False.
    """
    if not isinstance(scenes, SyntheticScenes):
        raise TypeError(f"`scenes` must be SyntheticScenes, got {type(scenes).__name__}")
    if scenes.multi_label:
        raise ValueError("`scenes` is multi-label; the folder layout holds one class per image")
    if split not in ("train", "val", "test"):
        raise ValueError(f"`split` must be 'train', 'val' or 'test', got {split!r}")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    names = list(scenes.class_names)
    classes_txt = root / "classes.txt"
    expected = "".join(f"{c}\t{c}\n" for c in names)
    if classes_txt.exists():
        have = [
            line.split()[0] for line in classes_txt.read_text(encoding="utf-8").splitlines() if line.strip()
        ]
        if have != names:
            raise ValueError(f"{classes_txt} lists classes {have}, but the scenes have {names}")
    absent = [names[c] for c in range(len(names)) if not np.any(scenes.labels == c)]
    if absent:
        raise ValueError(
            f"`scenes` has no example of classes {absent}; a folder dataset needs every class in every split "
            f"(the first {len(names)} scenes of make_scenes hold every class once)"
        )
    targets = [root / "masks" / split, root / "bbox" / split, root / split]
    for t in targets:
        if t.exists() and not overwrite:
            raise FileExistsError(f"{t} already exists; pass overwrite=True to replace split {split!r}")
    size = (scenes.image_size, scenes.image_size)
    with contextlib.ExitStack() as stack:
        img_dir, box_dir, mask_dir = (
            stack.enter_context(atomic_dir(t, overwrite=overwrite)) for t in reversed(targets)
        )
        for name in names:
            (img_dir / name).mkdir()
            (mask_dir / name).mkdir()
        for i in range(len(scenes)):
            name = names[int(scenes.labels[i])]
            stem = f"{split}_{i:06d}"
            _write_png(img_dir / name / f"{stem}.png", scenes.images[i])
            _write_png(mask_dir / name / f"{stem}.png", scenes.masks[i].astype(np.uint8) * 255)
            box_names = [names[int(c)] for c in scenes.box_labels[i]]
            write_voc_xml(
                box_dir / f"{stem}.xml", scenes.boxes[i], box_names, size, filename=f"{stem}.png", folder=name
            )
        if not classes_txt.exists():
            write_text(classes_txt, expected)
    return root
