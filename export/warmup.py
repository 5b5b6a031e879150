"""TF Serving warm-up requests: `assets.extra/tf_serving_warmup_requests`.

A freshly loaded version runs its first requests slowly (graph optimisation, lazy
allocation, table initialisation). TF Serving replays this file before it marks the
version available, so real traffic never pays that. The requests are real eval
examples, at each batch size the server will see, through every signature kind that
clients call: Predict (serving_default, and a two-tower's user_embedding,
item_embedding and top_k), Regress and Classify.
"""

from __future__ import annotations

import posixpath
from typing import Sequence

import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

from export import requests
from export import signatures

ASSETS_EXTRA = "assets.extra"
WARMUP_FILE = "tf_serving_warmup_requests"
BATCH_SIZES = (1, 10, 100)


def warmup_path(export_dir: str) -> str:
  return posixpath.join(export_dir, ASSETS_EXTRA, WARMUP_FILE)


def prediction_logs(model_name: str, examples: Sequence[bytes],
                    predict_signatures: Sequence[str] = (signatures.DEFAULT,),
                    batch_sizes: Sequence[int] = BATCH_SIZES
                    ) -> list[prediction_log_pb2.PredictionLog]:
  """Per Predict signature, one request per batch size (capped at len(examples));
  then one Regress and one Classify request of the largest batch.

  Args:
    model_name: The name the server serves the model under.
    examples: Serialized tf.Examples holding regular features.
    predict_signatures: Signatures whose only input is `examples` (a two-tower
      export adds user_embedding, item_embedding and top_k).
  """
  if not examples:
    raise ValueError("Warm-up needs at least one eval example; got none.")
  sizes = sorted({min(size, len(examples)) for size in batch_sizes})
  logs = [prediction_log_pb2.PredictionLog(predict_log=prediction_log_pb2.PredictLog(
      request=requests.predict_request(model_name, examples[:size], name)))
          for name in predict_signatures for size in sizes]
  largest = examples[:sizes[-1]]
  logs.append(prediction_log_pb2.PredictionLog(regress_log=prediction_log_pb2.RegressLog(
      request=requests.regress_request(model_name, largest))))
  logs.append(prediction_log_pb2.PredictionLog(
      classify_log=prediction_log_pb2.ClassifyLog(
          request=requests.classify_request(model_name, largest))))
  return logs


def write_warmup(export_dir: str, model_name: str, examples: Sequence[bytes],
                 predict_signatures: Sequence[str] = (signatures.DEFAULT,)) -> str:
  """Writes the warm-up file into a SavedModel directory; returns its path."""
  path = warmup_path(export_dir)
  tf.io.gfile.makedirs(posixpath.dirname(path))
  with tf.io.TFRecordWriter(path) as writer:
    for log in prediction_logs(model_name, examples, predict_signatures):
      writer.write(log.SerializeToString())
  return path


def read_warmup(export_dir: str) -> list[prediction_log_pb2.PredictionLog]:
  """The warm-up file's PredictionLogs, as TF Serving reads them."""
  return [prediction_log_pb2.PredictionLog.FromString(record.numpy())
          for record in tf.data.TFRecordDataset(warmup_path(export_dir))]
