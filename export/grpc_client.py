r"""A small gRPC client for the exported student on TF Serving.

    python -m export.grpc_client --server=localhost:8500 --model_name=cvr \
      --data_dir=workspace/examples --num_examples=5 --api=predict

Sends eval Examples of the dataset (regular features only are read by the model) to
the Predict, Regress or Classify API and prints one probability per example. The
functions are what a caller's own service would use.
"""

from __future__ import annotations

from typing import Sequence

from absl import app
from absl import flags
import grpc
import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import prediction_service_pb2_grpc

from export import requests
from features import input as input_lib

APIS = ("predict", "regress", "classify")
TIMEOUT_S = 10.0


def connect(server: str) -> prediction_service_pb2_grpc.PredictionServiceStub:
  return prediction_service_pb2_grpc.PredictionServiceStub(
      grpc.insecure_channel(server))


def score(stub: prediction_service_pb2_grpc.PredictionServiceStub, model_name: str,
          examples: Sequence[bytes], api: str = "predict",
          timeout_s: float = TIMEOUT_S) -> np.ndarray:
  """`[n]` probabilities for serialized Examples, through one of TF Serving's APIs."""
  if api == "predict":
    response = stub.Predict(requests.predict_request(model_name, examples), timeout_s)
    return tf.make_ndarray(response.outputs["probability"])
  if api == "regress":
    response = stub.Regress(requests.regress_request(model_name, examples), timeout_s)
    return np.array([r.value for r in response.result.regressions], np.float32)
  if api == "classify":
    response = stub.Classify(requests.classify_request(model_name, examples),
                             timeout_s)
    return np.array([next(c.score for c in result.classes if c.label == "1")
                     for result in response.result.classifications], np.float32)
  raise ValueError(f"Unknown api {api!r}; expected one of {APIS}.")


FLAGS = flags.FLAGS


def _define_flags() -> None:
  flags.DEFINE_string("server", "localhost:8500", "TF Serving's gRPC address.")
  flags.DEFINE_string("model_name", None, "The served model's name.")
  flags.DEFINE_string("data_dir", None, "A published dataset: its eval examples are "
                      "sent.")
  flags.DEFINE_string("task", "cvr", "Whose eval examples to send: a task of the "
                      "dataset's spec.")
  flags.DEFINE_integer("num_examples", 5, "Examples in the request.")
  flags.DEFINE_enum("api", "predict", list(APIS), "TF Serving API to call.")
  flags.mark_flags_as_required(["model_name", "data_dir"])


def main(argv: Sequence[str]) -> None:
  del argv
  examples = [r.numpy() for r in input_lib.task_records(FLAGS.data_dir, "eval",
                                                        FLAGS.task)
              .take(FLAGS.num_examples)]
  for p in score(connect(FLAGS.server), FLAGS.model_name, examples, FLAGS.api):
    print(f"{p:.6f}")


if __name__ == "__main__":
  _define_flags()
  app.run(main)
