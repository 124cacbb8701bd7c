"""Plots of images and saliency maps (matplotlib ``Figure`` objects, no pyplot state)."""

from hrcam.plotting.overlays import overlay, saliency_plot, save_overlays
from hrcam.plotting.pipeline_figure import plot_pipeline

__all__ = ["overlay", "saliency_plot", "save_overlays", "plot_pipeline"]
