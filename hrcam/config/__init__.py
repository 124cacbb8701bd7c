"""Experiment configuration of every hrcam trainer: dataclasses read from YAML presets and overridden by
``--set section.key=value`` flags, through one loader (TensorFlow-free: ``import hrcam.config`` loads
neither TensorFlow nor Keras, and loading a config writes nothing).

* :mod:`hrcam.config.schema`: the field types, rules and one error wording of every section
  (:class:`ConfigError`: ``\\`half.epochs\\`: expected a positive int, got 'abc'``);
* :mod:`hrcam.config.loader`: :func:`load_experiment` reads a preset or file, applies overrides, refuses
  unknown sections and keys and checks every value;
* :mod:`hrcam.config.sections`: what the trainers share (:data:`STRATEGIES`, :class:`DataConfig`,
  :class:`MapSummariesConfig`);
* one schema per family: HR-CAM's here (:mod:`hrcam.config.highres`: :class:`Config`, :func:`load_config`),
  CASM's in :mod:`hrcam.casm.config` (:func:`~hrcam.casm.config.load_casm_config`), the Explainer's in
  :mod:`hrcam.explainer.config` (:func:`~hrcam.explainer.config.load_explainer_config`).
"""

from hrcam.config import highres
from hrcam.config.highres import *  # noqa: F403 (HR-CAM's schema: highres.__all__)
from hrcam.config.loader import load_experiment
from hrcam.config.schema import ConfigError
from hrcam.config.sections import STRATEGIES, DataConfig, MapSummariesConfig

__all__ = [
    "ConfigError",
    "load_experiment",
    "STRATEGIES",
    "DataConfig",
    "MapSummariesConfig",
    *highres.__all__,
]
