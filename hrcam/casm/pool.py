"""CASM's classifier pool F_k ([casme:train_utils.py]): at most ``f_size`` classifier snapshots.

* a snapshot is taken after a training batch when the pool is empty or ``batch % smf == smf - 1``
  (``batch``: the batch index within the epoch), and only when the classifier trains and ``hp > 0``;
* when the pool is full, a uniformly random slot is overwritten (random replacement);
* for each batch, with probability ``hp`` a uniformly random snapshot (in inference mode, not updated)
  classifies the masked images instead of the current classifier.

Snapshots are lists of NumPy arrays (the classifier's ``weights``, BN statistics included). Every random
choice comes from one seeded NumPy generator whose state is saved with the pool, so a resumed run makes
the same choices. Pure NumPy: testable with a fake batch clock.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hrcam.io import atomic_path

__all__ = ["ClassifierPool"]


class ClassifierPool:
    """See the module docstring. ``enabled=False`` (fixed classifier or hp = 0) never stores anything."""

    def __init__(
        self, f_size: int = 30, hp: float = 0.5, smf: int = 1000, seed: int = 0, enabled: bool = True
    ):
        if isinstance(f_size, bool) or not isinstance(f_size, int) or f_size < 1:
            raise ValueError(f"`f_size` must be a positive int, got {f_size!r}")
        if isinstance(hp, bool) or not isinstance(hp, (int, float)) or not 0 <= hp <= 1:
            raise ValueError(f"`hp` (probability of using a snapshot) must be in [0, 1], got {hp!r}")
        if isinstance(smf, bool) or not isinstance(smf, int) or smf < 1:
            raise ValueError(f"`smf` (batches between snapshots) must be a positive int, got {smf!r}")
        self.f_size, self.hp, self.smf = f_size, float(hp), smf
        self.enabled = bool(enabled) and hp > 0
        self.rng = np.random.default_rng(seed)
        self.snapshots: list[list[np.ndarray]] = []
        self.stored = 0  # snapshots taken so far (replacements included)

    def __len__(self) -> int:
        return len(self.snapshots)

    def due(self, batch: int) -> bool:
        """Whether a snapshot is due after batch ``batch`` (index within the epoch)."""
        return self.enabled and (not self.snapshots or batch % self.smf == self.smf - 1)

    def add(self, weights: list[Any]) -> int:
        """Store a copy of ``weights``; returns the slot (a random one when the pool is full)."""
        copy = [np.array(w, copy=True) for w in weights]
        self.stored += 1
        if len(self.snapshots) < self.f_size:
            self.snapshots.append(copy)
            return len(self.snapshots) - 1
        slot = int(self.rng.integers(self.f_size))
        self.snapshots[slot] = copy
        return slot

    def choose(self) -> int | None:
        """The snapshot to classify this batch's masked images with, or None (the current classifier)."""
        if not self.enabled or not self.snapshots:
            return None
        if self.rng.random() >= self.hp:
            return None
        return int(self.rng.integers(len(self.snapshots)))

    # -- persistence (resume) ---------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {"rng": self.rng.bit_generator.state, "stored": self.stored, "size": len(self.snapshots)}

    def save(self, path: str | Path) -> dict[str, Any]:
        """Write the snapshots to ``path`` (.npz, atomically); returns the JSON-able :meth:`state`."""
        arrays = {f"s{i}_{j}": w for i, snap in enumerate(self.snapshots) for j, w in enumerate(snap)}
        with atomic_path(path, suffix=".npz") as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)
        return self.state()

    def load(self, path: str | Path, state: dict[str, Any]) -> None:
        """Restore what :meth:`save` wrote (and the generator state it returned)."""
        with np.load(path) as data:
            snaps: dict[int, dict[int, np.ndarray]] = {}
            for key in data.files:
                i, j = (int(v) for v in key[1:].split("_"))
                snaps.setdefault(i, {})[j] = data[key]
        self.snapshots = [[snaps[i][j] for j in sorted(snaps[i])] for i in sorted(snaps)]
        if len(self.snapshots) != int(state["size"]):
            raise ValueError(
                f"pool file {path} holds {len(self.snapshots)} snapshots, state says {state['size']}"
            )
        self.rng.bit_generator.state = state["rng"]
        self.stored = int(state["stored"])
