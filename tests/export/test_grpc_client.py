"""The gRPC client against an in-process PredictionService backed by the export.

The servicer does what TF Serving does with each API (feed the request's Examples to
the named signature), so the client's requests and response handling are exercised
over real gRPC without a model server binary.
"""

from concurrent import futures

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import classification_pb2
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_service_pb2_grpc
from tensorflow_serving.apis import regression_pb2

from export import grpc_client


class FakeModelServer(prediction_service_pb2_grpc.PredictionServiceServicer):

  def __init__(self, export_dir):
    self._signatures = tf.saved_model.load(export_dir).signatures

  def _examples(self, request):
    return tf.constant([e.SerializeToString()
                        for e in request.input.example_list.examples])

  def Predict(self, request, context):
    signature = self._signatures[request.model_spec.signature_name]
    outputs = signature(
        examples=tf.constant(tf.make_ndarray(request.inputs["examples"])))
    response = predict_pb2.PredictResponse()
    for name, value in outputs.items():
      response.outputs[name].CopyFrom(tf.make_tensor_proto(value.numpy()))
    return response

  def Regress(self, request, context):
    outputs = self._signatures[request.model_spec.signature_name](
        inputs=self._examples(request))["outputs"].numpy()
    response = regression_pb2.RegressionResponse()
    response.result.regressions.extend(regression_pb2.Regression(value=v)
                                       for v in outputs)
    return response

  def Classify(self, request, context):
    outputs = self._signatures[request.model_spec.signature_name](
        inputs=self._examples(request))
    response = classification_pb2.ClassificationResponse()
    for labels, scores in zip(outputs["classes"].numpy(), outputs["scores"].numpy()):
      response.result.classifications.add().classes.extend(
          classification_pb2.Class(label=label.decode(), score=score)
          for label, score in zip(labels, scores))
    return response


@pytest.fixture(scope="module")
def stub(published):
  server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
  prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
      FakeModelServer(published.path), server)
  port = server.add_insecure_port("localhost:0")
  server.start()
  yield grpc_client.connect(f"localhost:{port}")
  server.stop(None)


@pytest.mark.parametrize("api", grpc_client.APIS)
def test_every_api_returns_the_students_probabilities(stub, published, trained_run,
                                                      api):
  examples = list(trained_run.examples.serialized[:7])
  want = tf.saved_model.load(published.path).signatures["serving_default"](
      examples=tf.constant(examples))["probability"].numpy()
  got = grpc_client.score(stub, "ctr", examples, api)
  np.testing.assert_allclose(got, want, atol=1e-6)


def test_an_unknown_api_is_refused(stub):
  with pytest.raises(ValueError, match="predict"):
    grpc_client.score(stub, "ctr", [b""], "explain")
