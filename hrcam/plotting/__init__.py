"""Plots of images and saliency maps (matplotlib ``Figure`` objects, no pyplot state).

Generic drawing below the model families (it imports no family); HR-CAM's refinement-pipeline figure is
:func:`hrcam.highres.refine.figure.plot_pipeline`.
"""

from hrcam.plotting.overlays import overlay, saliency_plot, save_overlays

__all__ = ["overlay", "saliency_plot", "save_overlays"]
