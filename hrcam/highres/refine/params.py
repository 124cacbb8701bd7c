"""Parameters of the refinement pipeline: their defaults, validation and the step names."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

from hrcam.arrays import check_choice, check_optional_int, check_real

__all__ = ["STEP_KEYS", "Params", "validate_params"]

STEP_KEYS = (
    "blurred",
    "low",
    "low_resized",
    "gradient",
    "edges",
    "roi",
    "bounds",
    "focal_points",
    "segmented",
    "full_segment",
    "merged",
    "result",
)


@dataclass(frozen=True)
class Params:
    """The pipeline's parameters (see :func:`hrcam.highres.refine.pipeline`); build with
    :func:`validate_params`."""

    roi_percentile: float = 85.0
    focal_scope: str = "global"
    maxima_areas: str = "small"
    merge_type: str = "blend"
    merge_alpha: float = 0.5
    filter_type: str = "percentage"
    filter_percentage: float = 15.0
    filter_threshold: float = 0.6
    hole_size: int | None = None
    num_focal_points: int | None = None


def validate_params(**kw: Any) -> Params:
    """Check every parameter (TypeError / ValueError naming it) and return them as :class:`Params`."""
    unknown = sorted(set(kw) - set(Params.__dataclass_fields__))
    if unknown:
        raise TypeError(
            f"unknown pipeline parameter(s) {unknown}; expected some of {list(Params.__dataclass_fields__)}"
        )
    p = Params(**kw)
    roi = check_real("roi_percentile", p.roi_percentile, 0.0, 100.0, hi_open=True)
    check_choice("focal_scope", p.focal_scope, ("global", "local"))
    check_choice(
        "maxima_areas",
        p.maxima_areas,
        ("small", "large"),
        " ('small' skeletonises each local-maximum block, 'large' keeps it whole; "
        "'global'/'local' are values of `focal_scope`)"
        if p.maxima_areas in ("global", "local")
        else "",
    )
    check_choice(
        "merge_type",
        p.merge_type,
        ("blend", "multiply"),
        " (the original docs named 'merge', but the code only ever accepted 'blend' and 'multiply')"
        if p.merge_type == "merge"
        else "",
    )
    alpha = check_real("merge_alpha", p.merge_alpha, 0.0, 1.0)
    check_choice("filter_type", p.filter_type, ("percentage", "threshold"))
    pct = check_real("filter_percentage", p.filter_percentage, 0.0, 100.0, lo_open=True)
    if p.filter_type == "percentage" and pct < 1.0:
        warnings.warn(
            f"filter_percentage={pct:g} keeps {pct:g}% of the pixels; it is a percentage in (0, 100], "
            f"not a fraction (pass {pct * 100:g} for {pct * 100:g}%)",
            UserWarning,
            stacklevel=3,
        )
    thr = check_real("filter_threshold", p.filter_threshold, 0.0, 1.0, hi_open=True)
    hole = check_optional_int("hole_size", p.hole_size, 0)
    npts = check_optional_int("num_focal_points", p.num_focal_points, 1)
    return Params(
        roi, p.focal_scope, p.maxima_areas, p.merge_type, alpha, p.filter_type, pct, thr, hole, npts
    )
