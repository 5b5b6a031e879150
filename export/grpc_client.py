r"""A small gRPC client for the exported student on TF Serving.

    python -m export.grpc_client --server=localhost:8500 --model_name=cvr \
      --data_dir=workspace/examples --num_examples=5 --api=predict

Sends eval Examples of the dataset (regular features only are read by the model) to
the Predict, Regress or Classify API and prints one probability per example. The
functions are what a caller's own service would use.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import grpc
import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import prediction_service_pb2_grpc

import cli
import config_flags
from config_flags import knob
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


@dataclasses.dataclass(frozen=True)
class ClientJob:
  """Which served model to ask, and what to send it."""
  model_name: str = knob(help="The served model's name.")
  data_dir: str = knob(help="A published dataset: its eval examples are sent.")
  task: str = knob(help="Whose eval examples to send: a task of the dataset's spec.")
  server: str = knob("localhost:8500", "TF Serving's gRPC address.")
  num_examples: int = knob(5, "Examples in the request.")
  api: str = knob("predict", f"TF Serving API to call, one of {APIS}.")


def main(argv: Sequence[str]) -> None:
  del argv
  job = config_flags.from_flags(ClientJob)
  examples = [r.numpy() for r in input_lib.task_records(job.data_dir, "eval", job.task)
              .take(job.num_examples)]
  for p in score(connect(job.server), job.model_name, examples, job.api):
    print(f"{p:.6f}")


if __name__ == "__main__":
  config_flags.define(ClientJob, required=["model_name", "data_dir", "task"])
  cli.run(main)
