"""The validation gate refuses what must not ship, and publishes nothing then."""

import os

import numpy as np
import pytest

from export import export_model
from export import gate
from export import signatures


def publishable(trained_run, tmp_path, module, **kwargs):
  kwargs.setdefault("policy", gate.BlessingPolicy(min_auc=0.0))
  return export_model.export_module(
      module, trained_run.model, trained_run.spec, export_base=str(tmp_path),
      model_name="ctr", examples=trained_run.examples, **kwargs)


def integer_dirs(path):
  return [n for n in os.listdir(path) if n.isdigit()] if os.path.isdir(path) else []


def test_a_privileged_signature_input_is_refused_by_name(trained_run, tmp_path):
  task = trained_run.model.model_config.task
  privileged = trained_run.spec.privileged(task)
  module = signatures.ServingModule(trained_run.model.student,
                                    trained_run.spec.regular(task) + privileged[:1])
  with pytest.raises(gate.ExportRefused, match=privileged[0].name):
    publishable(trained_run, tmp_path, module)
  assert integer_dirs(tmp_path / "ctr") == []


def test_a_teacher_variable_in_the_object_graph_is_refused(trained_run, tmp_path):
  task = trained_run.model.model_config.task
  module = signatures.ServingModule(trained_run.model.student,
                                    trained_run.spec.regular(task))
  module.leaked = trained_run.model.teacher  # The bug the gate exists for.
  with pytest.raises(gate.ExportRefused, match="teacher variables"):
    publishable(trained_run, tmp_path, module)
  assert integer_dirs(tmp_path / "ctr") == []


def test_parity_refuses_a_difference_above_the_tolerance():
  reference = np.array([0.25, 0.5], np.float32)
  assert gate.check_parity(reference + 5e-6, reference) <= 1e-5
  with pytest.raises(gate.ExportRefused, match="example 1"):
    gate.check_parity(reference + np.array([0.0, 3e-5]), reference)


def test_blessing_needs_the_floor_and_at_most_the_allowed_drop():
  policy = gate.BlessingPolicy(min_auc=0.6, max_auc_drop=0.005)
  policy.check(0.70, None)
  policy.check(0.706, 0.71, 7)
  with pytest.raises(gate.NotBlessed, match="floor"):
    policy.check(0.59, None)
  with pytest.raises(gate.NotBlessed, match="version 7"):
    policy.check(0.70, 0.71, 7)


def test_a_model_name_serves_one_task():
  gate.check_same_task("ctr", {}, "ranker")
  gate.check_same_task("ctr", {3: "ctr", 7: "ctr"}, "ranker")
  with pytest.raises(gate.ExportRefused,
                     match=r"'ranker' serves task 'cvr' \(published version 7\).*"
                           r"trained for task 'ctr'.*--model_name=ctr"):
    gate.check_same_task("ctr", {3: "ctr", 7: "cvr"}, "ranker")


def test_a_candidate_is_compared_with_the_published_version_on_the_same_examples(
    trained_run, tmp_path):
  task = trained_run.model.model_config.task
  module = signatures.ServingModule(trained_run.model.student,
                                    trained_run.spec.regular(task))
  first = publishable(trained_run, tmp_path, module)
  # The same student again: equal AUC passes with no allowed drop...
  second = publishable(trained_run, tmp_path, module,
                       policy=gate.BlessingPolicy(min_auc=0.0, max_auc_drop=0.0))
  validation = second.metadata["validation"]
  assert validation["compared_with_version"] == first.version
  assert validation["compared_with_auc"] == pytest.approx(validation["eval_auc"])
  # ...and is refused when it must beat the published one.
  with pytest.raises(gate.NotBlessed, match=f"version {second.version}"):
    publishable(trained_run, tmp_path, module,
                policy=gate.BlessingPolicy(min_auc=0.0, max_auc_drop=-0.01))
  assert sorted(int(n) for n in integer_dirs(tmp_path / "ctr")) == [
      first.version, second.version]
  assert any(n.startswith(".rejected-") for n in os.listdir(tmp_path / "ctr"))


def test_recall_refuses_an_index_that_misses_the_exact_top_k():
  exact = np.array([[b"a", b"b"], [b"c", b"d"]])
  assert gate.check_recall(exact[:, ::-1], exact) == 1.0  # Order does not count.
  half = np.array([[b"a", b"x"], [b"y", b"d"]])
  assert gate.check_recall(half, exact, min_recall=0.5) == 0.5
  with pytest.raises(gate.ExportRefused, match=r"finds 0.500 .* min_recall=0.95"):
    gate.check_recall(half, exact)
