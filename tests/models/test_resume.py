"""A training run killed with SIGKILL and started again with the same command resumes
from its last backup (two_stage: in the stage it was in) and ends where an
uninterrupted run ends: same optimizer steps and, with op determinism, same weights."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

EPOCHS = 4


def _command(data_dir, model_dir, mode):
  return [sys.executable, "-m", "models.train", f"--data_dir={data_dir}",
          f"--model_dir={model_dir}", "--task=cvr", f"--mode={mode}",
          f"--epochs={EPOCHS}", "--batch_size=8", "--embedding_dim=4",
          "--student_hidden=8", "--teacher_hidden=8", "--deterministic", "--seed=3",
          # The swap comes after the kill: the schedule must read the restored step.
          "--swap_step=12"]


def _backed_up(model_dir):
  """The final stage's BackupAndRestore state exists (two_stage: the second's)."""
  return tf.io.gfile.glob(os.path.join(model_dir, "backup", "*", "checkpoint"))


def _weights(model_dir):
  reader = tf.train.load_checkpoint(os.path.join(model_dir, "final", "weights"))
  return {name: reader.get_tensor(name)
          for name in reader.get_variable_to_shape_map()
          if "OPTIMIZER_SLOT" not in name and name != "_CHECKPOINTABLE_OBJECT_GRAPH"}


@pytest.mark.parametrize("mode", ["pfd", "two_stage"])
def test_a_killed_run_resumes_and_ends_as_an_uninterrupted_one(tiny_world, tmp_path,
                                                               mode):
  data_dir = tiny_world.examples_dir
  straight = str(tmp_path / "straight")
  subprocess.run(_command(data_dir, straight, mode), check=True, capture_output=True)

  killed = str(tmp_path / "killed")
  process = subprocess.Popen(_command(data_dir, killed, mode), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
  deadline = time.monotonic() + 300
  while not _backed_up(killed) and process.poll() is None:
    assert time.monotonic() < deadline, "no backup within 300 s"
    time.sleep(0.05)
  assert process.poll() is None, "the run ended before it could be killed"
  process.send_signal(signal.SIGKILL)
  process.wait()
  assert not os.path.exists(os.path.join(killed, "metrics.json"))
  resumed = subprocess.run(_command(data_dir, killed, mode), check=True,
                           capture_output=True, text=True)
  # Keras logs "Epoch k/N" per epoch it runs: fewer than a stage's, and no first stage.
  epochs_run = (resumed.stdout + resumed.stderr).count(f"/{EPOCHS}\n")
  assert 0 < epochs_run < EPOCHS
  # Said whatever the logging verbosity.
  assert (f"resuming from epoch {EPOCHS - epochs_run + 1} of {EPOCHS}"
          in resumed.stderr)

  results = [json.load(open(os.path.join(d, "metrics.json"))) for d in (straight, killed)]
  assert results[0]["train_steps"] == results[1]["train_steps"]
  expected, got = _weights(straight), _weights(killed)
  assert expected.keys() == got.keys()
  for name in expected:
    np.testing.assert_allclose(got[name], expected[name], rtol=1e-6, atol=1e-7,
                               err_msg=name)
