"""Tests for export/warmup.py: what TF Serving replays before serving a version."""

import os

import pytest
import tensorflow as tf

from export import signatures
from export import warmup


def _example(i: int) -> tf.train.Example:
  example = tf.train.Example()
  example.features.feature["price"].float_list.value.append(float(i))
  return example


# Distinct examples, so which ones a request holds, and in what order, can be checked.
EXAMPLES = [_example(i) for i in range(5)]
SERIALIZED = [e.SerializeToString() for e in EXAMPLES]


def _kinds(logs):
  return [log.WhichOneof("log_type") for log in logs]


def _predict_batches(logs):
  return [(log.predict_log.request.model_spec.signature_name,
           tf.make_ndarray(log.predict_log.request.inputs["examples"]).tolist())
          for log in logs if log.HasField("predict_log")]


def test_warmup_requests_are_prediction_logs_a_server_can_replay(published,
                                                                 trained_run):
  logs = warmup.read_warmup(published.path)
  kinds = [log.WhichOneof("log_type") for log in logs]
  assert kinds == ["predict_log"] * 3 + ["regress_log", "classify_log"]
  loaded = tf.saved_model.load(published.path)
  for log in logs[:3]:
    request = log.predict_log.request
    examples = tf.make_ndarray(request.inputs["examples"])
    assert list(examples) == list(trained_run.examples.serialized[:len(examples)])
    outputs = loaded.signatures[request.model_spec.signature_name](
        examples=tf.constant(examples))
    assert outputs["probability"].shape == (len(examples),)
  assert len(logs[3].regress_log.request.input.example_list.examples) == 100


def test_batch_sizes_are_capped_at_the_examples_given_without_repeats():
  # 5 examples: sizes 1, 10, 100 become 1, 5, 5, and 5 is sent once.
  logs = warmup.prediction_logs("ctr", SERIALIZED)
  assert _kinds(logs) == ["predict_log"] * 2 + ["regress_log", "classify_log"]
  assert [len(batch) for _, batch in _predict_batches(logs)] == [1, 5]


def test_every_predict_signature_gets_every_batch_size_in_order():
  names = (signatures.DEFAULT, signatures.USER_EMBEDDING)
  logs = warmup.prediction_logs("ctr", SERIALIZED, names, batch_sizes=(4, 2))
  assert _predict_batches(logs[:-2]) == [
      (name, SERIALIZED[:size]) for name in names for size in (2, 4)]


def test_regress_and_classify_replay_the_largest_batch_through_their_signatures():
  regress, classify = warmup.prediction_logs("ranker", SERIALIZED,
                                             batch_sizes=(1, 2))[-2:]
  for request, signature in ((regress.regress_log.request, signatures.REGRESS),
                             (classify.classify_log.request, signatures.CLASSIFY)):
    assert request.model_spec.name == "ranker"
    assert request.model_spec.signature_name == signature
    assert list(request.input.example_list.examples) == EXAMPLES[:2]


def test_every_request_names_the_served_model():
  logs = warmup.prediction_logs("cvr", SERIALIZED)
  names = {getattr(log, log.WhichOneof("log_type")).request.model_spec.name
           for log in logs}
  assert names == {"cvr"}


def test_warmup_without_examples_is_refused():
  with pytest.raises(ValueError, match="at least one eval example"):
    warmup.prediction_logs("ctr", [])


def test_the_written_file_reads_back_as_the_logs_built(tmp_path):
  names = (signatures.DEFAULT, signatures.TOP_K)
  path = warmup.write_warmup(str(tmp_path), "ctr", SERIALIZED, names)
  # TF Serving looks for exactly this file in the version's directory.
  assert path == os.path.join(tmp_path, "assets.extra", "tf_serving_warmup_requests")
  assert warmup.read_warmup(str(tmp_path)) == warmup.prediction_logs("ctr", SERIALIZED,
                                                                     names)
