"""Every signature of a reloaded export, and how it answers bad requests."""

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from export import signatures
from features import example_parser

SEQUENCES = ("hist_item_ids", "hist_category_ids")


@pytest.fixture(scope="module")
def loaded(published):
  return tf.saved_model.load(published.path)


@pytest.fixture(scope="module")
def requests(trained_run):
  return tf.constant(list(trained_run.examples.serialized[:50]))


def regular(trained_run):
  return trained_run.spec.regular(trained_run.model.model_config.task)


def test_serving_default_is_the_in_memory_student(loaded, trained_run, requests):
  outputs = loaded.signatures["serving_default"](examples=requests)
  logits = trained_run.model(example_parser.parse_batch(requests, regular(trained_run)))
  np.testing.assert_allclose(outputs["logit"].numpy(), logits.numpy(), atol=1e-5)
  np.testing.assert_allclose(outputs["probability"].numpy(),
                             tf.sigmoid(logits).numpy(), atol=1e-6)


def test_raw_signature_takes_named_tensors_and_padded_sequences(loaded, trained_run,
                                                                requests):
  parsed = example_parser.parse_batch(requests, regular(trained_run))
  raw = {name: value.to_tensor(default_value=signatures.SEQUENCE_PADDING)
         if isinstance(value, tf.RaggedTensor) else value
         for name, value in parsed.items()}
  assert any(raw[name].shape[1] > 0 for name in SEQUENCES)
  got = loaded.signatures["raw"](**raw)["probability"]
  want = loaded.signatures["serving_default"](examples=requests)["probability"]
  np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-6)


def test_regress_and_classify_follow_tf_serving_conventions(loaded, requests):
  probability = loaded.signatures["serving_default"](examples=requests)["probability"]
  regress = loaded.signatures["regress"](inputs=requests)
  np.testing.assert_allclose(regress["outputs"].numpy(), probability.numpy(), atol=1e-6)
  classify = loaded.signatures["classify"](inputs=requests)
  scores = classify["scores"].numpy()
  np.testing.assert_allclose(scores[:, 1], probability.numpy(), atol=1e-6)
  np.testing.assert_allclose(scores.sum(axis=1), 1.0, atol=1e-6)
  assert (classify["classes"].numpy() == [b"0", b"1"]).all()


def test_signature_defs_are_valid_for_tf_serving(published):
  with open(f"{published.path}/saved_model.pb", "rb") as f:
    defs = saved_model_pb2.SavedModel.FromString(f.read()).meta_graphs[0].signature_def
  assert set(defs) >= {"serving_default", "raw", "regress", "classify"}
  assert defs["regress"].method_name == "tensorflow/serving/regress"
  assert defs["classify"].method_name == "tensorflow/serving/classify"
  for name in defs:
    if name != "__saved_model_init_op":
      assert tf.compat.v1.saved_model.is_valid_signature(defs[name]), name


def example(**features):
  proto = tf.train.Example()
  for name, value in features.items():
    if isinstance(value, bytes):
      proto.features.feature[name].bytes_list.value.append(value)
    elif isinstance(value, float):
      proto.features.feature[name].float_list.value.append(value)
    else:
      proto.features.feature[name].int64_list.value.append(value)
  return proto.SerializeToString()


def test_missing_features_take_the_spec_defaults(loaded, trained_run):
  serve = loaded.signatures["serving_default"]
  defaults = {f.name: (f.parse_default.encode() if isinstance(f.parse_default, str)
                       else f.parse_default)
              for f in regular(trained_run) if not f.is_sequence}
  sparse = serve(examples=tf.constant([example(item_id=b"item_1")]))["logit"]
  explicit = serve(examples=tf.constant([example(**{**defaults,
                                                    "item_id": b"item_1"})]))["logit"]
  assert np.isfinite(sparse.numpy()).all()
  np.testing.assert_allclose(sparse.numpy(), explicit.numpy(), atol=1e-6)


def test_unknown_ids_share_the_oov_row(loaded):
  serve = loaded.signatures["serving_default"]
  first = serve(examples=tf.constant([example(user_id=b"never-seen-1",
                                              item_id=b"never-seen-2")]))["logit"]
  second = serve(examples=tf.constant([example(user_id=b"never-seen-3",
                                               item_id=b"never-seen-4")]))["logit"]
  np.testing.assert_allclose(first.numpy(), second.numpy(), atol=1e-6)


def test_an_empty_batch_gives_empty_outputs(loaded):
  outputs = loaded.signatures["serving_default"](examples=tf.constant([], tf.string))
  assert outputs["probability"].shape == (0,)
  assert loaded.signatures["classify"](inputs=tf.constant([], tf.string))[
      "scores"].shape == (0, 2)


def test_a_wrong_dtype_is_a_clear_error(loaded):
  with pytest.raises((TypeError, ValueError, tf.errors.InvalidArgumentError)):
    loaded.signatures["serving_default"](examples=tf.constant([1.0]))
  with pytest.raises(tf.errors.InvalidArgumentError, match="price"):
    loaded.signatures["serving_default"](examples=tf.constant([example(price=b"cheap")]))
