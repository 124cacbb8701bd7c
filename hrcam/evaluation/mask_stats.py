"""Statistics of soft masks / maps that need no ground truth (CASM's ``stats.py``), for any map source."""

from __future__ import annotations

from typing import Any

import numpy as np

from hrcam.arrays import check_maps

__all__ = ["mask_statistics"]


def mask_statistics(masks: Any) -> dict[str, float]:
    """CASM's ``stats.py`` figures of (N, H, W) soft masks in [0, 1]."""
    m = check_maps(masks, "masks", unit=True).astype(np.float64)
    means = m.reshape(len(m), -1).mean(axis=1)
    inner = (m > 0) & (m < 1)
    safe = np.where(inner, m, 0.5)
    ent = np.where(inner, -safe * np.log2(safe) - (1 - safe) * np.log2(1 - safe), 0.0)
    tv = (np.diff(m, axis=2) ** 2).mean(axis=(1, 2)) + (np.diff(m, axis=1) ** 2).mean(axis=(1, 2))
    return {
        "mask_mean": float(means.mean()),
        "mask_std_of_means": float(means.std()),
        "mask_entropy": float(ent.mean()),
        "mask_tv": float(tv.mean()),
    }
