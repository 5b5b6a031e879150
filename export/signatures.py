"""The serving module: the student alone, with the signatures TF Serving calls.

`ServingModule` holds only the student head (its embedding tables, vocabulary assets
and MLP), so the teacher's weights cannot end up in the SavedModel: the object graph
saved is what this module reaches. Every signature reads the task's regular features
only, parsed with the training spec's defaults, so a request that lacks a feature is
scored as training saw a record that lacked it.

Signatures (every output leads with the batch dimension, which may be 0):
  serving_default: `examples`, serialized tf.Examples -> `probability`, `logit`; a
    multi-task student (models.heads.MultiTaskHead, e.g. ESMM) adds
    `<label>_probability` and `<label>_logit` per auxiliary label (`click_probability`:
    its pCTR beside the task's pCTCVR), so one export serves every head.
  raw: each regular feature as a named tensor -> the same outputs. Scalars are
    `[batch]`; sequences are `[batch, max_len]` strings padded with "".
  regress: TF Serving's Regress API: `inputs` (tf.Examples) -> `outputs` (probability).
  classify: TF Serving's Classify API: `inputs` -> `scores` `[batch, 2]` (P(0), P(1))
    and `classes` `[batch, 2]` ("0", "1").

A two-tower student (coarse CTR) adds, through `TwoTowerServingModule`:
  user_embedding: `examples` holding user-side features -> `user_vector`.
  item_embedding: `examples` holding item-side features -> `item_vector`.
  top_k: `examples` (user side) -> the `k` best items of the precomputed index
    (exact, or approximate: models/retrieval/ivf_index.py): `item_ids` `[batch, k]` and their
    `scores` (logits), best first.
  score_candidates: `examples` (user side) and `candidate_ids` `[batch, n]` -> `logits`
    and `probabilities` `[batch, n]` from the index's vectors (-inf logit, probability
    0, for an id the index lacks).
Each side's signature parses only its own side's features.
"""

from __future__ import annotations

import posixpath
from typing import Mapping, Sequence

import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from features import example_parser
from features import spec as spec_lib
from models import heads
from models import retrieval
from models.heads import towers
from models.heads import two_tower

DEFAULT = "serving_default"
RAW = "raw"
REGRESS = "regress"
CLASSIFY = "classify"
USER_EMBEDDING = "user_embedding"
ITEM_EMBEDDING = "item_embedding"
TOP_K = "top_k"
SCORE_CANDIDATES = "score_candidates"
# TF Serving's Regress and Classify handlers look for these method names (the
# tensorflow/serving/predict that tf.saved_model.save writes is refused by servers
# that check them); see `set_method_names`.
METHOD_NAMES = {
    REGRESS: tf.compat.v1.saved_model.REGRESS_METHOD_NAME,
    CLASSIFY: tf.compat.v1.saved_model.CLASSIFY_METHOD_NAME,
}
SEQUENCE_PADDING = ""
CLASSES = ("0", "1")

_EXAMPLES = tf.TensorSpec([None], tf.string)


def auxiliary_output(label: str, output: str = "probability") -> str:
  """A multi-task student's output (`probability` or `logit`) of auxiliary `label`."""
  return f"{label}_{output}"


class ServingModule(tf.Module):
  """What ships: a student head and the features it is served with.

  Args:
    student: A layer `features -> [batch] logits` (the model's `student` head).
    features: The signature inputs: the task's regular features.
  """

  def __init__(self, student: tf.keras.layers.Layer,
               features: Sequence[spec_lib.Feature], **kwargs):
    super().__init__(**kwargs)
    self.student = student
    self._features = list(features)

  @property
  def feature_names(self) -> list[str]:
    return [f.name for f in self._features]

  @property
  def auxiliary_labels(self) -> tuple[str, ...]:
    """The labels a multi-task student also scores (`auxiliary_output` each)."""
    return heads.auxiliary_labels(self.student)

  def _outputs(self, features: Mapping[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    # One lookups: a multi-task student runs its shared layers once for all outputs.
    lookups = towers.BatchLookups()
    logit = self.student(features, training=False, lookups=lookups)
    outputs = {"probability": tf.sigmoid(logit), "logit": logit}
    for label, logits in heads.auxiliary_logits(self.student, features,
                                                lookups=lookups).items():
      outputs[auxiliary_output(label)] = tf.sigmoid(logits)
      outputs[auxiliary_output(label, "logit")] = logits
    return outputs

  def _parse(self, examples: tf.Tensor) -> dict[str, tf.Tensor]:
    return example_parser.parse_batch(examples, self._features)

  @tf.function(input_signature=[_EXAMPLES])
  def serve_examples(self, examples: tf.Tensor) -> dict[str, tf.Tensor]:
    return self._outputs(self._parse(examples))

  @tf.function(input_signature=[_EXAMPLES])
  def regress(self, inputs: tf.Tensor) -> dict[str, tf.Tensor]:
    return {"outputs": self._outputs(self._parse(inputs))["probability"]}

  @tf.function(input_signature=[_EXAMPLES])
  def classify(self, inputs: tf.Tensor) -> dict[str, tf.Tensor]:
    positive = self._outputs(self._parse(inputs))["probability"]
    scores = tf.stack([1.0 - positive, positive], axis=-1)
    classes = tf.broadcast_to(tf.constant(CLASSES), tf.shape(scores))
    return {"scores": scores, "classes": classes}

  def raw_input_signature(self) -> dict[str, tf.TensorSpec]:
    """One named tensor per regular feature, in the dtype the Examples store."""
    return {f.name: tf.TensorSpec([None, None] if f.is_sequence else [None],
                                  example_parser.tf_dtype(f), name=f.name)
            for f in self._features}

  def serve_raw(self, features: Mapping[str, tf.Tensor]) -> dict[str, tf.Tensor]:
    features = dict(features)
    for f in self._features:
      if f.is_sequence:  # Padded dense -> ragged, as parse_example gives it.
        features[f.name] = tf.RaggedTensor.from_tensor(features[f.name],
                                                       padding=SEQUENCE_PADDING)
    return self._outputs(features)

  def concrete_signatures(self
                          ) -> dict[str, tf.types.experimental.ConcreteFunction]:
    """Signature name -> concrete function, for `tf.saved_model.save(signatures=...)`."""
    raw = tf.function(self.serve_raw, input_signature=[self.raw_input_signature()])
    return {
        DEFAULT: self.serve_examples.get_concrete_function(),
        RAW: raw.get_concrete_function(),
        REGRESS: self.regress.get_concrete_function(),
        CLASSIFY: self.classify.get_concrete_function(),
    }


class TwoTowerServingModule(ServingModule):
  """A two-tower student with its precomputed item index.

  Args:
    student: The model's two-tower student head.
    features: The task's regular features.
    index: The item vectors the batch job computed with this student.
  """

  def __init__(self, student: two_tower.TwoTowerHead,
               features: Sequence[spec_lib.Feature], index: retrieval.Index,
               **kwargs):
    super().__init__(student, features, **kwargs)
    if index.dim != student.vector_dim:
      raise ValueError(f"The item index holds {index.dim}-d vectors; the student's "
                       f"are {student.vector_dim}-d: was it computed by this model?")
    self.index = index
    by_name = {f.name: f for f in features}
    self._user_features = [by_name[n] for n in student.user_feature_names]
    self._item_features = [by_name[n] for n in student.item_feature_names]

  @property
  def user_feature_names(self) -> list[str]:
    return [f.name for f in self._user_features]

  @property
  def item_feature_names(self) -> list[str]:
    return [f.name for f in self._item_features]

  def _user_vectors(self, examples: tf.Tensor) -> tf.Tensor:
    return self.student.user_vectors(example_parser.parse_batch(examples,
                                                               self._user_features))

  @tf.function(input_signature=[_EXAMPLES])
  def user_embedding(self, examples: tf.Tensor) -> dict[str, tf.Tensor]:
    return {"user_vector": self._user_vectors(examples)}

  @tf.function(input_signature=[_EXAMPLES])
  def item_embedding(self, examples: tf.Tensor) -> dict[str, tf.Tensor]:
    return {"item_vector": self.student.item_vectors(example_parser.parse_batch(
        examples, self._item_features))}

  @tf.function(input_signature=[_EXAMPLES])
  def top_k(self, examples: tf.Tensor) -> dict[str, tf.Tensor]:
    scores, ids = self.index.top_k(self._user_vectors(examples))
    return {"scores": scores, "item_ids": ids}

  @tf.function(input_signature=[_EXAMPLES, tf.TensorSpec([None, None], tf.string)])
  def score_candidates(self, examples: tf.Tensor, candidate_ids: tf.Tensor
                       ) -> dict[str, tf.Tensor]:
    logits = self.index.score(self._user_vectors(examples), candidate_ids)
    return {"logits": logits, "probabilities": tf.sigmoid(logits)}

  def concrete_signatures(self
                          ) -> dict[str, tf.types.experimental.ConcreteFunction]:
    return {
        **super().concrete_signatures(),
        USER_EMBEDDING: self.user_embedding.get_concrete_function(),
        ITEM_EMBEDDING: self.item_embedding.get_concrete_function(),
        TOP_K: self.top_k.get_concrete_function(),
        SCORE_CANDIDATES: self.score_candidates.get_concrete_function(),
    }


def signature_input_names(signature: tf.types.experimental.ConcreteFunction
                          ) -> list[str]:
  """The input keys a client sends to a signature.

  A positional tensor is named after its argument; a dict argument (the raw
  signature's) gives one input per key.
  """
  args, kwargs = signature.structured_input_signature
  names = list(kwargs)
  for arg in args:
    names.extend(arg if isinstance(arg, Mapping) else [arg.name])
  return sorted(names)


def set_method_names(export_dir: str) -> None:
  """Gives the Regress and Classify signatures TF Serving's method names.

  tf.saved_model.save marks every signature `tensorflow/serving/predict`; a server
  that checks method names then answers :regress and :classify with "Expected
  regression signature method_name to be tensorflow/serving/regress". The loader
  ignores method names, so rewriting them in saved_model.pb changes nothing else.
  """
  path = posixpath.join(export_dir, tf.saved_model.SAVED_MODEL_FILENAME_PB)
  with tf.io.gfile.GFile(path, "rb") as f:
    saved_model = saved_model_pb2.SavedModel.FromString(f.read())
  for meta_graph in saved_model.meta_graphs:
    for name, method in METHOD_NAMES.items():
      if name in meta_graph.signature_def:
        meta_graph.signature_def[name].method_name = method
  with tf.io.gfile.GFile(path, "wb") as f:
    f.write(saved_model.SerializeToString())
