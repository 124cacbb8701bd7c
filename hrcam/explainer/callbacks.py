"""The Explainer trainer's callbacks: example masks in TensorBoard, the configured learning rate on resume."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from hrcam.explainer.network import aggregate_masks

__all__ = ["MaskImages", "ConfiguredLearningRate"]


class MaskImages(keras.callbacks.Callback):
    """After every epoch, write a fixed validation batch and its target masks to TensorBoard."""

    def __init__(self, log_dir: str | Path, images: np.ndarray, labels: np.ndarray, explainer):
        super().__init__()
        self.writer = tf.summary.create_file_writer(str(log_dir))
        self.images = tf.convert_to_tensor(images, tf.float32)
        self.labels = tf.convert_to_tensor(labels, tf.float32)
        self.explainer = explainer

    def on_epoch_end(self, epoch, logs=None):
        m, _ = aggregate_masks(self.explainer(self.images, training=False), self.labels)
        with self.writer.as_default():
            tf.summary.image("images", self.images, step=epoch, max_outputs=8)
            tf.summary.image("target_masks", m[..., None], step=epoch, max_outputs=8)
            tf.summary.image("masked_in", m[..., None] * self.images, step=epoch, max_outputs=8)
        self.writer.flush()


class ConfiguredLearningRate(keras.callbacks.Callback):
    """Sets the optimizer's learning rate to the configured one when ``fit`` begins.

    A resumed stage restores the optimizer's variables, its learning rate included; without this, a
    learning rate changed between a run and its resume (allowed by the config check) would be ignored.
    """

    def __init__(self, learning_rate: float):
        super().__init__()
        self.learning_rate = float(learning_rate)

    def on_train_begin(self, logs=None):
        self.model.optimizer.learning_rate = self.learning_rate
