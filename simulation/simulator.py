"""Runs the world day by day and writes the logs, the oracle and the fault list.

Layout under `output_dir` (one shard per simulated day; a click or detail event goes to
the shard of its impression's day, whatever its own timestamp):

    impressions/impressions-<YYYY-MM-DD>.jsonl[.gz]
    clicks/clicks-<YYYY-MM-DD>.jsonl[.gz]
    detail_pages/detail_pages-<YYYY-MM-DD>.jsonl[.gz]
    oracle/oracle-<YYYY-MM-DD>.csv.gz, oracle/summary.json   (with the oracle only)
    faults.jsonl                                             (with faults only)
    world.json                                               (the config used)

Only one day's records are in memory at a time. Each part of the world draws from its
own random stream (world, traffic, logged clicks, behaviour, faults, oracle replays), so
the logs are the same bytes with or without the oracle.
"""

import dataclasses
import datetime
import json
from collections.abc import Callable

import numpy as np

from simulation import behaviour
from simulation import clicks as clicks_lib
from simulation import config as config_lib
from simulation import faults as faults_lib
from simulation import oracle as oracle_lib
from simulation import records
from simulation import sink
from simulation import traffic as traffic_lib
from simulation import world as world_lib

LOGS = ("impressions", "clicks", "detail_pages")
_OUTPUTS = LOGS + ("oracle", "faults.jsonl", "world.json")


@dataclasses.dataclass(frozen=True, eq=False)
class _Day:
  """One simulated day, flattened to impressions: every array is [n] unless noted."""
  ids: np.ndarray  # object (str)
  request_ids: np.ndarray  # object (str)
  users: np.ndarray
  items: np.ndarray
  ts_ms: np.ndarray
  positions: np.ndarray
  scenes: np.ndarray
  clicks: clicks_lib.DayClicks
  clicked: np.ndarray  # [M] indices of the clicked impressions, by click time.
  sessions: behaviour.Sessions  # Of the M clicks, in `clicked` order.


def simulate(config: config_lib.WorldConfig, output_dir: str, *,
             with_oracle: bool = True, faults: faults_lib.FaultConfig | None = None,
             compress: bool = True,
             on_day: Callable[[int], None] | None = None) -> dict | None:
  """Writes the world of `config` under `output_dir`, replacing a previous run there.

  Args:
    config: the world.
    output_dir: a local or gs:// directory.
    with_oracle: also run the oracle's replays and write `oracle/`.
    faults: add faulty lines and list them in `faults.jsonl`.
    compress: gzip the logs (`.jsonl.gz`).
    on_day: called with each day's impression count once the day is written.

  Returns:
    The oracle summary (as in `oracle/summary.json`), or None without the oracle.
  """
  for name in _OUTPUTS:
    sink.remove(f"{output_dir}/{name}")
  streams = np.random.SeedSequence(config.seed).spawn(6)
  world_rng, traffic_rng, click_rng, behaviour_rng, fault_rng = map(
      np.random.default_rng, streams[:5])
  replay_rngs = [np.random.default_rng(stream) for stream in
                 streams[5].spawn(config.oracle_replays if with_oracle else 0)]
  world = world_lib.build_world(config, world_rng)
  traffic = traffic_lib.TrafficSampler(world, config, traffic_rng)
  click_process = clicks_lib.ClickProcess(world, config, [click_rng] + replay_rngs)
  formatter = records.LogFormatter(world)
  injector = faults_lib.FaultInjector(faults, fault_rng) if faults else None
  all_faults, oracle_parts, utc_days = [], [], []
  first_request = first_impression = 0
  for day_index in range(config.n_days):
    requests = traffic.sample_day(day_index, first_request)
    day = _flatten(config, world, requests, click_process.run_day(requests),
                   first_impression, behaviour_rng)
    date = datetime.datetime.fromtimestamp(
        (config.start_ts_ms + day_index * config_lib.DAY_MS) / 1000,
        datetime.timezone.utc).date().isoformat()
    all_faults.extend(_write_logs(output_dir, date, ".jsonl.gz" if compress else ".jsonl",
                                  formatter, day, injector))
    if with_oracle:
      columns = _oracle_columns(config, world, day)
      sink.write_lines(f"{output_dir}/oracle/oracle-{date}.csv.gz",
                       oracle_lib.oracle_lines(day.ids.tolist(), day.ts_ms, columns))
      oracle_parts.append(columns)
      utc_days.append((day.ts_ms // config_lib.DAY_MS).astype(np.int32))
    first_request += len(requests)
    first_impression += len(day.ids)
    if on_day:
      on_day(len(day.ids))

  sink.write_lines(f"{output_dir}/world.json", [json.dumps({
      "config": dataclasses.asdict(config),
      "scenes": [dataclasses.asdict(scene) for scene in config_lib.SCENES],
      "faults": dataclasses.asdict(faults) if faults else None,
      "oracle": with_oracle,
  }, indent=2)])
  if injector:
    sink.write_lines(f"{output_dir}/faults.jsonl",
                     [json.dumps(dataclasses.asdict(fault)) for fault in all_faults])
  if not with_oracle:
    return None
  utc_day = np.concatenate(utc_days)
  summary = oracle_lib.summarize(oracle_lib.OracleColumns.concatenate(oracle_parts),
                                 utc_day == utc_day.max())
  sink.write_lines(f"{output_dir}/oracle/summary.json", [json.dumps(summary, indent=2)])
  return summary


def _flatten(config: config_lib.WorldConfig, world: world_lib.World,
             requests: traffic_lib.Requests, day_clicks: clicks_lib.DayClicks,
             first_impression: int, behaviour_rng: np.random.Generator) -> _Day:
  """Flattens a day's requests to impressions and draws what follows the clicks."""
  k = config.impressions_per_request
  items = requests.items.reshape(-1)
  clicked = np.flatnonzero(day_clicks.clicked)
  clicked = clicked[np.argsort(day_clicks.click_ts_ms[clicked], kind="stable")]
  return _Day(
      ids=np.array(records.impression_ids(first_impression, len(items)), dtype=object),
      request_ids=np.repeat(np.array(records.request_ids(requests.first_index,
                                                         len(requests)), dtype=object), k),
      users=np.repeat(requests.users, k),
      items=items,
      ts_ms=np.repeat(requests.ts_ms, k),
      positions=requests.positions.reshape(-1),
      scenes=np.repeat(requests.scenes, k),
      clicks=day_clicks,
      clicked=clicked,
      sessions=behaviour.sample_sessions(
          config, day_clicks.affinity[clicked], world.item_log_price[items[clicked]],
          day_clicks.click_ts_ms[clicked], behaviour_rng),
  )


def _write_logs(output_dir: str, date: str, suffix: str,
                formatter: records.LogFormatter, day: _Day,
                injector: faults_lib.FaultInjector | None) -> list[faults_lib.Fault]:
  """Writes the day's shard of each log, in time order; returns the faults added."""
  sessions = day.sessions
  events = np.argsort(sessions.event_ts_ms, kind="stable")
  event_impressions = day.clicked[sessions.event_click[events]]
  shards = {  # Each log's lines, and the timestamp of each line's impression.
      "impressions": (formatter.impressions(
          day.ids.tolist(), day.request_ids.tolist(), day.users, day.items, day.ts_ms,
          day.positions, day.scenes), day.ts_ms),
      "clicks": (formatter.clicks(day.ids[day.clicked].tolist(),
                                  day.clicks.click_ts_ms[day.clicked]),
                 day.ts_ms[day.clicked]),
      "detail_pages": (formatter.detail_pages(
          day.ids[event_impressions].tolist(), sessions.event_ts_ms[events],
          sessions.event_type[events], sessions.event_dwell_ms[events]),
                       day.ts_ms[event_impressions]),
  }
  unclicked = ~day.clicks.clicked
  added = []
  for log, (lines, impression_ts) in shards.items():
    file = f"{log}/{log}-{date}{suffix}"
    if injector:
      lines, faults = injector.inject(
          log, file, lines, impression_ts,
          (day.ids[unclicked], day.ts_ms[unclicked]) if log == "detail_pages" else None)
      added.extend(faults)
    sink.write_lines(f"{output_dir}/{file}", lines)
  return added


def _oracle_columns(config: config_lib.WorldConfig, world: world_lib.World,
                    day: _Day) -> oracle_lib.OracleColumns:
  """The day's labels and Bayes probabilities, in impression order."""
  p_regular, p_full = oracle_lib.purchase_probabilities(
      config, day.clicks.affinity[day.clicked],
      world.item_log_price[day.items[day.clicked]], day.sessions)
  purchase = np.zeros(len(day.ids), bool)
  purchase[day.clicked] = day.sessions.purchased
  p_purchase_regular = np.full(len(day.ids), np.nan)
  p_purchase_regular[day.clicked] = p_regular
  p_purchase_full = np.full(len(day.ids), np.nan)
  p_purchase_full[day.clicked] = p_full
  return oracle_lib.OracleColumns(
      click=day.clicks.clicked, purchase=purchase,
      p_click_regular=day.clicks.p_click_regular, p_click_full=day.clicks.p_click_full,
      p_purchase_regular=p_purchase_regular, p_purchase_full=p_purchase_full)
