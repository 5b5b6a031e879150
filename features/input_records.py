"""The records of a task in a published dataset: serialized tf.Examples read from its
shards in blocks, filtered (clicks, a time range, a hashed fraction) before any full
parse, and counted.

Reads a `features.dataset.PublishedDataset` (what `pipelines/join_logs.py` publishes,
WORKSPACE.md): its shards and its run report's counts. `features.input.make_dataset`
shuffles, batches and parses what this module reads.
"""

from __future__ import annotations

import functools

import tensorflow as tf

from features import dataset as dataset_lib
from features import example_parser
from features import layout
from features import spec as spec_lib

# A fixed cycle length, not AUTOTUNE: the record order must not depend on the machine's
# core count, or `deterministic=True` would not reproduce across machines.
_MAX_OPEN_SHARDS = 8
# Records travel from a shard's reader to the rest of the pipeline in blocks of this
# many: a parallel interleave hands elements between threads, and handing over single
# records costs several times the reading itself. Also the size of one vectorised
# click filter step, for a dataset without a clicked view.
READ_BLOCK = 256
_FRACTION_BINS = 1 << 20

TimeRange = tuple[int, int]  # [start, end) in ms of the spec's time feature.


def run_starts(keys: tf.Tensor) -> tf.Tensor:
  """`[n]` keys -> `[n]` bool, True where a run of equal consecutive keys starts."""
  return tf.concat([tf.ones([tf.minimum(tf.size(keys), 1)], tf.bool),
                    tf.not_equal(keys[1:], keys[:-1])], 0)


def whole_runs(elements: tf.data.Dataset) -> tf.data.Dataset:
  """Elements `(records, keys)` of `[n]` tensors -> the same rows in the same order,
  re-cut so that a run of equal consecutive keys never spans two elements.

  Each element's last run may continue in the next one: it is held back and joined to
  it (a sentinel after the last element flushes it). Elements left empty are dropped.
  """
  records_spec, keys_spec = elements.element_spec
  empty = (tf.zeros([0], records_spec.dtype), tf.zeros([0], keys_spec.dtype))
  flagged = elements.map(lambda records, keys: (records, keys, False)).concatenate(
      tf.data.Dataset.from_tensors((*empty, True)))

  def step(held, element):
    records, keys, last = element
    records = tf.concat([held[0], records], 0)
    keys = tf.concat([held[1], keys], 0)
    starts = tf.where(run_starts(keys))[:, 0]
    cut = tf.where(last, tf.size(keys, tf.int64),
                   tf.reduce_max(tf.concat([[0], starts], 0)))
    return (records[cut:], keys[cut:]), (records[:cut], keys[:cut])

  return flagged.scan(empty, step).filter(lambda records, _: tf.size(records) > 0)


def task_blocks(dataset: dataset_lib.PublishedDataset, split: str, task: str, *,
                shuffle: bool, seed: int | None, deterministic: bool,
                input_context: tf.distribute.InputContext | None = None,
                time_range: TimeRange | None = None, fraction: float = 1.0,
                request_feature: str | None = None) -> tf.data.Dataset:
  """`task_records` in blocks of up to READ_BLOCK serialized records; with an
  `input_context`, that input pipeline's share: its shards where there are at least
  as many as pipelines, else every n-th block of all shards read in a fixed order;
  with a `time_range`, only the records whose `spec.time_feature` lies in it; with a
  `fraction` below 1, the records whose hash falls in that share of the hash range.

  With a `request_feature`, blocks are `(records, request ids)` of whole requests (a
  block ends where a request does, so it may pass READ_BLOCK). That relies on the
  join writing a request's impressions one after another: it writes each user's
  impressions together, in time order, and a request's impressions share one
  timestamp. A request found twice in one block fails the read.
  """
  spec = dataset.spec
  task_spec = spec.task(task)
  view = layout.clicked_view(split)
  read_view = task_spec.clicked_only and dataset.has_view(view)
  paths = dataset.shards(view if read_view else split)
  pipelines, pipeline = ((input_context.num_input_pipelines,
                          input_context.input_pipeline_id) if input_context else (1, 0))
  share_blocks = pipelines > len(paths)
  if pipelines > 1 and not share_blocks:
    paths = paths[pipeline::pipelines]
  if share_blocks and shuffle and seed is None:
    raise ValueError(f"{pipelines} input pipelines share {len(paths)} shard(s) block "
                     "by block: the shuffle needs a seed for them to agree.")
  deterministic = deterministic or share_blocks  # The same blocks in every pipeline.
  if time_range is not None and spec.time_feature is None:
    raise ValueError(f"A time_range needs the spec's time feature: a metadata feature "
                     f"with source {spec_lib.IMPRESSION_TIME_SOURCE!r}; the spec of "
                     f"{dataset.data_dir!r} has none.")
  if not 0.0 < fraction <= 1.0:
    raise ValueError(f"fraction must be in (0, 1], got {fraction}.")

  def keep_where(feature: str, wanted):
    """A filter of `[n]` serialized records -> `[m <= n]`, those whose `feature`
    (the only one parsed) is `wanted`."""

    def keep(serialized: tf.Tensor) -> tf.Tensor:
      values = example_parser.parse_batch(serialized, [spec[feature]])[feature]
      return tf.boolean_mask(serialized, wanted(values))

    return keep

  def with_requests(serialized: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    ids = example_parser.parse_batch(serialized, [spec[request_feature]])
    return serialized, ids[request_feature]

  def check_contiguous(serialized: tf.Tensor, ids: tf.Tensor
                       ) -> tuple[tf.Tensor, tf.Tensor]:
    runs = tf.reduce_sum(tf.cast(run_starts(ids), tf.int32))
    check = tf.debugging.assert_equal(
        tf.size(tf.unique(ids).y), runs, message=(
            f"A request ({request_feature!r}) whose impressions are not consecutive "
            "in its shard: request batching needs the join's order (a request's "
            "impressions share one timestamp)."))
    with tf.control_dependencies([check]):
      return tf.identity(serialized), ids

  def read_blocks(shard: tf.Tensor) -> tf.data.Dataset:
    blocks = tf.data.TFRecordDataset(shard).batch(READ_BLOCK)
    if fraction < 1.0:
      # A hash of the record's bytes: the same subset in every run and pipeline.
      # First: it parses nothing, and the filters after it then parse a fraction.
      blocks = blocks.map(lambda serialized: tf.boolean_mask(serialized, (
          tf.strings.to_hash_bucket_fast(serialized, _FRACTION_BINS)
          < int(fraction * _FRACTION_BINS))))
    if task_spec.clicked_only and not read_view:
      blocks = blocks.map(keep_where(spec.click_label, lambda click: click == 1))
    if time_range is not None:
      blocks = blocks.map(keep_where(
          spec.time_feature, lambda ts: (ts >= time_range[0]) & (ts < time_range[1])))
    if request_feature is not None:
      blocks = whole_runs(blocks.map(with_requests)).map(check_contiguous)
    return blocks

  shards = tf.data.Dataset.from_tensor_slices(paths)
  if shuffle:  # What tf.data.Dataset.list_files does: one buffer of every shard.
    shards = shards.shuffle(len(paths), seed=seed)
  blocks = shards.interleave(
      read_blocks, cycle_length=min(len(paths), _MAX_OPEN_SHARDS),
      num_parallel_calls=tf.data.AUTOTUNE, deterministic=deterministic)
  return blocks.shard(pipelines, pipeline) if share_blocks else blocks


def task_records(dataset: str | dataset_lib.PublishedDataset, split: str, task: str,
                 *, shuffle: bool = False, seed: int | None = None,
                 deterministic: bool = True) -> tf.data.Dataset:
  """The split's serialized tf.Examples that are examples of `task`, unbatched.

  What a server receives (the export's parity check and warm-up requests use it) and
  what `make_dataset` parses. A `clicked_only` task (CVR) reads the split's clicked
  view (layout.clicked_view) that the join job writes, or, in a dataset without one,
  keeps the records of the whole split whose click label (`spec.click_label`) is 1.

  Args:
    dataset: A PublishedDataset, or the directory of one (opened here).
    shuffle: Shuffle the shard order (records are not shuffled here).
    seed: Seeds the shard shuffle.
    deterministic: Interleave shards in a fixed order.
  """
  return task_blocks(dataset_lib.published(dataset), split, task, shuffle=shuffle,
                     seed=seed, deterministic=deterministic).unbatch()


@functools.lru_cache(maxsize=16)  # A published dataset does not change.
def example_count(dataset: dataset_lib.PublishedDataset, split: str, task: str,
                  time_range: TimeRange | None = None, fraction: float = 1.0) -> int:
  """How many examples of `task` `split` holds: the run report's count, or, within a
  `time_range` or a `fraction`, counted in one pass of their filters (which parse
  the time feature at most), once per dataset object (`filtered_counts`)."""
  if time_range is None and fraction == 1.0:
    return dataset.example_count(split, task)
  key = (split, task, None if time_range is None else tuple(time_range), fraction)
  if key not in dataset.filtered_counts:
    blocks = task_blocks(dataset, split, task, shuffle=False, seed=None,
                         deterministic=False, time_range=time_range, fraction=fraction)
    dataset.filtered_counts[key] = int(blocks.reduce(
        tf.constant(0, tf.int64), lambda count, block: count + tf.size(block, tf.int64)))
  return dataset.filtered_counts[key]


def cached_task_blocks(dataset: dataset_lib.PublishedDataset, split: str, task: str,
                       time_range: TimeRange | None, fraction: float,
                       request_feature: str | None) -> tf.data.Dataset:
  """`task_blocks` in the shards' order, cached in memory, one per dataset object
  and filters (`cached_blocks`): pipelines built on it share what it holds."""
  key = (split, task, None if time_range is None else tuple(time_range), fraction,
         request_feature)
  if key not in dataset.cached_blocks:
    dataset.cached_blocks[key] = task_blocks(
        dataset, split, task, shuffle=False, seed=None, deterministic=True,
        time_range=time_range, fraction=fraction,
        request_feature=request_feature).cache()
  return dataset.cached_blocks[key]
