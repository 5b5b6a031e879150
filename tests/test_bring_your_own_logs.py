"""Another shop's logs, from raw lines to a queried student, with no code change.

WORKSPACE.md's "Bring your own logs" is run as written: its shell blocks, read out of
the markdown, with the variables it tells the reader to set (LOGS, WORK, TASK). The
test plays the person only at step 2 (the edit); steps 4 to 6 (train, export,
query) run once per task of the edited spec.
"""

import json
import os
import re
from typing import NamedTuple

import pytest
from tensorflow_metadata.proto.v0 import statistics_pb2
import tensorflow as tf
import yaml

from features import dataset as dataset_lib
from features import spec as spec_lib
from models.training import restore

import doc_commands
import other_shop_logs

STEPS = doc_commands.steps(doc_commands.section(doc_commands.WORKSPACE_MD,
                                                "## Bring your own logs"))
# The documented commands train with their defaults (3 epochs of 512). On 40k
# impressions over 5 days (the last one eval) the CVR student's eval AUC is 0.556
# with this test's edit (0.575 and 0.566 unedited, the logs' seeds 0 and 1): clear of
# the export's floor (0.5). On 6k over 3 days it was 0.445, and the gate rightly
# refused the student.
NUM_IMPRESSIONS, DAYS = 40_000, 5
QUERIED = 5  # Step 6 scores the task's first 5 eval examples.
# The extra detail-page event the simulator never logs, and what infer_spec proposes
# for it: a count, privileged for the conversion task.
SHARE_COUNT = "share_count"


class Published(NamedTuple):
  """Steps 1 to 3 done: what the join published, and what the reader saw."""
  dataset: dataset_lib.PublishedDataset
  report: dict  # run_report.json, as the reader opens it.
  checked: str  # What step 2's check printed.
  variables: dict[str, str]  # LOGS and WORK.


def edit(spec_path: str) -> None:
  """Step 2, the person's part: `scene` has one value in these logs, so it can teach
  nothing; user ids seen once are noise."""
  with open(spec_path) as f:
    edited = yaml.safe_load(f)
  edited["features"] = [f for f in edited["features"] if f["name"] != "scene"]
  next(f for f in edited["features"] if f["name"] == "user_id")["min_count"] = 2
  with open(spec_path, "w") as f:
    yaml.safe_dump(edited, f)


def run_step(name: str, variables: dict[str, str]) -> str:
  """The documented blocks of step `name`, run in order; their stdout."""
  assert STEPS.get(name), f"WORKSPACE.md's Bring your own logs has no {name!r} block."
  return "".join(doc_commands.run(block, variables) for block in STEPS[name])


@pytest.fixture(scope="module")
def published(tmp_path_factory):
  """Steps 1 to 3, with the person's edit between the inference and its check."""
  root = tmp_path_factory.mktemp("other_shop")
  variables = {"LOGS": str(root / "logs"),
               "WORK": str(root / "work")}  # Not created: the first step makes it.
  other_shop_logs.write(variables["LOGS"], num_impressions=NUM_IMPRESSIONS, days=DAYS)
  run_step("Infer", variables)
  edit(os.path.join(variables["WORK"], "my_spec.yaml"))
  checked = run_step("Edit", variables)
  run_step("Join", variables)
  examples = os.path.join(variables["WORK"], "examples")
  with open(os.path.join(examples, "run_report.json")) as f:
    report = json.load(f)
  return Published(dataset_lib.PublishedDataset.open(examples), report, checked,
                   variables)


@pytest.fixture(scope="module")
def served(published):
  """Steps 4 to 6 per task: task -> (its variables, what step 6 printed)."""
  out = {}
  for task in published.dataset.spec.tasks:
    task_variables = {**published.variables, "TASK": task}
    run_step("Train", task_variables)
    run_step("Export", task_variables)
    out[task] = task_variables, run_step("Query", task_variables)
  return out


def published_version(variables: dict[str, str]) -> str:
  base = os.path.join(variables["WORK"], "serving", variables["TASK"])
  versions = [name for name in os.listdir(base) if name.isdigit()]
  assert len(versions) == 1, versions
  return os.path.join(base, versions[0])


def test_the_check_prints_the_edited_specs_tasks(published):
  spec = published.dataset.spec
  assert published.checked.split() == [str(len(spec)), "features;", "tasks:",
                                       *spec.tasks]


def test_the_proposal_declares_the_shops_own_keys_and_events(published):
  spec, report = published.dataset.spec, published.report
  logged = {f.source for f in spec.logged()}
  assert {"user.gender", "user.member_level", "user.vip", "user.geo.country",
          "item.cat", "item.seller", "item.brand", "item.price_cny"} <= logged
  assert "scene" not in {f.name for f in spec}  # The edit reached the join.
  assert report["coverage"]["logged_not_declared"] == {}  # Nothing left behind.
  coverage = report["coverage"]["declared"]
  member_level = next(f.name for f in spec.logged() if f.source == "user.member_level")
  assert 0.85 < coverage[member_level]["fraction"] < 0.95  # ~10% lack it.
  assert set(spec.events) == set(other_shop_logs.EVENTS)
  share = spec[SHARE_COUNT]
  assert share.derive.event == "share"
  conversion = next(t for t in spec.tasks.values() if t.clicked_only)
  assert share.role(conversion.name) is spec_lib.Role.PRIVILEGED
  assert all(share.role(t.name) is spec_lib.Role.EXCLUDED
             for t in spec.tasks.values() if not t.clicked_only)


def test_every_declared_key_has_a_vocabulary_or_numeric_statistics(published):
  dataset = published.dataset
  sizes = published.report["vocabulary_sizes"]
  for feature in dataset.spec.logged():
    if feature.vocabulary is not None:
      assert sizes[feature.vocabulary] > 1, feature.name
      tokens = open(dataset.vocabulary_path(feature.vocabulary)).read().split("\n")[:-1]
      assert all(tokens), feature.name  # No empty line: a missing value has a token.
      if feature.source == "user.vip":  # JSON booleans are the tokens true / false.
        assert set(tokens) == {"true", "false"}
      if feature.source == "user.geo.country":
        assert set(tokens) == set(other_shop_logs.COUNTRIES)
  with open(os.path.join(dataset.data_dir, "stats", "train.pb"), "rb") as f:
    proto = statistics_pb2.DatasetFeatureStatisticsList.FromString(f.read())
  numeric = {s.path.step[0]: s.num_stats for s in proto.datasets[0].features
             if s.HasField("num_stats")}
  for feature in dataset.spec.logged():
    if feature.kind is spec_lib.Kind.NUMERIC:
      assert numeric[feature.name].max > numeric[feature.name].min, feature.name


def test_every_task_is_trained_exported_and_answers_a_query(published, served):
  dataset = published.dataset
  assert set(served) == {"ctr", "cvr"}  # The proposal's tasks, both documented.
  for task, (_, printed) in served.items():
    probabilities = [float(p) for p in re.findall(r"\d\.\d+(?:e-?\d+)?", printed)]
    assert len(probabilities) == min(QUERIED, dataset.example_count("eval", task)), (
        task, printed)
    assert all(0.0 < p < 1.0 for p in probabilities), (task, printed)


def test_the_exports_ship_the_student_alone(published, served):
  """The teacher saw the privileged features (share_count for the conversion task);
  no signature of the export reads one and no teacher weight is saved."""
  dataset = published.dataset
  spec = dataset.spec
  for task, (variables, _) in served.items():
    privileged = {f.name for f in spec.privileged(task)}
    model, _ = restore.restore_trained_model(
        os.path.join(variables["WORK"], "models", task), dataset)
    assert privileged <= {f.name for f in model.teacher_features}, task
    if spec.task(task).clicked_only:
      assert SHARE_COUNT in privileged
    version = published_version(variables)
    with open(os.path.join(version, "assets.extra", "model_metadata.json")) as f:
      metadata = json.load(f)
    inputs = {name for names in metadata["signatures"].values() for name in names}
    assert not inputs & privileged and SHARE_COUNT not in inputs, task
    assert set(metadata["regular_features"]) == {f.name for f in spec.regular(task)}
    # The boolean and the nested key reach the served student as regular inputs.
    assert {f.name for f in spec.logged() if f.source in ("user.vip", "user.geo.country")
            } <= set(metadata["regular_features"]), task
    saved = tf.train.list_variables(os.path.join(version, "variables", "variables"))
    assert saved and not any("teacher" in name for name, _ in saved), task
