"""TF Serving warm-up requests: `assets.extra/tf_serving_warmup_requests`.

A freshly loaded version runs its first requests slowly (graph optimisation, lazy
allocation, table initialisation). TF Serving replays this file before it marks the
version available, so real traffic never pays that. The requests are real eval
examples, at each batch size the server will see, through every signature kind that
clients call: Predict (serving_default), Regress and Classify.
"""

from __future__ import annotations

import posixpath
from typing import Sequence

import tensorflow as tf
from tensorflow_serving.apis import classification_pb2
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_log_pb2
from tensorflow_serving.apis import regression_pb2

from export import signatures

ASSETS_EXTRA = "assets.extra"
WARMUP_FILE = "tf_serving_warmup_requests"
BATCH_SIZES = (1, 10, 100)


def warmup_path(export_dir: str) -> str:
  return posixpath.join(export_dir, ASSETS_EXTRA, WARMUP_FILE)


def prediction_logs(model_name: str, examples: Sequence[bytes],
                    batch_sizes: Sequence[int] = BATCH_SIZES
                    ) -> list[prediction_log_pb2.PredictionLog]:
  """One Predict request per batch size (capped at len(examples)), then one Regress
  and one Classify request of the largest batch.

  Args:
    model_name: The name the server serves the model under.
    examples: Serialized tf.Examples holding regular features.
  """
  if not examples:
    raise ValueError("Warm-up needs at least one eval example; got none.")
  sizes = sorted({min(size, len(examples)) for size in batch_sizes})
  logs = []
  for size in sizes:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signatures.DEFAULT
    request.inputs["examples"].CopyFrom(tf.make_tensor_proto(list(examples[:size]),
                                                             dtype=tf.string))
    logs.append(prediction_log_pb2.PredictionLog(
        predict_log=prediction_log_pb2.PredictLog(request=request)))
  parsed = [tf.train.Example.FromString(e) for e in examples[:sizes[-1]]]
  regress = regression_pb2.RegressionRequest()
  regress.model_spec.name = model_name
  regress.model_spec.signature_name = signatures.REGRESS
  regress.input.example_list.examples.extend(parsed)
  logs.append(prediction_log_pb2.PredictionLog(
      regress_log=prediction_log_pb2.RegressLog(request=regress)))
  classify = classification_pb2.ClassificationRequest()
  classify.model_spec.name = model_name
  classify.model_spec.signature_name = signatures.CLASSIFY
  classify.input.example_list.examples.extend(parsed)
  logs.append(prediction_log_pb2.PredictionLog(
      classify_log=prediction_log_pb2.ClassifyLog(request=classify)))
  return logs


def write_warmup(export_dir: str, model_name: str, examples: Sequence[bytes]) -> str:
  """Writes the warm-up file into a SavedModel directory; returns its path."""
  path = warmup_path(export_dir)
  tf.io.gfile.makedirs(posixpath.dirname(path))
  with tf.io.TFRecordWriter(path) as writer:
    for log in prediction_logs(model_name, examples):
      writer.write(log.SerializeToString())
  return path


def read_warmup(export_dir: str) -> list[prediction_log_pb2.PredictionLog]:
  """The warm-up file's PredictionLogs, as TF Serving reads them."""
  return [prediction_log_pb2.PredictionLog.FromString(record.numpy())
          for record in tf.data.TFRecordDataset(warmup_path(export_dir))]
