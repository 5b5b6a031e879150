"""pipelines.runners.dask_runner on a 2-worker dask.distributed cluster: the join matches the
in-process runner, and Beam's own DaskRunner still has the defects it mends.

Each defect test runs on both runners; on Beam's it is a strict xfail, so it turns red
(XPASS) once a Beam release fixes that defect and the mended translation may go.
"""

import json
import os
import uuid

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.dask import dask_runner as beam_dask_runner
from apache_beam.transforms.window import GlobalWindows
import dask.distributed as ddist
import pytest

import dataset_digest
from pipelines import join_logs
from pipelines.runners import dask_runner

STOCK = pytest.param(beam_dask_runner.DaskRunner, id="beam", marks=pytest.mark.xfail(
    strict=True, raises=AssertionError, reason="Beam 2.77's DaskRunner (see pipelines/runners/dask_runner.py)"))
MENDED = pytest.param(dask_runner.DaskRunner, id="mended")


@pytest.fixture(scope="module")
def cluster_address():
  with ddist.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster:
    yield cluster.scheduler_address
    # Beam's runner never closes its clients; left open, they retry the closed cluster.
    while True:
      try:
        ddist.Client.current().close()
      except ValueError:  # No client left.
        break


def _run(runner_class, cluster_address, build, *args):
  options = PipelineOptions([f"--dask_client_address={cluster_address}", *args])
  with beam.Pipeline(runner=runner_class(), options=options) as pipeline:
    build(pipeline)


def _record(directory):
  """A sink for tests: one file per element (workers are other processes)."""
  os.makedirs(directory, exist_ok=True)

  def write(element):
    with open(os.path.join(directory, uuid.uuid4().hex), "w") as f:
      f.write(json.dumps(element))

  return beam.Map(write)


def _recorded(directory):
  if not os.path.isdir(directory):
    return []
  return sorted(json.load(open(os.path.join(directory, name)))
                for name in os.listdir(directory))


@pytest.mark.parametrize("runner", [STOCK, MENDED])
def test_every_sink_runs(runner, cluster_address, tmp_path):
  # Beam's computes only the last transform's bag: sink A never runs.
  def build(p):
    numbers = p | beam.Create([1, 2, 3])
    _ = numbers | "A" >> _record(str(tmp_path / "a"))
    _ = numbers | "B" >> _record(str(tmp_path / "b"))

  _run(runner, cluster_address, build)
  assert (_recorded(str(tmp_path / "a")), _recorded(str(tmp_path / "b"))) == (
      [1, 2, 3], [1, 2, 3])


class _SignFn(beam.DoFn):
  def process(self, x):
    yield x
    yield beam.pvalue.TaggedOutput("negated", -x)


@pytest.mark.parametrize("runner", [STOCK, MENDED])
def test_a_tagged_output_reaches_only_its_consumers(runner, cluster_address, tmp_path):
  # Beam's hands a ParDo's consumers all its outputs as one bag: how join_logs failed
  # there ("'int' object is not subscriptable": a fact grouped as a join bucket).
  def build(p):
    outputs = (p | beam.Create([1, 2, 3])
               | beam.ParDo(_SignFn()).with_outputs("negated", main="main"))
    _ = outputs.main | "Main" >> _record(str(tmp_path / "main"))
    _ = outputs.negated | "Negated" >> _record(str(tmp_path / "negated"))

  _run(runner, cluster_address, build)
  assert (_recorded(str(tmp_path / "main")), _recorded(str(tmp_path / "negated"))) == (
      [1, 2, 3], [-3, -2, -1])


class _CountPerBundleFn(beam.DoFn):
  def start_bundle(self):
    self._count = 0

  def process(self, _):
    self._count += 1

  def finish_bundle(self):
    yield GlobalWindows.windowed_value(self._count)


@pytest.mark.parametrize("runner", [STOCK, MENDED])
def test_finish_bundle_outputs_are_kept(runner, cluster_address, tmp_path):
  # Beam's collects a bundle's outputs before it calls finish_bundle.
  def build(p):
    _ = (p | beam.Create(list(range(10))) | beam.ParDo(_CountPerBundleFn())
         | beam.CombineGlobally(sum) | _record(str(tmp_path / "sum")))

  _run(runner, cluster_address, build)
  assert _recorded(str(tmp_path / "sum")) == [10]


def _passed_on(x, directory):
  """x, leaving a file in `directory` per call."""
  os.makedirs(directory, exist_ok=True)
  open(os.path.join(directory, uuid.uuid4().hex), "w").close()
  return x


@pytest.mark.parametrize("runner", [STOCK, MENDED])
def test_a_side_input_is_computed_once(runner, cluster_address, tmp_path):
  # Beam's computes a side input's whole upstream again inside every task that reads
  # it: here once per partition of the main input (3).
  def build(p):
    side = (p | "Side" >> beam.Create([10])
            | "Computed" >> beam.Map(_passed_on, str(tmp_path / "computed")))
    _ = (p | "Main" >> beam.Create(list(range(6)))
         | beam.Map(lambda x, s: x + s, beam.pvalue.AsSingleton(side))
         | _record(str(tmp_path / "sums")))

  _run(runner, cluster_address, build, "--dask_npartitions=3")
  assert (len(os.listdir(tmp_path / "computed")), _recorded(str(tmp_path / "sums"))) == (
      1, list(range(10, 16)))


def test_beams_read_fails_and_the_mended_runner_says_why(cluster_address, tmp_path):
  # Beam's translates beam.io.Read as a no-op, so its consumer fails on a None bag;
  # join_logs reads its files in a DoFn and needs no Read.
  (tmp_path / "in.txt").write_text("a\n")

  def build(p):
    _ = p | beam.io.ReadFromText(str(tmp_path / "in.txt")) | beam.Map(print)

  with pytest.raises(AttributeError, match="'NoneType' object has no attribute 'map'"):
    _run(beam_dask_runner.DaskRunner, cluster_address, build)
  with pytest.raises(NotImplementedError, match="ReadFromText/Read"):
    _run(dask_runner.DaskRunner, cluster_address, build)


def test_the_join_on_dask_matches_the_in_process_runner(tiny_world, cluster_address,
                                                         tmp_path):
  raw_dir, output_dir = tiny_world.raw_dir, str(tmp_path / "examples")
  report = join_logs.run(join_logs.JoinConfig(
      impressions=f"{raw_dir}/impressions/*", clicks=f"{raw_dir}/clicks/*",
      detail_pages=f"{raw_dir}/detail_pages/*", output_dir=output_dir),
      ["--runner=pipelines.runners.dask_runner.DaskRunner",
       f"--dask_client_address={cluster_address}"])
  # Parse-equal examples in every view, byte-equal vocabularies.
  assert dataset_digest.digests(output_dir) == dataset_digest.digests(
      tiny_world.examples_dir)
  assert report["reconciled"]
  assert ({k: v for k, v in report.items() if k != "run_id"}
          == {k: v for k, v in tiny_world.report.items() if k != "run_id"})


def test_the_runner_s_earlier_path_still_names_it():
  runner = beam.runners.create_runner("pipelines.dask_runner.DaskRunner")
  assert isinstance(runner, dask_runner.DaskRunner)
