"""Tests for export/requests.py: each API's request carries the caller's batch."""

import pytest
import tensorflow as tf

from export import requests
from export import signatures


def _examples(n: int) -> list[tf.train.Example]:
  """Distinct examples (an id and a price each), so order and content can be checked."""
  examples = []
  for i in range(n):
    example = tf.train.Example()
    example.features.feature["item_id"].bytes_list.value.append(f"item_{i}".encode())
    example.features.feature["price"].float_list.value.append(1.5 * i)
    examples.append(example)
  return examples


@pytest.fixture
def examples():
  return _examples(3)


@pytest.fixture
def serialized(examples):
  return [e.SerializeToString() for e in examples]


def test_predict_sends_the_serialized_batch_in_order(serialized):
  request = requests.predict_request("ctr", serialized)
  assert request.model_spec.name == "ctr"
  assert request.model_spec.signature_name == signatures.DEFAULT
  assert list(request.inputs) == ["examples"]
  sent = request.inputs["examples"]
  assert sent.dtype == tf.string.as_datatype_enum
  assert tf.make_ndarray(sent).tolist() == serialized


def test_predict_names_the_signature_it_is_given(serialized):
  request = requests.predict_request("ctr", serialized, signatures.USER_EMBEDDING)
  assert request.model_spec.signature_name == signatures.USER_EMBEDDING


def test_an_empty_predict_batch_is_an_empty_string_vector():
  sent = requests.predict_request("ctr", []).inputs["examples"]
  assert sent.dtype == tf.string.as_datatype_enum
  assert tf.make_ndarray(sent).shape == (0,)


@pytest.mark.parametrize("build, signature", [
    (requests.regress_request, signatures.REGRESS),
    (requests.classify_request, signatures.CLASSIFY),
])
def test_regress_and_classify_send_the_examples_to_their_signature(
    build, signature, examples, serialized):
  request = build("ranker", serialized)
  assert request.model_spec.name == "ranker"
  assert request.model_spec.signature_name == signature
  assert list(request.input.example_list.examples) == examples

