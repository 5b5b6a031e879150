"""The training job: modes end to end on the tiny world, its outputs, its checks."""

import concurrent.futures
import dataclasses
import functools
import glob
import json
import os
import shutil
import threading

import numpy as np
import pytest
import tensorflow as tf

import roc
from benchmarks import teacher_ceiling
from features import dataset as dataset_lib
from features import input as input_lib
from features import spec as spec_lib
from models import compare
from models import train
from models.training import run_directory
from models.training import restore
from models.training import fit
from models.training import evaluation
from models.config import Mode, ModelConfig
from features import time_split
from simulation import load_oracle

SMALL = dict(task="ctr", embedding_dim=4, student_hidden=(8,), teacher_hidden=(8,))
FAST = train.TrainConfig(batch_size=128, epochs=1, steps_per_epoch=5)


def test_two_stage_writes_both_stages_and_reports_both_heads(tiny_world, tmp_path):
  results = train.train_and_evaluate(tiny_world.examples_dir, str(tmp_path),
                                     ModelConfig(mode="two_stage", **SMALL), FAST)
  on_disk = json.load(open(tmp_path / "metrics.json"))
  assert on_disk["eval"] == pytest.approx(results["eval"])
  assert {"student_auc", "teacher_auc", "student_gauc", "teacher_expensive_auc"} <= set(
      results["eval"])
  assert os.listdir(tmp_path / "stage1_teacher" / "checkpoints")
  assert os.listdir(tmp_path / "checkpoints")
  assert os.listdir(tmp_path / "tensorboard")
  assert results["model_config"]["mode"] == "two_stage"
  # The eval scores behind the figures, for paired tests between runs.
  scores = evaluation.read_scores(str(tmp_path))
  assert len(scores["labels"]) == results["eval"]["eval_examples"]
  assert scores["labels"].sum() == results["eval"]["eval_positives"]
  for head in ("student", "teacher"):
    # Keras's AUC sums 200 thresholds: near the exact one, not equal.
    assert roc.auc(scores["labels"], scores[head]) == pytest.approx(
        results["eval"][f"{head}_auc"], abs=2e-3)


def test_mirrored_strategy_trains(tiny_world, tmp_path):
  results = train.train_and_evaluate(
      tiny_world.examples_dir, str(tmp_path), ModelConfig(mode="student", **SMALL),
      train.TrainConfig(batch_size=128, epochs=1, steps_per_epoch=3,
                        strategy="mirrored"))
  assert "teacher_auc" not in results["eval"]
  assert 0 <= results["eval"]["student_auc"] <= 1


def test_each_epoch_takes_one_optimizer_step_per_batch(tiny_world, tmp_path):
  """Keras counted a step too many over a dataset of unknown length: the swap step
  would have moved."""
  batch_size, epochs = 64, 2
  results = train.train_and_evaluate(
      tiny_world.examples_dir, str(tmp_path),
      ModelConfig(mode="student", **{**SMALL, "task": "cvr"}),
      train.TrainConfig(batch_size=batch_size, epochs=epochs))
  examples = dataset_lib.PublishedDataset.open(tiny_world.examples_dir).example_count(
      "train", "cvr")
  assert results["train_steps"] == epochs * -(-examples // batch_size)


def test_a_capped_epoch_continues_the_data_and_validates_each_block(tiny_world,
                                                                    tmp_path):
  """Capped epochs once ran out of data after a pass and ended the run."""
  dataset = dataset_lib.PublishedDataset.open(tiny_world.examples_dir)
  train_range, _ = train.validation_split(dataset, "ctr", 1)
  examples = input_lib.example_count(dataset, "train", "ctr", train_range)
  batch_size = -(-examples // 5)  # A pass: 5 batches; 4 blocks of 3 steps: 2.4 passes.
  results = train.train_and_evaluate(
      dataset, str(tmp_path), ModelConfig(mode="student", **SMALL),
      train.TrainConfig(batch_size=batch_size, epochs=4, steps_per_epoch=3,
                        validation_days=1, early_stopping_patience=4))
  assert results["train_steps"] == 4 * 3
  assert len(results["history"]["val_student_auc"]) == 4
  assert results["validation"]["checks"] == 4
  assert results["validation"]["steps_per_check"] == 3


def test_a_resumed_stream_continues_where_the_killed_run_left(tiny_world):
  def stream():  # A fresh process's: the same seeds, no pass drawn yet.
    tf.keras.utils.set_random_seed(3)
    return input_lib.make_dataset(tiny_world.examples_dir, "train", "ctr", 300, seed=3,
                                  deterministic=True, repeat=True)

  def ids(data, batches):
    return [list(features["impression_id"])
            for features, _ in data.take(batches).as_numpy_iterator()]

  done, steps = 3, 4  # 12 batches of 300: past the 2000 examples' first pass.
  straight = ids(stream(), done * steps + 3)
  assert ids(fit.resumed_input(stream(), done, steps), 3) == straight[-3:]


def test_compare_table_has_a_row_per_head_and_the_ceilings(tiny_world, tmp_path):
  rows = compare.run_modes(tiny_world.examples_dir, str(tmp_path),
                           [Mode.STUDENT, Mode.PFD], [0, 1], ModelConfig(**SMALL),
                           train.TrainConfig(batch_size=128, epochs=1,
                                             steps_per_epoch=2))
  assert [(r["mode"], r["seed"]) for r in rows] == [
      ("student", 0), ("pfd", 0), ("student", 1), ("pfd", 1)]
  summary = compare.summarize(rows)
  mean, std = summary["pfd"]["student_auc"]
  values = [r["student_auc"] for r in rows if r["mode"] == "pfd"]
  assert mean == pytest.approx(sum(values) / 2) and std >= 0
  table = compare.format_table(summary, compare.load_ceilings(
      os.path.join(tiny_world.raw_dir, "oracle"), "ctr"), spec_lib.DEFAULT_SPEC)
  modes = [line.split("|")[1].strip() for line in table.splitlines()[2:]]
  assert modes.count("pfd") == 2 and modes.count("student") == 1
  assert "Bayes-optimal (regular features)" in table
  assert "| AUC, expensive |" in table.splitlines()[0]


def test_shares_split_the_runs_and_a_finished_run_is_read_not_trained(
    tiny_world, tmp_path, monkeypatch):
  variants = {"student": ModelConfig(mode="student", **SMALL),
              "pfd": ModelConfig(mode="pfd", **SMALL)}
  fast = train.TrainConfig(batch_size=128, epochs=1, steps_per_epoch=2)
  run = functools.partial(compare.run_variants, tiny_world.examples_dir,
                          str(tmp_path / "runs"), variants, [0, 1])
  claims = tmp_path / "claims"
  claims.mkdir()
  other = compare.Share(str(claims))
  # Another process has claimed the first and third runs: this one trains the rest.
  for name in ("student-seed0", "student-seed1"):
    assert other.take(str(tmp_path / "runs" / name))
  first = run(fast, share=compare.Share(str(claims)))
  assert [(r["mode"], r["seed"]) for r in first] == [("pfd", 0), ("pfd", 1)]
  second = run(fast, share=other)  # Trains its claims, reads the first's runs.
  assert [(r["mode"], r["seed"]) for r in second] == [
      ("student", 0), ("pfd", 0), ("student", 1), ("pfd", 1)]
  trained = []
  real = train.train_and_evaluate
  monkeypatch.setattr(train, "train_and_evaluate", lambda *args, **kwargs: (
      trained.append(args[1]) or real(*args, **kwargs)))
  assert run(fast) == second and not trained
  # Other configs: the stale runs are trained over (they would be refused).
  changed = run(dataclasses.replace(fast, steps_per_epoch=1))
  assert len(trained) == 4 and all(r["train_seconds"] > 0 for r in changed)
  assert all(json.load(open(os.path.join(run_dir, restore.METRICS_FILE)))[
      "train_config"]["steps_per_epoch"] == 1 for run_dir in trained)


def test_a_finished_run_recorded_before_a_knob_existed_ran_at_its_default(tmp_path):
  model_config = ModelConfig(mode="pfd", **SMALL)
  train_config = train.TrainConfig(batch_size=64, epochs=1)
  requested = json.loads(json.dumps({"model_config": model_config.to_dict(),
                                     "train_config": dataclasses.asdict(train_config)}))
  del requested["train_config"]["eval_fraction"]  # As if recorded before it existed.
  (tmp_path / restore.METRICS_FILE).write_text(json.dumps({"requested": requested}))
  assert run_directory.finished_run(str(tmp_path), model_config, train_config) is not None
  for changed in (dataclasses.replace(train_config, eval_fraction=0.5),
                  dataclasses.replace(train_config, epochs=2)):
    assert run_directory.finished_run(str(tmp_path), model_config, changed) is None
  assert run_directory.finished_run(str(tmp_path), dataclasses.replace(
      model_config, lambda_value=0.25), train_config) is None


def test_a_ranking_loss_evaluates_in_the_same_example_order(
    tiny_world, tmp_path):
  # Paired tests between runs (DeLong) need one eval order whatever the loss.
  config = train.TrainConfig(batch_size=64, epochs=1, steps_per_epoch=2)
  for name, loss in (("pointwise", "cross_entropy"), ("bpr", "bpr")):
    train.train_and_evaluate(tiny_world.examples_dir, str(tmp_path / name),
                             ModelConfig(mode="pfd", distillation_loss=loss, **SMALL),
                             config)
  pointwise, bpr = (evaluation.read_scores(str(tmp_path / name))
                    for name in ("pointwise", "bpr"))
  np.testing.assert_array_equal(pointwise["labels"], bpr["labels"])
  assert len(bpr["labels"]) > 64  # More than one batch.


def test_a_run_goes_to_the_first_share_that_claims_it_and_stays_there(tmp_path):
  first, second = (compare.Share(str(tmp_path)) for _ in range(2))
  dealt = [(share.take(key), key) for share, key in (
      (first, "a"), (second, "a"), (second, "b"), (first, "b"), (first, "a"),
      (second, "c"), (second, "b"))]
  assert [taken for taken, _ in dealt] == [True, False, True, False, True, True, True]
  assert first.claimed == {"a"} and second.claimed == {"b", "c"}


def test_racing_claims_split_the_runs_disjointly_and_cover_them(tmp_path):
  # The claim is the file system's (one mkdir): the same call races between the
  # job's processes as between these threads.
  keys = [str(k) for k in range(300)]
  barrier = threading.Barrier(3)

  def claim(_) -> set[str]:
    share = compare.Share(str(tmp_path))
    barrier.wait()
    return {key for key in keys if share.take(key)}

  with concurrent.futures.ThreadPoolExecutor(3) as pool:
    taken = list(pool.map(claim, range(3)))
  assert sum(map(len, taken)) == len(keys) and set.union(*taken) == set(keys)


def test_an_undefined_ceiling_prints_as_na():
  # The oracle writes null for the AUC of an eval split without positives.
  table = compare.format_table({}, {"regular": None, "full": 0.75},
                               spec_lib.DEFAULT_SPEC)
  assert "| Bayes-optimal (regular features) | oracle | n/a |" in table
  assert "| oracle | 0.7500 |" in table


def _times(dataset, time_range=None):
  """The train split's ctr examples' times, sorted."""
  time = dataset.spec.time_feature
  return np.sort(np.concatenate([
      features[time].numpy() for features, _ in input_lib.make_dataset(
          dataset, "train", "ctr", 512, features=[time], shuffle=False,
          time_range=time_range)]))


def test_validation_is_the_train_splits_last_day_and_trains_none_of_it(tiny_world,
                                                                       tmp_path):
  dataset = dataset_lib.PublishedDataset.open(tiny_world.examples_dir)
  times = _times(dataset)
  last_day = times // time_split.DAY_MS == times.max() // time_split.DAY_MS
  batch_size = 64
  results = train.train_and_evaluate(
      dataset, str(tmp_path), ModelConfig(mode="student", **SMALL),
      train.TrainConfig(batch_size=batch_size, epochs=1, validation_days=1))
  start, end = results["validation"]["time_range_ms"]
  assert start == times[last_day].min() // time_split.DAY_MS * time_split.DAY_MS
  assert end == start + time_split.DAY_MS
  assert results["validation"]["examples"] == last_day.sum() > 0
  # One optimizer step per batch of the other days: training read them alone.
  assert results["train_steps"] == -(-(~last_day).sum() // batch_size)
  np.testing.assert_array_equal(_times(dataset, (start, end)), times[last_day])
  np.testing.assert_array_equal(_times(dataset, (0, start)), times[~last_day])


def _model_variables(path: str) -> dict[str, np.ndarray]:
  """The heads' variables saved at `path` (not the optimizer's or the metrics')."""
  reader = tf.train.load_checkpoint(path)
  return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
          if name.startswith(("student/", "teacher/"))}


def test_early_stopping_ships_the_best_validation_epochs_weights(tiny_world, tmp_path):
  # At this rate the student overfits the tiny train days: its validation AUC peaks
  # before the last epoch.
  results = train.train_and_evaluate(
      tiny_world.examples_dir, str(tmp_path),
      ModelConfig(mode="student", learning_rate=0.1, **SMALL),
      train.TrainConfig(batch_size=32, epochs=4, validation_days=1,
                        early_stopping_patience=1, deterministic=True))
  aucs = results["history"]["val_student_auc"]
  kept = results["validation"]["kept_epoch"]
  assert kept == int(np.argmax(aucs)) + 1 and len(aucs) == kept + 1  # Patience 1.
  assert results["validation"]["auc"] == max(aucs)
  final = _model_variables(str(tmp_path / restore.FINAL_WEIGHTS))
  best, last = (_model_variables(str(tmp_path / "checkpoints" / f"epoch-{epoch:03d}"))
                for epoch in (kept, len(aucs)))
  assert final and final.keys() == best.keys()
  assert all(np.array_equal(final[name], best[name]) for name in final)
  assert not all(np.array_equal(final[name], last[name]) for name in final)


class _AntiOracleTeacher(teacher_ceiling.OracleTeacherModel):
  """A teacher that ranks the impressions in the reverse of the truth."""

  def teacher_logits(self, features, training=False, lookups=None):
    return -super().teacher_logits(features, training, lookups)


@pytest.mark.parametrize("teacher, chosen", [
    (teacher_ceiling.OracleTeacherModel, 1.0),  # Soft labels P(click | x): a help.
    (_AntiOracleTeacher, 0.0),  # Distilling the reverse ranking hurts.
])
def test_lambda_auto_distils_only_where_it_validates_better(tiny_world, tmp_path,
                                                            teacher, chosen):
  table = teacher_ceiling.oracle_logits(
      load_oracle(os.path.join(tiny_world.raw_dir, "oracle")), "p_click_regular")
  train.train_and_evaluate(
      tiny_world.examples_dir, str(tmp_path),
      ModelConfig(mode="pfd", lambda_value="auto", learning_rate=0.03, **SMALL),
      train.TrainConfig(batch_size=32, epochs=3, validation_days=1,
                        lambda_grid=(1.0, 0.0), deterministic=True),
      build_model=functools.partial(teacher, table=table))
  on_disk = json.load(open(tmp_path / "metrics.json"))
  candidates = on_disk["selection"]["candidates"]
  assert [c["lambda_value"] for c in candidates] == [0.0, 1.0]  # The baseline first.
  assert max(candidates, key=lambda c: c["auc"])["lambda_value"] == chosen
  assert on_disk["selection"]["lambda_value"] == chosen
  # What export rebuilds the model from.
  assert ModelConfig.from_dict(on_disk["model_config"]).lambda_value == chosen
  assert len(os.listdir(tmp_path / run_directory.CANDIDATES_DIR)) == 2


def test_choosing_on_validation_needs_validation_days():
  no_validation = train.TrainConfig(validation_days=0)
  with pytest.raises(ValueError, match="lambda_value=auto.*set validation_days"):
    train.train_and_evaluate("unused", "unused", ModelConfig(
        task="ctr", lambda_value="auto"), no_validation)


def test_cached_subsets_are_read_from_the_split_once_per_process(tiny_world, tmp_path,
                                                               monkeypatch):
  copy = str(tmp_path / "copy")
  shutil.copytree(tiny_world.examples_dir, copy)

  def remove_shards(split: str) -> None:
    for shard in glob.glob(os.path.join(copy, f"*-{split}.tfrecord-*")):
      os.remove(shard)

  class RemoveTrainShards(tf.keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
      remove_shards("train")  # Later epochs that read the split would fail.

  callbacks = fit.run_callbacks
  monkeypatch.setattr(fit, "run_callbacks",
                      lambda model_dir: callbacks(model_dir) + [RemoveTrainShards()])
  dataset = dataset_lib.PublishedDataset.open(copy)
  config = train.TrainConfig(batch_size=64, epochs=3, validation_days=1,
                             train_fraction=0.5, validation_fraction=0.5,
                             eval_fraction=0.5, cache_subsets=True)
  first = train.train_and_evaluate(dataset, str(tmp_path / "first"),
                                   ModelConfig(mode="student", **SMALL), config)
  assert len(first["history"]["val_student_auc"]) == 3
  remove_shards("eval")
  # Another run in the process, on the same dataset object: no split left to read.
  second = train.train_and_evaluate(dataset, str(tmp_path / "second"),
                                    ModelConfig(mode="student", **SMALL),
                                    dataclasses.replace(config, seed=1))
  assert second["eval"]["eval_examples"] == first["eval"]["eval_examples"] > 0
  assert not glob.glob(os.path.join(copy, "*-train.tfrecord-*")) + glob.glob(
      os.path.join(copy, "*-eval.tfrecord-*"))


def test_the_eval_batch_size_changes_no_metric(tiny_world, tmp_path):
  config = train.TrainConfig(batch_size=32, epochs=1, validation_days=1,
                             deterministic=True)
  runs = [train.train_and_evaluate(
      tiny_world.examples_dir, str(tmp_path / str(size)),
      ModelConfig(mode="pfd", **SMALL),
      dataclasses.replace(config, eval_batch_size=size)) for size in (None, 1000)]
  for part in ("eval", "validation"):
    assert runs[0][part]["auc" if part == "validation" else "student_auc"] == \
        pytest.approx(runs[1][part]["auc" if part == "validation" else "student_auc"],
                      abs=1e-6)
  assert runs[0]["eval"]["student_gauc"] == pytest.approx(
      runs[1]["eval"]["student_gauc"], abs=1e-9)
  np.testing.assert_allclose(*(evaluation.read_scores(str(tmp_path / str(size)))["student"]
                               for size in (None, 1000)), atol=1e-6)


def test_label_smoothing_mixes_in_the_train_splits_positive_rate():
  from features import run_report  # pylint: disable=g-import-not-at-top
  dataset = dataset_lib.PublishedDataset("examples", spec_lib.DEFAULT_SPEC,
                                         run_report.RunReport({
                                             "examples": {"train": 200},
                                             "positives": {"train/click": 40,
                                                           "train/purchase": 10}}))
  # ctr: clicks over impressions; cvr (clicked impressions): purchases over clicks.
  assert train.train_base_rate(dataset, "ctr") == 0.2
  assert train.train_base_rate(dataset, "cvr") == 0.25
  smooth = ModelConfig(task="cvr", mode="smooth")
  assert train._with_base_rate(dataset, smooth).smoothing_base_rate == 0.25  # pylint: disable=protected-access
  given = dataclasses.replace(smooth, smoothing_base_rate=0.5)
  assert train._with_base_rate(dataset, given) is given  # pylint: disable=protected-access
  pfd = ModelConfig(task="cvr")
  assert train._with_base_rate(dataset, pfd) is pfd  # pylint: disable=protected-access
  dataset.report.data["positives"] = {"train/click": 40}
  with pytest.raises(ValueError, match="counts 0 positives in 40 examples: pass "
                     "--smoothing_base_rate"):
    train.train_base_rate(dataset, "cvr")


def test_the_controls_train_end_to_end_and_smooth_records_its_base_rate(tiny_world,
                                                                       tmp_path):
  config = ModelConfig(**{**SMALL, "task": "cvr"})
  fast = train.TrainConfig(batch_size=128, epochs=1, steps_per_epoch=2)
  rows = compare.run_modes(tiny_world.examples_dir, str(tmp_path),
                           [Mode.SMOOTH, Mode.PFD_PERMUTED], [0], config, fast)
  assert [r["mode"] for r in rows] == ["smooth", "pfd_permuted"]
  assert "teacher_auc" not in rows[0] and "teacher_auc" in rows[1]
  results = json.load(open(tmp_path / "smooth-seed0" / "metrics.json"))
  dataset = dataset_lib.PublishedDataset.open(tiny_world.examples_dir)
  assert results["model_config"]["smoothing_base_rate"] == train.train_base_rate(
      dataset, "cvr")
  assert results["requested"]["model_config"]["smoothing_base_rate"] is None
  smooth = dataclasses.replace(config, mode=Mode.SMOOTH)
  assert run_directory.finished_run(str(tmp_path / "smooth-seed0"), smooth, fast) is not None
