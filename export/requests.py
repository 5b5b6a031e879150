"""TF Serving requests for the exported signatures (tensorflow-serving-api protos).

One builder per API, shared by the warm-up file (what the server replays at load) and
the gRPC client (what callers send), so both speak exactly what the signatures take:
serialized tf.Examples holding regular features.
"""

from __future__ import annotations

from typing import Sequence

import tensorflow as tf
from tensorflow_serving.apis import classification_pb2
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import regression_pb2

from export import signatures


def predict_request(model_name: str, examples: Sequence[bytes],
                    signature_name: str = signatures.DEFAULT
                    ) -> predict_pb2.PredictRequest:
  """Predict API: the batch as the `examples` string tensor."""
  request = predict_pb2.PredictRequest()
  request.model_spec.name = model_name
  request.model_spec.signature_name = signature_name
  request.inputs["examples"].CopyFrom(tf.make_tensor_proto(list(examples),
                                                           dtype=tf.string))
  return request


def _fill_examples(request, model_name: str, signature_name: str,
                   examples: Sequence[bytes]):
  request.model_spec.name = model_name
  request.model_spec.signature_name = signature_name
  request.input.example_list.examples.extend(
      tf.train.Example.FromString(e) for e in examples)
  return request


def regress_request(model_name: str, examples: Sequence[bytes]
                    ) -> regression_pb2.RegressionRequest:
  """Regress API: the batch as an ExampleList, scored by the `regress` signature."""
  return _fill_examples(regression_pb2.RegressionRequest(), model_name,
                        signatures.REGRESS, examples)


def classify_request(model_name: str, examples: Sequence[bytes]
                     ) -> classification_pb2.ClassificationRequest:
  """Classify API: the batch as an ExampleList, scored by the `classify` signature."""
  return _fill_examples(classification_pb2.ClassificationRequest(), model_name,
                        signatures.CLASSIFY, examples)
