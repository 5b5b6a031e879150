"""Fault injection: the listed faults are exactly the added lines, with the right fate."""

import collections
import json

import pytest

from simulation import config as config_lib
from simulation import faults as faults_lib
from simulation import simulator
from simulation import sink

_REQUIRED = {
    "impressions": ("impression_id", "request_id", "user_id", "item_id", "ts_ms",
                    "position", "scene", "user", "item"),
    "clicks": ("impression_id", "ts_ms"),
    "detail_pages": ("impression_id", "ts_ms", "event"),
}
_EVENTS = {"view", "review", "chat", "cart", "purchase"}


@pytest.fixture(scope="module")
def faulty_run(tmp_path_factory) -> tuple[str, list[dict]]:
  output_dir = str(tmp_path_factory.mktemp("faulty"))
  simulator.simulate(config_lib.preset("tiny"), output_dir, with_oracle=False,
                     faults=faults_lib.FaultConfig(fraction=0.3))
  return output_dir, [json.loads(line)
                      for line in sink.read_lines(f"{output_dir}/faults.jsonl")]


def _classify(log: str, line: str, clean: dict) -> str:
  """What LOG_CONTRACT.md makes of an added line, given the clean logs' records."""
  if not line.strip():
    return "dead_letter:empty_line"
  try:
    record = json.loads(line)
  except json.JSONDecodeError:
    return "dead_letter:malformed_json"
  if not isinstance(record, dict):
    return "dead_letter:malformed_json"
  required = _REQUIRED[log] + (("dwell_ms",) if record.get("event") == "view" else ())
  if any(field not in record for field in required):
    return "dead_letter:missing_field"
  if not isinstance(record["ts_ms"], int) or any(
      not isinstance(record.get(field, 0), int) for field in ("position", "dwell_ms")):
    return "dead_letter:wrong_type"
  if (not 946_684_800_000 <= record["ts_ms"] < 4_102_444_800_000
      or record.get("position", 0) < 0 or record.get("dwell_ms", 0) < 0
      or record.get("event", "view") not in _EVENTS):
    return "dead_letter:invalid_value"
  if record in clean[log]:
    return "duplicate"
  impression = clean["by_id"].get(record["impression_id"])
  if log == "impressions":
    assert impression is not None
    canonical = lambda r: json.dumps(r, sort_keys=True)  # noqa: E731
    assert canonical(impression) < canonical(record)  # The clean one is kept.
    return "dead_letter:conflicting_duplicate"
  if impression is None:
    return "dead_letter:orphan_event"
  if record["ts_ms"] < impression["ts_ms"]:
    return "dead_letter:event_before_impression"
  if log == "detail_pages" and record["impression_id"] not in clean["clicked"]:
    return "dead_letter:detail_without_click"
  return "joined"


def test_listed_faults_are_the_added_lines_and_their_fate(faulty_run, tiny_run, read_log):
  faulty_dir, faults = faulty_run
  clean_dir, _ = tiny_run
  clean = {log: read_log(clean_dir, log) for log in simulator.LOGS}
  clean["by_id"] = {r["impression_id"]: r for r in clean["impressions"]}
  clean["clicked"] = {r["impression_id"] for r in clean["clicks"]}

  by_file = collections.defaultdict(dict)
  for fault in faults:
    by_file[fault["file"]][fault["line"]] = fault
  for log in simulator.LOGS:
    for path in sink.glob(f"{faulty_dir}/{log}/*"):
      name = path[len(faulty_dir) + 1:]
      lines = sink.read_lines(path)
      listed = by_file.pop(name, {})
      # Without the listed lines, the shard is the clean run's, byte for byte.
      assert [line for number, line in enumerate(lines, 1) if number not in listed] == (
          sink.read_lines(f"{clean_dir}/{name}"))
      for number, fault in listed.items():
        assert fault["log"] == log
        assert _classify(log, lines[number - 1], clean) == fault["expected"], fault
  assert not by_file  # Every listed file exists.

  kinds = collections.Counter(fault["kind"] for fault in faults)
  assert set(kinds) == set(faults_lib.FAULT_KINDS)
  n_lines = sum(len(clean[log]) for log in simulator.LOGS)
  assert 0.25 * n_lines < len(faults) < 0.35 * n_lines


def test_kinds_can_be_chosen(tmp_path):
  simulator.simulate(config_lib.preset("tiny"), str(tmp_path), with_oracle=False,
                     faults=faults_lib.FaultConfig(0.1, kinds=("orphan_event",)))
  faults = [json.loads(line) for line in sink.read_lines(str(tmp_path / "faults.jsonl"))]
  assert faults and {f["kind"] for f in faults} == {"orphan_event"}
  assert {f["log"] for f in faults} == {"clicks", "detail_pages"}


@pytest.mark.parametrize("fraction, kinds", [(1.5, ("duplicate",)), (0.1, ("typo",)),
                                             (0.1, ())])
def test_bad_fault_config_is_rejected(fraction, kinds):
  with pytest.raises(ValueError, match="FaultConfig"):
    faults_lib.FaultConfig(fraction, kinds)
