"""CASM's training step as a Keras model (the loop order of [casme:train.py], section A2 of the reference):

1. the classifier forwards the clean batch (logits o, stage features); unless it is fixed, one SGD step
   on CE(o, y);
2. the masker maps the *stopped-gradient* features of that forward pass to m; x_m = x (1 - m) + fill m;
3. x_m is classified by the current classifier (training mode: its BN statistics see masked images) or,
   when the pool callback chose one (``use_history``), by a snapshot in inference mode;
4. masker loss = ``-lambda_r mean(relu(ntc - area))`` (ntc: correct on x and wrong on x_m; the area term
   only acts on images already confused) + ``mean(correct * sum p log p)`` (negative entropy of the masked
   prediction, on correctly classified images) or ``-CE(o_m, y)`` with ``adversarial``; Adam step on the
   decoder after global-norm clipping at ``clip_norm``;
5. unless fixed or a snapshot was used, a second SGD step of the classifier on CE(o_m, y).

The masker gradient is computed before the second classifier step (no in-place hazard). Weight decay is
coupled (``wd * w`` added to the gradients) as torch's SGD/Adam ``weight_decay``.

Under a ``tf.distribute`` strategy with several replicas (each holding a slice of the global batch), every
gradient is first averaged over the replicas (the gradient of the global batch's mean loss), then weight
decay and clipping apply to that average, as on one device. The choice of a pool snapshot is made in Python
before each batch, so training traces one step function per choice instead of branching in the graph (a
``tf.cond`` cannot hold the optimizers' cross-replica synchronisation).
"""

from __future__ import annotations

import functools
from typing import Any

import keras
import tensorflow as tf

from hrcam.casm.masker import CasmMasker
from hrcam.saliency._keras_compat import make_step_function

__all__ = ["CasmTrainer", "masker_losses"]

_METRICS = (
    "classifier_loss",
    "masker_loss",
    "main_loss",
    "area_loss",
    "mask_area",
    "accuracy",
    "masked_accuracy",
    "ntc",
    "history_used",
)


def masker_losses(logits, masked_logits, mask, labels, lambda_r: float, adversarial: bool = False):
    """The masker objective of one batch; returns a dict of scalar tensors (``masker_loss`` is minimised).

    Args:
        logits: (B, K) on clean images; masked_logits: (B, K) on x_m; mask: (B, H, W, 1); labels: (B,) int.
    """
    labels = tf.cast(labels, tf.int64)
    correct = tf.cast(tf.equal(tf.argmax(logits, -1), labels), tf.float32)
    masked_right = tf.cast(tf.equal(tf.argmax(masked_logits, -1), labels), tf.float32)
    ntc = correct * (1.0 - masked_right)
    area = tf.reduce_mean(mask, axis=[1, 2, 3])
    area_loss = -lambda_r * tf.reduce_mean(tf.nn.relu(ntc - area))
    if adversarial:
        main = -tf.reduce_mean(
            tf.keras.losses.sparse_categorical_crossentropy(labels, masked_logits, from_logits=True)
        )
    else:
        logp = tf.nn.log_softmax(masked_logits)
        main = tf.reduce_mean(correct * tf.reduce_sum(tf.exp(logp) * logp, axis=-1))
    return {
        "masker_loss": main + area_loss,
        "main_loss": main,
        "area_loss": area_loss,
        "mask_area": tf.reduce_mean(area),
        "accuracy": tf.reduce_mean(correct),
        "masked_accuracy": tf.reduce_mean(masked_right),
        "ntc": tf.reduce_mean(ntc),
    }


def _coupled(grads, variables, wd: float):
    if not wd:
        return grads
    return [None if g is None else g + wd * tf.convert_to_tensor(v) for g, v in zip(grads, variables)]


class CasmTrainer(keras.Model):
    """Trains ``masker`` (a :class:`CasmMasker`) and, unless ``fixed_classifier``, its classifier.

    ``use_history`` (a non-trainable variable, set by the pool callback before each batch) selects the
    ``confuser`` (a clone of the classifier loaded with a pool snapshot) for step 3.
    """

    def __init__(
        self,
        masker: CasmMasker,
        lambda_r: float,
        fixed_classifier: bool = False,
        adversarial: bool = False,
        use_pool: bool = False,
        classifier_lr: float = 1e-3,
        masker_lr: float = 1e-3,
        momentum: float = 0.9,
        weight_decay: float = 1e-4,
        clip_norm: float = 10.0,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.masker = masker
        self.lambda_r, self.adversarial = float(lambda_r), bool(adversarial)
        self.fixed_classifier = bool(fixed_classifier)
        self.weight_decay, self.clip_norm = float(weight_decay), float(clip_norm)
        self.confuser = keras.models.clone_model(masker.classifier) if use_pool else None
        if self.confuser is not None:
            self.confuser.trainable = False
        self.use_history = keras.Variable(0, dtype="int32", trainable=False, name="use_history")
        self.classifier_optimizer = keras.optimizers.SGD(classifier_lr, momentum=momentum)
        self.masker_optimizer = keras.optimizers.Adam(masker_lr)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in _METRICS}

    # -- variables --------------------------------------------------------------------------------
    @property
    def classifier_variables(self) -> list:
        return self.masker.classifier.trainable_variables

    @property
    def decoder_variables(self) -> list:
        return self.masker.decoder.trainable_variables

    def build_all(self) -> None:
        """Create every variable (the models, both optimizers) so a saved state can be loaded into them."""
        x = tf.zeros((1, *self.masker.image_shape))
        self.masker(x)
        if self.confuser is not None:
            self.confuser(x)
        self.classifier_optimizer.build(self.classifier_variables)
        self.masker_optimizer.build(self.decoder_variables)
        self.optimizer = self.masker_optimizer  # what hrcam's TrainingState reads
        self.built = True

    @property
    def metrics(self) -> list:
        return list(self.trackers.values())

    def call(self, x, training=False):
        return self.masker(x, training=training)

    # -- the step ---------------------------------------------------------------------------------
    def make_train_function(self, force: bool = False):
        """With a pool: one traced step per choice (current classifier / snapshot), picked per batch from
        ``use_history`` (set by the pool callback before the batch); without a pool: Keras' own."""
        if self.confuser is None:
            return super().make_train_function(force)
        if self.train_function is not None and not force:
            return self.train_function
        steps = {
            flag: make_step_function(self, functools.partial(self._train_step, history=flag))
            for flag in (False, True)
        }
        if steps[False] is None:  # a Keras without the private step wrapper: Keras' own step
            return super().make_train_function(force)

        def train_function(iterator):
            return steps[bool(int(keras.ops.convert_to_numpy(self.use_history)))](iterator)

        self.train_function = train_function
        return train_function

    def _classify_masked(self, x_m, train_clf: bool, history: bool | None):
        current = lambda: self.masker.classifier(x_m, training=train_clf)  # noqa: E731
        if self.confuser is None or history is False:
            return current()
        if history:
            return self.confuser(x_m, training=False)
        return tf.cond(self.use_history > 0, lambda: self.confuser(x_m, training=False), current)

    def _apply(self, optimizer, grads, variables, clip: bool = False) -> None:
        """Average ``grads`` over the replicas (when there are several), add the coupled weight decay, clip
        (``clip``), apply. Keras' optimizers sum the replicas' gradients, so each replica passes 1/n of
        the (identical) result."""
        ctx = tf.distribute.get_replica_context()
        n = ctx.num_replicas_in_sync if ctx is not None else 1
        if n > 1:
            present = [g for g in grads if g is not None]
            reduced = iter(ctx.all_reduce(tf.distribute.ReduceOp.MEAN, present))
            grads = [None if g is None else next(reduced) for g in grads]
        grads = _coupled(grads, variables, self.weight_decay)
        if clip:
            grads, _ = tf.clip_by_global_norm(grads, self.clip_norm)
        if n > 1:
            grads = [None if g is None else g / n for g in grads]
        optimizer.apply(grads, variables)

    def _classifier_step(self, tape, loss) -> None:
        variables = self.classifier_variables
        self._apply(self.classifier_optimizer, tape.gradient(loss, variables), variables)

    def _step(self, x, y, training: bool, history: bool | None = None):
        """One batch (a replica's slice under a strategy). ``history``: whether the masked images go to
        the pool snapshot (True), the current classifier (False), or as ``use_history`` says (None: one
        graph with a ``tf.cond``, for a single replica)."""
        y = tf.reshape(tf.cast(y, tf.int64), [-1])
        train_clf = training and not self.fixed_classifier
        with tf.GradientTape() as tape:
            outs = self.masker.encoder(x, training=train_clf)
            logits, feats = outs[0], outs[1:]
            ce = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True))
        if train_clf:
            self._classifier_step(tape, ce)
        with tf.GradientTape(persistent=True) as tape2:
            mask = self.masker.decoder([tf.stop_gradient(f) for f in feats], training=training)
            x_m = x * (1.0 - mask) + self.masker.fill * mask
            masked_logits = self._classify_masked(x_m, train_clf, history)
            losses = masker_losses(logits, masked_logits, mask, y, self.lambda_r, self.adversarial)
            ce_m = tf.reduce_mean(
                keras.losses.sparse_categorical_crossentropy(y, masked_logits, from_logits=True)
            )
        if training:
            dvars = self.decoder_variables
            self._apply(self.masker_optimizer, tape2.gradient(losses["masker_loss"], dvars), dvars, True)
            if train_clf:
                if self.confuser is None or history is False:
                    self._classifier_step(tape2, ce_m)
                elif history is None:  # (history True: a snapshot classified x_m, no second step)

                    def second_step():
                        self._classifier_step(tape2, ce_m)
                        return tf.constant(1)

                    tf.cond(self.use_history > 0, lambda: tf.constant(0), second_step)
        used = tf.cast(self.use_history, tf.float32) if (training and self.confuser is not None) else 0.0
        values = dict(losses, classifier_loss=ce, history_used=used)
        for name, tracker in self.trackers.items():
            tracker.update_state(values[name])
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    def train_step(self, data):
        return self._train_step(data)

    def _train_step(self, data, history: bool | None = None):
        x, y = data[0], data[1]
        return self._step(x, y, training=True, history=history)

    def test_step(self, data):
        x, y = data[0], data[1]
        return self._step(x, y, training=False)
