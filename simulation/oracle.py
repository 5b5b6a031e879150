"""Ground truth the logs cannot reveal: Bayes-optimal probabilities and their AUCs.

Per impression the oracle knows four probabilities of the logged (label-noised) labels:

- `p_click_full`: p(click | regular + privileged features), exact (`clicks.DayClicks`).
- `p_click_regular`: p(click | regular features), position marginalised exactly, the
  click history by replays: an approximate ceiling (see `clicks.DayClicks`).
- `p_purchase_regular` (clicked impressions): the purchase probability with the hidden
  intent z integrated out, E_z[p(purchase | z)], by Gauss-Hermite quadrature.
- `p_purchase_full` (clicked impressions): the same expectation under the posterior of z
  given the pre-purchase post-event features the join computes (views, total dwell,
  reviews, chat, cart).

Shards: `<output_dir>/oracle/oracle-<day>.csv.gz`, a header then one row per impression
with the columns `ORACLE_COLUMNS` (purchase probabilities empty where click is 0); read
them back with `load_oracle`. `summary.json` holds the Bayes AUCs (`summarize`).
"""

import dataclasses

import numpy as np

import roc
from simulation import behaviour
from simulation import config as config_lib
from simulation import probability
from simulation import sink

ORACLE_COLUMNS = ("impression_id", "ts_ms", "click", "purchase", "p_click_regular",
                  "p_click_full", "p_purchase_regular", "p_purchase_full")
_QUADRATURE_NODES = 48  # Resolves posteriors a few times narrower than the N(0, 1) prior.


@dataclasses.dataclass(frozen=True, eq=False)
class OracleColumns:
  """Per-impression labels and Bayes probabilities; every field is [n].

  Attributes:
    click / purchase: bool logged labels (purchase is False where click is).
    p_click_regular / p_click_full: float64.
    p_purchase_regular / p_purchase_full: float64, NaN where click is False.
  """
  click: np.ndarray
  purchase: np.ndarray
  p_click_regular: np.ndarray
  p_click_full: np.ndarray
  p_purchase_regular: np.ndarray
  p_purchase_full: np.ndarray

  @classmethod
  def concatenate(cls, parts: list["OracleColumns"]) -> "OracleColumns":
    return cls(**{field.name: np.concatenate([getattr(part, field.name)
                                              for part in parts])
                  for field in dataclasses.fields(cls)})


def purchase_probabilities(config: config_lib.WorldConfig, affinity: np.ndarray,
                           log_price: np.ndarray,
                           sessions: behaviour.Sessions) -> tuple[np.ndarray, np.ndarray]:
  """p(purchase | regular features) and p(purchase | regular + post-event features).

  Args:
    config: the world's knobs.
    affinity: [M] a(u, i) of the clicked impressions.
    log_price: [M] standardised log price of their items.
    sessions: their detail-page behaviour.

  Returns:
    ([M] p_purchase_regular, [M] p_purchase_full), label noise included.
  """
  nodes, weights = np.polynomial.hermite_e.hermegauss(_QUADRATURE_NODES)
  weights = weights / weights.sum()  # The N(0, 1) prior on z at the nodes.
  rates = behaviour.post_click_rates(config, affinity[:, None], log_price[:, None],
                                     nodes[None, :])
  p_purchase = probability.with_label_noise(
      probability.sigmoid(rates.purchase_logit), config.label_noise)  # [M, J]
  log_posterior = np.log(weights) + behaviour.log_likelihood(rates, sessions)
  posterior = np.exp(log_posterior - log_posterior.max(axis=1, keepdims=True))
  posterior /= posterior.sum(axis=1, keepdims=True)
  return p_purchase @ weights, (posterior * p_purchase).sum(axis=1)


def oracle_lines(ids: list[str], ts_ms: np.ndarray, columns: OracleColumns) -> list[str]:
  """The CSV lines of one oracle shard, header first."""
  def text(values: np.ndarray) -> list[str]:
    return ["" if value != value else f"{value:.7g}"  # NaN is the only value != itself.
            for value in values.tolist()]

  return [",".join(ORACLE_COLUMNS)] + [
      f"{impression},{ts},{click},{purchase},{a},{b},{c},{d}"
      for impression, ts, click, purchase, a, b, c, d in zip(
          ids, ts_ms.tolist(), columns.click.astype(int).tolist(),
          columns.purchase.astype(int).tolist(), text(columns.p_click_regular),
          text(columns.p_click_full), text(columns.p_purchase_regular),
          text(columns.p_purchase_full))]


def load_oracle(oracle_dir: str) -> dict[str, np.ndarray]:
  """Reads every oracle shard under `oracle_dir`, in day order.

  Returns:
    One [n] array per name of `ORACLE_COLUMNS`: `impression_id` as str, `ts_ms` int64,
    `click` / `purchase` bool, probabilities float64 (NaN where not defined).
  """
  rows = []
  for path in sink.glob(f"{oracle_dir}/oracle-*.csv*"):
    rows.extend(line.split(",") for line in sink.read_lines(path)[1:])
  table = np.array(rows, dtype=object).reshape(-1, len(ORACLE_COLUMNS)).T
  columns = dict(zip(ORACLE_COLUMNS, table))
  return {
      "impression_id": columns["impression_id"].astype(str),
      "ts_ms": columns["ts_ms"].astype(np.int64),
      "click": columns["click"].astype(int).astype(bool),
      "purchase": columns["purchase"].astype(int).astype(bool),
      **{name: np.array([float(value) if value else np.nan for value in columns[name]])
         for name in ORACLE_COLUMNS[4:]},
  }


def summarize(columns: OracleColumns, is_eval: np.ndarray) -> dict[str, dict]:
  """Bayes-optimal AUCs, rates and counts on the eval split and on all data.

  Args:
    columns: the oracle of every impression.
    is_eval: [n] bool, impressions on the last UTC day of the data.

  Returns:
    {"eval": {...}, "all": {...}}, each with "auc" (ctr_regular, ctr_full on
    impressions; cvr_regular, cvr_full on clicked impressions), "rates" (ctr, cvr) and
    "counts" (impressions, clicks, purchases). A value with no data (an AUC with one
    class, a rate of nothing) is None, so the summary is strict JSON.
  """
  def split(mask: np.ndarray) -> dict:
    click = columns.click[mask]
    clicked = mask & columns.click
    purchase = columns.purchase[clicked]
    return {
        "auc": {
            "ctr_regular": roc.auc(click, columns.p_click_regular[mask]),
            "ctr_full": roc.auc(click, columns.p_click_full[mask]),
            "cvr_regular": roc.auc(purchase, columns.p_purchase_regular[clicked]),
            "cvr_full": roc.auc(purchase, columns.p_purchase_full[clicked]),
        },
        "rates": {"ctr": _mean(click), "cvr": _mean(purchase)},
        "counts": {"impressions": int(mask.sum()), "clicks": int(click.sum()),
                   "purchases": int(purchase.sum())},
    }

  summary = {"eval": split(is_eval), "all": split(np.ones_like(is_eval))}
  for part in summary.values():
    part["auc"] = {name: None if np.isnan(value) else value
                   for name, value in part["auc"].items()}
  return summary


def _mean(labels: np.ndarray) -> float | None:
  return float(labels.mean()) if labels.size else None
