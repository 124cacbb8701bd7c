"""Synthetic scenes with exact masks: the built-in data for the demo and the tests.

2D scenes (:func:`make_scenes`): one object (or several, ``multi_label=True``) from K shape classes
(:data:`SHAPE_NAMES`: circle, square, triangle, cross, ring, star, ellipse, crescent) with random colour,
size, position and rotation, painted over a cluttered, textured background (a blend of a colour gradient,
stripes and low-frequency noise between two random colours) and over *distractors* that are not a class
(thin line segments and soft Gaussian blobs), so a classifier has to find the object. Sensor noise is added
last, over everything.

Ground truth is exact by construction: ``masks`` are the pixels painted with the object's colour that stay
visible (objects are drawn last, without anti-aliasing, and later objects occlude earlier ones), and
``boxes`` are the tight boxes of those masks in hrcam's one box convention (:mod:`hrcam.arrays`: pixel-edge
``x0, y0, x1, y1``, the mask's columns ``x0..x1 - 1`` and rows ``y0..y1 - 1``). Objects lie fully inside
the image.

``spurious_cue=p``: with probability p an image carries a class-correlated background cue, a flat square
patch in the top-left corner whose colour is :data:`CUE_COLORS` ``[label]`` (first object's class in
multi-label scenes). Objects are placed clear of that corner in *every* image, so the cue, where present,
is never hidden and is the only thing that differs between cue and no-cue images.

3D volumes (:func:`make_volumes`): single-channel (N, D, H, W, 1) uint8 volumes with a rotated 3D shape
(:data:`VOLUME_SHAPE_NAMES`) in textured noise with small blob distractors, masks (N, D, H, W).

Labels are balanced: single-label scenes come in blocks of C that each hold every class once.

Determinism: everything is drawn from ``numpy.random.default_rng((seed, chunk, salt))`` in fixed chunks of
images, so the same arguments give identical arrays on every run and platform, different seeds differ, and
the first k scenes of ``make_scenes(n, seed=s)`` equal ``make_scenes(k, seed=s)``. Generation is vectorised
over each chunk (NumPy coordinate grids; Python loops only over object slots, classes and distractors).

The code: :mod:`hrcam.data.scenes` (2D, painted by :mod:`hrcam.data.painting`),
:mod:`hrcam.data.volumes` (3D) and :mod:`hrcam.data.writers`; this module gathers their names.

:func:`write_folder` writes scenes in the ImageNet folder layout (PNG images, VOC XML boxes, PNG masks), so
synthetic data can also go through :class:`hrcam.data.FolderDataset`.
"""

from hrcam.data.scenes import CUE_COLORS, SHAPE_NAMES, SyntheticScenes, make_scenes
from hrcam.data.volumes import VOLUME_SHAPE_NAMES, SyntheticVolumes, make_volumes
from hrcam.data.writers import write_folder

__all__ = [
    "SHAPE_NAMES",
    "VOLUME_SHAPE_NAMES",
    "CUE_COLORS",
    "SyntheticScenes",
    "SyntheticVolumes",
    "make_scenes",
    "make_volumes",
    "write_folder",
]
