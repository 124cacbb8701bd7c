"""The one resolver of dataset names: ``--data`` of every command and the ``data`` section of every config.

A data spec is one of::

    synthetic                 the built-in synthetic scenes
    ROOT  or  folder:ROOT     a folder dataset in the ImageNet layout (:mod:`hrcam.data.folder`)
    voc2007:ROOT              PASCAL VOC 2007 (ROOT holds VOCdevkit/, or is VOCdevkit/ or VOC2007/)
    voc2012:ROOT              PASCAL VOC 2012
    coco2014:ROOT             MS COCO 2014 (ROOT holds annotations/, train2014/, val2014/)
    coco2017:ROOT             MS COCO 2017
    cub:ROOT                  CUB-200-2011 (ROOT holds CUB_200_2011/ and segmentations/, or is CUB_200_2011/)

:func:`parse_data_spec` turns a spec into ``(source, root)``, the two keys of a config's data section
(``data.source``, ``data.root``); :func:`open_dataset` gives the dataset object of a source. VOC and COCO are
multi-label (the Explainer's datasets); CUB, folders and synthetic scenes are single-label and serve every
command. The names are the config layer's (:data:`hrcam.config.sections.DATA_SOURCES`: configs are checked
before TensorFlow starts, and the config layer imports no other package); this module imports no TensorFlow.
"""

from __future__ import annotations

import os
from typing import Any

from hrcam.config.sections import DATA_SOURCES, MULTI_LABEL_SOURCES, SINGLE_LABEL_SOURCES

__all__ = [
    "DATA_SOURCES",
    "MULTI_LABEL_SOURCES",
    "OFFICIAL_SOURCES",
    "SINGLE_LABEL_SOURCES",
    "data_overrides",
    "open_dataset",
    "parse_data_spec",
]

#: official layouts: source name -> (module, class, year)
OFFICIAL_SOURCES = {
    "voc2007": ("hrcam.data.voc", "VOCDataset", "2007"),
    "voc2012": ("hrcam.data.voc", "VOCDataset", "2012"),
    "coco2014": ("hrcam.data.coco", "COCODataset", "2014"),
    "coco2017": ("hrcam.data.coco", "COCODataset", "2017"),
    "cub": ("hrcam.data.cub", "CUBDataset", None),
}
assert set(DATA_SOURCES) == {"synthetic", "folder", *OFFICIAL_SOURCES}, "the config's names and the layouts"
_ALIASES = {"cub200": "cub", "cub2002011": "cub", "cub2011": "cub", "voc07": "voc2007", "voc12": "voc2012"}


def _source_name(text: str) -> str | None:
    key = text.strip().lower().replace("-", "").replace("_", "")
    key = _ALIASES.get(key, key)
    return key if key in DATA_SOURCES else None


def parse_data_spec(spec: str | os.PathLike) -> tuple[str, str | None]:
    """``"voc2007:/data/VOC"`` -> ``("voc2007", "/data/VOC")``; ``"synthetic"`` -> ``("synthetic", None)``;
    a bare path (or ``folder:PATH``) -> ``("folder", PATH)``. Names are matched without case, ``-`` or ``_``
    (``cub-200-2011:ROOT``).

    Raises:
        TypeError: not a string or path. ValueError: an empty spec, or a dataset name without its ROOT.
    """
    if not isinstance(spec, (str, os.PathLike)):
        raise TypeError(f"`data` must be a dataset spec string, got {type(spec).__name__}")
    text = os.fspath(spec).strip()
    if not text:
        raise ValueError(f"`data` must name a dataset ({', '.join(DATA_SOURCES)}), got an empty string")
    if _source_name(text) == "synthetic":
        return "synthetic", None
    head, sep, rest = text.partition(":")
    source = _source_name(head) if sep else None
    if source is None:
        if _source_name(text) not in (None, "folder") and not os.path.isdir(text):
            raise ValueError(f"--data {text}: name the dataset's folder, e.g. {_source_name(text)}:ROOT")
        return "folder", text
    if not rest.strip():
        raise ValueError(f"--data {text}: expected {source}:ROOT (the dataset's folder)")
    return source, rest.strip()


def data_overrides(spec: str | os.PathLike) -> list[str]:
    """The config overrides of a ``--data`` spec: ``data.source=...`` and ``data.root=...``."""
    import json

    source, root = parse_data_spec(spec)
    return [f"data.source={source}"] + ([f"data.root={json.dumps(root)}"] if root is not None else [])


def open_dataset(
    spec: str | os.PathLike, root: str | os.PathLike | None = None, bbox_dir: Any = None, **options: Any
):
    """The dataset of a spec (``open_dataset("voc2007:/data")``) or of a config's ``(source, root)``
    (``open_dataset("cub", "/data/CUB")``): a :class:`~hrcam.data.folder.FolderDataset` or an official layout
    (:class:`~hrcam.data.voc.VOCDataset`, :class:`~hrcam.data.coco.COCODataset`,
    :class:`~hrcam.data.cub.CUBDataset`). ``bbox_dir`` applies to folder datasets; ``options``
    (``val_fraction``, ``seed``) to the layouts that carve a validation split.

    Raises:
        ValueError: ``synthetic`` (no folder to open) or an unknown source. FileNotFoundError: no such dataset
        under the root (the message says what was expected).
    """
    import importlib

    if root is None:
        source, root = parse_data_spec(spec)
    else:
        source = _source_name(os.fspath(spec)) or ""
        if source not in DATA_SOURCES:
            raise ValueError(f"unknown data source {spec!r}; expected one of {list(DATA_SOURCES)}")
    if source == "synthetic" or root is None:
        raise ValueError("synthetic scenes are generated, not opened: this needs a dataset folder")
    if source == "folder":
        from hrcam.data.folder import FolderDataset

        return FolderDataset(root, bbox_dir=bbox_dir)
    module, cls, year = OFFICIAL_SOURCES[source]
    dataset = getattr(importlib.import_module(module), cls)(root, year) if year else None
    if dataset is None:
        dataset = getattr(importlib.import_module(module), cls)(root)
    for key, value in options.items():
        if value is not None and key in ("val_fraction", "seed"):
            setattr(dataset, key, type(getattr(dataset, key))(value))
    return dataset
