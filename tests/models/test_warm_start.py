"""Warm start: before today's training, every id row of a token known yesterday is
yesterday's row, wherever today's vocabulary puts it; new tokens keep fresh rows; the
other weights and the optimizer (its step, so the lambda schedule) carry over; a run
of another task or architecture is refused."""

import dataclasses
import os
import shutil
import subprocess
import sys
from typing import NamedTuple

import numpy as np
import pytest
import tensorflow as tf

from features import dataset as dataset_lib
from features import input as input_lib
from features import layout
from models import distillation
from models import embeddings
from models.training import local_cluster
from models.training import restore
from models.training import warm_start
from models.config import ModelConfig
from simulation import preset, simulate
from simulation import simulator
from synthetic import (SPEC, TOKENS, assert_distillation_misses_the_teacher,
                       make_batch, write_vocabularies)

SMALL = dict(embedding_dim=4, student_hidden=(8,), teacher_hidden=(8,), tower_dim=6,
             lambda_value=0.5, swap_step=2)


def _tokens_today(vocab: str) -> list[str]:
  """Yesterday's tokens renumbered (the last first), one retired, two new ones."""
  kept = [f"{vocab}_{k}" for k in reversed(range(TOKENS)) if k != 2]
  return [f"{vocab}_new_a"] + kept + [f"{vocab}_new_b"]


def _grown_vocabularies(root: str) -> str:
  os.makedirs(os.path.join(root, "vocab"))
  for name in SPEC.vocabularies():
    with open(os.path.join(root, "vocab", f"{name}.txt"), "w") as f:
      f.write("".join(f"{token}\n" for token in _tokens_today(name)))
  return root


def _model(data_dir: str, seed: int, **overrides) -> distillation.DistillationModel:
  tf.keras.utils.set_random_seed(seed)
  model = distillation.DistillationModel(
      SPEC, data_dir, ModelConfig.for_task(SPEC, "ctr", **{**SMALL, **overrides}))
  model.compile(optimizer=tf.keras.optimizers.Adam(0.01))
  model.build_from_batch(make_batch(99)[0])
  return model


def _tables(model) -> dict[str, tuple[list[str], np.ndarray]]:
  """Table name -> (its tokens, its rows)."""
  return {table.name: (table.tokens(),
                       tf.convert_to_tensor(table.embedding.embeddings).numpy())
          for table in model.submodules if isinstance(table, embeddings.EmbeddingTable)}


def _moments(model, table: str) -> np.ndarray:
  """Adam's first moments of `table`'s rows (its slot "m/<variable name>"), whole
  where a parameter server's shards hold them."""
  # pylint: disable=protected-access
  variable = next(t for t in model.submodules if t.name == table).embedding.embeddings
  name = warm_start._whole([variable])[0].name
  return next(v.value().numpy() for v in warm_start._whole(model.optimizer.variables)
              if v.name == f"m/{name}")


def _moments_follow_their_tokens(yesterday, today, table: str):
  """`table`'s moments in `today` are yesterday's for a known token, else zero."""
  (base_tokens, _), (tokens, _) = (_tables(m)[table] for m in (yesterday, today))
  base, moments = _moments(yesterday, table), _moments(today, table)
  assert np.any(base)
  for token, row in zip(tokens, moments):
    expected = base[base_tokens.index(token)] if token in base_tokens else 0.0
    np.testing.assert_array_equal(row, expected, err_msg=token)


def _rows_follow_their_tokens(yesterday, fresh, today):
  """Every row of `today` is yesterday's for a known token, else `fresh`'s."""
  assert today.keys() == yesterday.keys()
  for name, (tokens, rows) in today.items():
    base = dict(zip(*yesterday[name]))
    new = dict(zip(*fresh[name]))
    for token, row in zip(tokens, rows):
      np.testing.assert_array_equal(row, base.get(token, new[token]), err_msg=token)


@pytest.fixture(scope="module")
def yesterday(tmp_path_factory):
  """A CTR model trained three Adam steps on the base vocabularies."""
  model = _model(write_vocabularies(str(tmp_path_factory.mktemp("yesterday"))), 0)
  for seed in range(3):
    model.train_step(make_batch(seed))
  return model


def test_rows_follow_their_tokens_and_everything_else_carries_over(yesterday,
                                                                   tmp_path):
  today = _model(_grown_vocabularies(str(tmp_path)), 1)
  fresh = _tables(today)
  warm_start.carry_over(yesterday, today)

  tables = _tables(today)
  _rows_follow_their_tokens(_tables(yesterday), fresh, tables)
  tokens, rows = tables["shared_item_id"]
  base_tokens, base_rows = _tables(yesterday)["shared_item_id"]
  # The OOV bucket stays at row 0; item_id_5 moved from row 6 to row 2 and kept its row.
  assert tokens[:3] == ["[UNK]", "item_id_new_a", "item_id_5"]
  np.testing.assert_array_equal(rows[2], base_rows[base_tokens.index("item_id_5")])
  np.testing.assert_array_equal(rows[0], base_rows[0])
  assert not np.any([np.allclose(rows[1], row) for row in base_rows])  # A new token.

  for old, new in zip(yesterday.weights, today.weights):
    if old.shape == new.shape:
      np.testing.assert_array_equal(new.numpy(), old.numpy(), err_msg=new.name)
  # The step carries over, so lambda is past its swap step: no warm-up again.
  assert int(today.optimizer.iterations) == 3
  assert float(today.task.lambda_schedule(today.optimizer.iterations)) == 0.5
  # Adam's moments of a table follow their tokens too; a new token's start at zero.
  for table in tables:
    _moments_follow_their_tokens(yesterday, today, table)
  assert_distillation_misses_the_teacher(today)  # The gradient block holds.


def test_another_architecture_is_refused(yesterday, tmp_path):
  student_only = _model(_grown_vocabularies(str(tmp_path)), 1, mode="student")
  with pytest.raises(ValueError, match="same mode and architecture"):
    warm_start.carry_over(yesterday, student_only)


# --- On published datasets, through the job ---------------------------------------

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
FLAGS = ["--mode=pfd", "--epochs=1", "--steps_per_epoch=3", "--batch_size=16",
         "--embedding_dim=4", "--student_hidden=8", "--teacher_hidden=8",
         "--swap_step=2", "--lambda_value=0.5", "--deterministic", "--seed=5"]


def _command(data_dir: str, model_dir: str, task: str, *extra: str) -> list[str]:
  return [sys.executable, "-m", "models.train", f"--data_dir={data_dir}",
          f"--model_dir={model_dir}", f"--task={task}", *FLAGS, *extra]


def _train(*args: str) -> subprocess.CompletedProcess:
  return subprocess.run(_command(*args), capture_output=True, text=True, env=ENV)


class Runs(NamedTuple):
  """Yesterday's finished run (its model_dir) and the two days' datasets."""
  yesterday: str
  yesterday_data: str
  today_data: str


def _vocabulary(data_dir: str, name: str) -> list[str]:
  with open(layout.vocabulary_path(data_dir, name)) as f:
    return f.read().splitlines()


def _first_days(raw_dir: str, days: int, out_dir: str) -> str:
  """`out_dir` holding the first `days` daily shards of each log of `raw_dir`."""
  for log in simulator.LOGS:
    os.makedirs(os.path.join(out_dir, log))
    for name in sorted(os.listdir(os.path.join(raw_dir, log)))[:days]:
      shutil.copy(os.path.join(raw_dir, log, name), os.path.join(out_dir, log))
  return out_dir


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Runs:
  """A churn world's first 4 days joined and a CVR model trained on them; its first 5
  days joined: today's vocabularies, grown by new ids and renumbered (each day
  moves the frequencies that order them)."""
  from world_fixtures import run_join  # pylint: disable=g-import-not-at-top
  root = tmp_path_factory.mktemp("warm_start")
  raw = str(root / "raw")
  simulate(dataclasses.replace(preset("tiny"), n_days=5, num_impressions=6_000,
                               item_arrival_share=0.3, item_mean_lifetime_days=4.0,
                               user_arrival_share=0.2), raw, with_oracle=False)
  data = {}
  for name, days in (("yesterday", 4), ("today", 5)):
    data[name] = str(root / f"{name}_data")
    run_join(_first_days(raw, days, str(root / f"{name}_raw")), data[name])
  done = _train(data["yesterday"], str(root / "yesterday"), "cvr")
  assert done.returncode == 0, done.stderr[-3000:]
  return Runs(str(root / "yesterday"), data["yesterday"], data["today"])


def test_todays_id_vocabularies_grew_and_renumbered(runs):
  spec = dataset_lib.PublishedDataset.open(runs.today_data).spec
  for feature in (spec.user_feature, spec.item_feature):
    yesterday, today = (_vocabulary(data_dir, spec[feature].vocabulary)
                        for data_dir in (runs.yesterday_data, runs.today_data))
    assert set(today) - set(yesterday), feature  # New ids,
    assert [t for t in today if t in yesterday] != yesterday, feature  # and moved ones.


def test_a_grown_vocabulary_is_continued_row_by_token(runs):
  yesterday, run = restore.restore_trained_model(runs.yesterday, runs.yesterday_data)
  dataset = dataset_lib.PublishedDataset.open(runs.today_data)
  assert dataset.binding("cvr").mismatch(dataset_lib.DataBinding.from_dict(run["data"]))
  config = ModelConfig.from_dict(run["model_config"])
  today = distillation.DistillationModel(dataset.spec, runs.today_data, config)
  today.compile(optimizer=tf.keras.optimizers.Adam(config.learning_rate))
  today.build_from_batch(next(iter(input_lib.make_dataset(dataset, "eval", "cvr", 8,
                                                          shuffle=False)))[0])
  fresh = _tables(today)
  warm_start.continue_run(runs.yesterday, today)
  _rows_follow_their_tokens(_tables(yesterday), fresh, _tables(today))
  assert int(today.optimizer.iterations) == 3


@pytest.fixture(scope="module")
def warm_run(runs, tmp_path_factory) -> str:
  """Today's run, warm-started from yesterday's, on one process."""
  model_dir = str(tmp_path_factory.mktemp("warm_run") / "today")
  done = _train(runs.today_data, model_dir, "cvr", f"--warm_start_from={runs.yesterday}")
  assert done.returncode == 0, done.stderr[-3000:]
  return model_dir


def test_the_job_continues_yesterdays_steps_on_todays_data(runs, warm_run):
  results = restore.read_run(warm_run)
  assert results["train_steps"] == 6  # Yesterday's 3, then today's 3.
  assert results["train_config"]["warm_start_from"] == runs.yesterday


def _weights(model_dir: str) -> dict[str, np.ndarray]:
  reader = tf.train.load_checkpoint(os.path.join(model_dir, restore.FINAL_WEIGHTS))
  return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
          if name.startswith(("student/", "teacher/", "optimizer/"))}


def test_two_workers_warm_start_as_one_process_does(runs, warm_run, tmp_path):
  cluster_dir = str(tmp_path / "cluster")
  local_cluster.run_workers(
      _command(runs.today_data, cluster_dir, "cvr", f"--warm_start_from={runs.yesterday}",
               "--strategy=multi_worker"),
      local_cluster.cluster_of(worker=2), timeout_s=400)
  assert restore.read_run(cluster_dir)["train_steps"] == 6
  expected, got = _weights(warm_run), _weights(cluster_dir)
  assert expected and expected.keys() == got.keys()
  for name in expected:
    np.testing.assert_allclose(got[name], expected[name], rtol=0, atol=1e-5,
                               err_msg=name)


def test_a_run_of_another_task_is_refused_in_one_line_naming_both(runs, tmp_path):
  refused = _train(runs.today_data, str(tmp_path / "ctr"), "ctr",
                   f"--warm_start_from={runs.yesterday}")
  assert refused.returncode != 0
  lines = [line for line in refused.stderr.splitlines() if "run of task" in line]
  assert len(lines) == 1, refused.stderr[-3000:]
  assert "'cvr'" in lines[0] and "'ctr'" in lines[0] and runs.yesterday in lines[0]
  assert "Traceback" not in refused.stderr


# Today's model built in the strategy's scope, warm-started, then a warm-started run.
STRATEGY_SCRIPT = r"""
import sys
sys.path[:0] = [{root!r}, {tests!r}]
import legacy_keras
import tensorflow as tf
{setup}
from features import dataset as dataset_lib
from features import input as input_lib
from models import distillation, train
from models.training import restore, strategies, warm_start
from models.config import ModelConfig
from test_warm_start import _moments_follow_their_tokens, _rows_follow_their_tokens
from test_warm_start import _tables

cluster = strategies.make({strategy!r}, min_shard_bytes=256)  # Before other TF work.
yesterday, run = restore.restore_trained_model({yesterday!r}, {base_data!r},
                                               tf.keras.optimizers.Adam())
dataset = dataset_lib.PublishedDataset.open({today!r})
config = ModelConfig.from_dict(run["model_config"])
with cluster.strategy.scope():
  today = distillation.DistillationModel(dataset.spec, {today!r}, config)
  today.compile(optimizer=tf.keras.optimizers.Adam(config.learning_rate))
  today.build_from_batch(next(iter(input_lib.make_dataset(dataset, "eval", "cvr", 8,
                                                          shuffle=False)))[0])
fresh = _tables(today)
warm_start.continue_run({yesterday!r}, today)
_rows_follow_their_tokens(_tables(yesterday), fresh, _tables(today))
for table in fresh:
  _moments_follow_their_tokens(yesterday, today, table)
{check}
assert today.optimizer.iterations.numpy() == 3
print("ROWS")

results = train.train_and_evaluate({today!r}, {model_dir!r}, config, train.TrainConfig(
    batch_size=16, epochs=1, steps_per_epoch=3, strategy={strategy!r},
    ps_min_shard_bytes=256, warm_start_from={yesterday!r}))
print("STEPS", results["train_steps"])
"""

# Two logical CPUs: devices are fixed at TF's first use, hence a fresh process.
MIRRORED_SETUP = """
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
"""
MIRRORED_CHECK = """
assert cluster.strategy.num_replicas_in_sync == 2
for variable in today.weights + today.optimizer.variables:  # On both replicas.
  primary, *others = cluster.strategy.experimental_local_results(variable)
  assert all((other.numpy() == primary.numpy()).all() for other in others)
"""
PS_CHECK = """
from models import embeddings
assert any(isinstance(t.embedding.embeddings, tf.__internal__.distribute.ShardedVariable)
           for t in today.submodules if isinstance(t, embeddings.EmbeddingTable))
"""


def _servers(data_dir: str, cluster) -> list[subprocess.Popen]:
  """The workers and parameter servers of `cluster`: train job processes, which serve."""
  command = [sys.executable, "-m", "models.train", f"--data_dir={data_dir}",
             "--model_dir=unused", "--task=cvr", "--strategy=parameter_server"]
  return [local_cluster.start(command, cluster, job, index,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
          for job in ("worker", "ps") for index in range(len(cluster[job]))]


@pytest.mark.parametrize("strategy, setup, check", [
    ("mirrored", MIRRORED_SETUP, MIRRORED_CHECK),
    ("parameter_server", "", PS_CHECK)])
def test_a_distributed_model_starts_from_yesterdays_rows_and_step(
    runs, tmp_path, strategy, setup, check):
  tests = os.path.dirname(os.path.abspath(__file__))
  root = os.path.dirname(os.path.dirname(tests))
  script = STRATEGY_SCRIPT.format(
      root=root, tests=tests, setup=setup, check=check, strategy=strategy,
      yesterday=runs.yesterday, base_data=runs.yesterday_data, today=runs.today_data,
      model_dir=str(tmp_path))
  env, servers = ENV, []
  if strategy == "parameter_server":  # This process is the chief of 2 workers, 2 ps.
    cluster = local_cluster.cluster_of(chief=1, worker=2, ps=2)
    servers = _servers(runs.today_data, cluster)
    env = {**ENV, "TF_CONFIG": local_cluster.tf_config(cluster, "chief", 0)}
  try:
    result = subprocess.run([sys.executable, "-c", script], capture_output=True,
                            text=True, timeout=500, check=False, cwd=root, env=env)
  finally:
    for server in servers:
      server.kill()
      server.wait()
  assert result.returncode == 0, result.stderr[-3000:]
  assert "ROWS" in result.stdout
  assert int(result.stdout.split("STEPS")[1]) == 6
