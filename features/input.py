"""tf.data input: a published dataset's TFRecords -> batches of (features, labels).

Reads a `features.dataset.PublishedDataset` (what `pipelines/join_logs.py` publishes,
WORKSPACE.md): its shards, parsed with the spec they were written with (not the code's
DEFAULT_SPEC), and its run report's counts. Records are batched before they are
parsed, so `tf.io.parse_example` runs once per batch rather than once per record
(tensorflow/models' ranking data pipeline).
"""

from __future__ import annotations

import functools
import itertools
import time
from typing import Sequence

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
# records cost 4x the reading itself (75k vs 300k records/s on 2 cores). Also the
# size of one vectorised click filter step, for a dataset without a clicked view.
_READ_BLOCK = 256

Features = dict[str, tf.Tensor | tf.RaggedTensor]
TimeRange = tuple[int, int]  # [start, end) in ms of the spec's time feature.
_FRACTION_BINS = 1 << 20


def _input_features(spec: spec_lib.FeatureSpec, task: spec_lib.Task,
                    names: Sequence[str] | None) -> list[spec_lib.Feature]:
  """The features to parse: `names`, or the task's inputs plus what evaluation reads
  beside them (`spec.metadata_features()`: GAUC's user, the slices' features, ids to
  join predictions back to impressions)."""
  if names is None:
    inputs = (spec_lib.Role.REGULAR, spec_lib.Role.PRIVILEGED)
    metadata = {f.name for f in spec.metadata_features()}
    return [f for f in spec if f.role(task.name) in inputs or f.name in metadata]
  unknown = [n for n in names if n not in spec.names]
  if unknown:
    raise ValueError(f"Unknown features {unknown}; the dataset's spec has "
                     f"{spec.names}.")
  refused = [n for n in names if spec[n].kind is spec_lib.Kind.LABEL
             or spec[n].role(task.name) is spec_lib.Role.EXCLUDED]
  if refused:
    raise ValueError(
        f"Features {refused} cannot be inputs for task {task.name!r}: labels come as "
        "the second element of each batch, and excluded features would leak the "
        "label. Leave them out of `features`.")
  return [spec[n] for n in names]


def _run_starts(keys: tf.Tensor) -> tf.Tensor:
  """`[n]` keys -> `[n]` bool, True where a run of equal consecutive keys starts."""
  return tf.concat([tf.ones([tf.minimum(tf.size(keys), 1)], tf.bool),
                    tf.not_equal(keys[1:], keys[:-1])], 0)


def _whole_runs(elements: tf.data.Dataset) -> tf.data.Dataset:
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
    starts = tf.where(_run_starts(keys))[:, 0]
    cut = tf.where(last, tf.size(keys, tf.int64),
                   tf.reduce_max(tf.concat([[0], starts], 0)))
    return (records[cut:], keys[cut:]), (records[:cut], keys[:cut])

  return flagged.scan(empty, step).filter(lambda records, _: tf.size(records) > 0)


def _task_blocks(dataset: dataset_lib.PublishedDataset, split: str, task: str, *,
                 shuffle: bool, seed: int | None, deterministic: bool,
                 input_context: tf.distribute.InputContext | None = None,
                 time_range: TimeRange | None = None, fraction: float = 1.0,
                 request_feature: str | None = None) -> tf.data.Dataset:
  """`task_records` in blocks of up to _READ_BLOCK serialized records; with an
  `input_context`, that input pipeline's share: its shards where there are at least
  as many as pipelines, else every n-th block of all shards read in a fixed order;
  with a `time_range`, only the records whose `spec.time_feature` lies in it; with a
  `fraction` below 1, the records whose hash falls in that share of the hash range.

  With a `request_feature`, blocks are `(records, request ids)` of whole requests (a
  block ends where a request does, so it may pass _READ_BLOCK). That relies on the
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
    runs = tf.reduce_sum(tf.cast(_run_starts(ids), tf.int32))
    check = tf.debugging.assert_equal(
        tf.size(tf.unique(ids).y), runs, message=(
            f"A request ({request_feature!r}) whose impressions are not consecutive "
            "in its shard: request batching needs the join's order (a request's "
            "impressions share one timestamp)."))
    with tf.control_dependencies([check]):
      return tf.identity(serialized), ids

  def read_blocks(shard: tf.Tensor) -> tf.data.Dataset:
    blocks = tf.data.TFRecordDataset(shard).batch(_READ_BLOCK)
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
      blocks = _whole_runs(blocks.map(with_requests)).map(check_contiguous)
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
  return _task_blocks(dataset_lib.published(dataset), split, task, shuffle=shuffle,
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
    blocks = _task_blocks(dataset, split, task, shuffle=False, seed=None,
                          deterministic=False, time_range=time_range, fraction=fraction)
    dataset.filtered_counts[key] = int(blocks.reduce(
        tf.constant(0, tf.int64), lambda count, block: count + tf.size(block, tf.int64)))
  return dataset.filtered_counts[key]


def _cached_blocks(dataset: dataset_lib.PublishedDataset, split: str, task: str,
                   time_range: TimeRange | None, fraction: float,
                   request_feature: str | None) -> tf.data.Dataset:
  """`_task_blocks` in the shards' order, cached in memory, one per dataset object
  and filters (`cached_blocks`): pipelines built on it share what it holds."""
  key = (split, task, None if time_range is None else tuple(time_range), fraction,
         request_feature)
  if key not in dataset.cached_blocks:
    dataset.cached_blocks[key] = _task_blocks(
        dataset, split, task, shuffle=False, seed=None, deterministic=True,
        time_range=time_range, fraction=fraction,
        request_feature=request_feature).cache()
  return dataset.cached_blocks[key]


def shuffle_in_windows(blocks: tf.data.Dataset, window: int, seed: int | None
                       ) -> tf.data.Dataset:
  """Blocks of serialized records -> windows of `window` records, each permuted.

  Shuffles the way a `shuffle(window)` buffer mixes records, at a fraction of its
  cost: one vectorised permutation per window instead of a buffer step per record
  (a record-level buffer costs about as much as reading the record).
  Each window is a uniform permutation of `window` consecutive records of the
  interleaved shards (the last one may be shorter); a new pass over the dataset (an
  epoch) draws new permutations, which `seed` fixes. A window and its permuted copy
  are held at once: about twice the memory of a shuffle buffer of that size.
  """
  windows = blocks.rebatch(window)
  seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
  return tf.data.Dataset.zip(windows, seeds).map(
      lambda records, pair: tf.random.experimental.stateless_shuffle(records, pair))


def shuffle_requests(blocks: tf.data.Dataset, window: int, seed: int | None
                     ) -> tf.data.Dataset:
  """Blocks `(records, request ids)` of whole requests -> windows of whole blocks,
  about `window` records each, their requests permuted.

  `shuffle_in_windows` for requests: a window's requests come in a uniform random
  order, each request's records together and in their order; a new pass (an epoch)
  draws new permutations, which `seed` fixes.
  """
  windows = blocks.ragged_batch(max(1, window // _READ_BLOCK)).map(
      lambda records, ids: (records.flat_values, ids.flat_values))
  seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)

  def permute(window_records, pair):
    records, ids = window_records
    requests, request_of = tf.unique(ids)
    rank = tf.random.experimental.stateless_shuffle(tf.range(tf.size(requests)), pair)
    order = tf.argsort(tf.gather(rank, request_of), stable=True)
    return tf.gather(records, order), tf.gather(ids, order)

  return tf.data.Dataset.zip(windows, seeds).map(permute)


def _batch_requests(blocks: tf.data.Dataset, batch_size: int, examples_per_pass: int
                    ) -> tf.data.Dataset:
  """Blocks `(records, request ids)` of whole requests -> batches of whole requests.

  With n = ceil(examples_per_pass / batch_size), the number of batches a pass has
  without request grouping (what `fit` is told), a request goes to batch
  floor(o * n / examples_per_pass), o the position of its first record in the
  stream: batches of about examples_per_pass / n <= batch_size records (within one
  request's size), exactly n per pass unless a request is larger than that.
  """
  batches_per_pass = -(-examples_per_pass // batch_size)

  def number(position, block):
    records, ids = block
    starts = _run_starts(ids)
    first = tf.gather(tf.where(starts)[:, 0], tf.cumsum(tf.cast(starts, tf.int64)) - 1)
    batch = (position + first) * batches_per_pass // examples_per_pass
    return position + tf.size(ids, tf.int64), (records, batch)

  def split(records, batch):
    _, row = tf.unique(batch)
    return tf.data.Dataset.from_tensor_slices(
        tf.RaggedTensor.from_value_rowids(records, tf.cast(row, tf.int64)))

  numbered = blocks.scan(tf.constant(0, tf.int64), number)
  return _whole_runs(numbered).flat_map(split)


def make_dataset(dataset: str | dataset_lib.PublishedDataset, split: str, task: str,
                 batch_size: int, *, features: Sequence[str] | None = None,
                 shuffle: bool = True,
                 shuffle_buffer: int = 10_000, seed: int | None = None,
                 deterministic: bool = False, repeat: bool = False,
                 drop_remainder: bool = False,
                 input_context: tf.distribute.InputContext | None = None,
                 time_range: TimeRange | None = None, fraction: float = 1.0,
                 group_by_request: bool = False, cache: bool = False
                 ) -> tf.data.Dataset:
  """Batches of one split of a published dataset, labelled for one task.

  A `clicked_only` task (CVR) reads only clicked impressions (`task_records`: the
  split's clicked view, ~1/CTR times fewer records than the split), before the
  shuffle, so that its windows hold `shuffle_buffer` of the task's examples and
  batches hold `batch_size` of them. Without a view, records are filtered serialized,
  in batches, on their click label alone, and only the survivors are fully parsed.

  Args:
    dataset: A PublishedDataset, or the directory of one (opened here); local or
      gs://.
    split: One of `dataset.splits` ("train" or "eval").
    task: A task of the dataset's spec; its label feature becomes the labels.
    batch_size: Examples per batch.
    features: Names to parse. Default: the task's inputs, regular and privileged (a
      teacher needs both; a student or serving check passes the regular names), plus
      `spec.metadata_features()` for evaluation. Labels and the task's excluded
      features are refused.
    shuffle: Shuffle the shard order and the records (`shuffle_in_windows`).
    shuffle_buffer: How many consecutive records are shuffled together (one
      window; the dataset's size or more shuffles each epoch completely).
    seed: Seeds both shuffles. Each pass over the dataset (each epoch) reshuffles,
      in an order that the seed fixes.
    deterministic: Produce the same batches in the same order on every run with the
      same seed. Otherwise parallel stages may emit out of order, which is faster:
      even an epoch's last, smaller batch may come before a full one.
    repeat: Repeat forever, each pass a new shuffle; batches then run across pass
      boundaries (a trainer then counts steps: a capped epoch).
    drop_remainder: Drop the last, smaller batch, giving a static batch dimension.
    input_context: Read only this input pipeline's share of the split (a
      DatasetCreator's workers, each its own shards); needs `repeat`.
    group_by_request: Batches of whole requests (`spec.request_feature`), for losses
      that rank within a request: the shuffle permutes whole requests
      (`shuffle_requests`), and a batch holds about `batch_size` examples, as many
      batches per pass as without (`_batch_requests`). Excludes `drop_remainder`.
    time_range: Only the examples whose `spec.time_feature` lies in `[start, end)`
      ms (a validation slice of the train split, or the train split without it),
      filtered serialized, like the click filter.
    fraction: Only this share of the examples, a subset fixed by a hash of each
      serialized record (e.g. to see how a gain grows with the amount of data).
    cache: Hold the serialized records that pass the filters in memory from the
      first pass on: later passes neither read nor filter the split again (a small
      `fraction` of a large split otherwise costs a pass over all of it). Without an
      `input_context`, the records are held once per dataset object and filters, and
      read in the shards' fixed order: every later pipeline with the same filters
      (another run in this process) reads them from memory too, each with its own
      shuffle.

  Returns:
    A dataset of `(features, labels)`: features maps each name to a `[batch_size]`
    tensor (tf.string, tf.int64 or tf.float32 as stored) or, for sequence features, a
    `[batch_size, None]` RaggedTensor, and each of the task's `auxiliary_labels` to a
    `[batch_size]` tf.float32 (for a multi-task head's loss; no head reads a label as
    an input); labels is `[batch_size]` tf.float32. Without
    `repeat`, its cardinality is its number of batches (`example_count`: a
    `time_range` costs one pass to count its examples, once per dataset and range);
    with it, tf.data.INFINITE_CARDINALITY.

  Raises:
    FileNotFoundError: `dataset` is not published or lacks the split's shards.
    ValueError: An unknown split, task or feature; a refused feature; a bad size; or
      `deterministic` shuffling without a seed.
  """
  dataset = dataset_lib.published(dataset)
  spec = dataset.spec
  task_spec = spec.task(task)
  if split not in dataset.splits:
    raise ValueError(f"Unknown split {split!r}; known splits: "
                     f"{list(dataset.splits)}.")
  if batch_size < 1:
    raise ValueError(f"batch_size must be >= 1, got {batch_size}.")
  if shuffle and shuffle_buffer < 1:
    raise ValueError(f"shuffle_buffer must be >= 1, got {shuffle_buffer}.")
  if deterministic and shuffle and seed is None:
    raise ValueError("deterministic=True shuffles reproducibly only with a seed: pass "
                     "seed=..., or shuffle=False.")
  request_feature = spec.request_feature if group_by_request else None
  if group_by_request and (request_feature is None or drop_remainder):
    raise ValueError(
        "group_by_request needs a spec that names its request feature (identity: "
        f"request: <feature>; got identity {spec.identity}) and batches of varying "
        f"size (drop_remainder=False, got {drop_remainder}).")
  to_parse = _input_features(spec, task_spec, features) + [
      spec[label] for label in (task_spec.label, *task_spec.auxiliary_labels)]

  def parse(serialized: tf.Tensor) -> tuple[Features, tf.Tensor]:
    parsed = example_parser.parse_batch(serialized, to_parse)
    for label in task_spec.auxiliary_labels:
      parsed[label] = tf.cast(parsed[label], tf.float32)
    return parsed, tf.cast(parsed.pop(task_spec.label), tf.float32)

  # Records stay in blocks up to the batch (`rebatch` slices and joins whole
  # tensors): no stage after the reader steps through single records.
  if input_context and not repeat:
    raise ValueError("input_context reads one pipeline's share of the split, whose "
                     "length is unknown: pass repeat=True and count steps.")
  if cache and input_context is None:
    records = _cached_blocks(dataset, split, task, time_range, fraction,
                             request_feature)
  else:
    records = _task_blocks(dataset, split, task, shuffle=shuffle, seed=seed,
                           deterministic=deterministic, input_context=input_context,
                           time_range=time_range, fraction=fraction,
                           request_feature=request_feature)
    if cache:
      records = records.cache()
  if group_by_request:
    if shuffle:
      records = shuffle_requests(records, shuffle_buffer, seed)
    if repeat:
      # After the shuffle: a window across two passes would hold two copies of a
      # request, which its permutation merges into one request of twice the size.
      records = records.repeat()
    batched = _batch_requests(records, batch_size,
                              example_count(dataset, split, task, time_range,
                                            fraction))
  else:
    if shuffle:
      records = shuffle_in_windows(records, shuffle_buffer, seed)
    if repeat:
      # After the shuffle, as a trainer's passes: each pass is a permutation of the
      # split of its own (a window across two passes would hold some records twice
      # and others not at all).
      records = records.repeat()
    batched = records.rebatch(batch_size, drop_remainder=drop_remainder)
  batches = (batched.map(parse, num_parallel_calls=tf.data.AUTOTUNE)
             .prefetch(tf.data.AUTOTUNE))
  if not repeat:
    # tf.data cannot count through the filters and rebatching, and Keras's `fit`
    # over a dataset of unknown length counts one optimizer step too many at the
    # end of the first epoch, which would move the lambda schedule's swap step. A
    # dataset whose length differs from its report fails at the end of a pass.
    examples = example_count(dataset, split, task, time_range, fraction)
    num_batches = (examples // batch_size if drop_remainder
                   else -(-examples // batch_size))
    batches = batches.apply(tf.data.experimental.assert_cardinality(num_batches))
  else:
    # Declared (tf.data cannot tell through the filters): a trainer knows that it
    # reads one stream across its epochs (Keras keeps one iterator), and that a
    # resumed run skips the batches it had trained on.
    batches = batches.apply(tf.data.experimental.assert_cardinality(
        tf.data.INFINITE_CARDINALITY))
  # Autotuning is on by default and every parallel stage above asks for AUTOTUNE;
  # determinism is the one setting to choose.
  options = tf.data.Options()
  options.deterministic = deterministic
  return batches.with_options(options)


def examples_per_second(dataset: tf.data.Dataset, num_batches: int) -> float:
  """Input throughput: examples per wall-clock second over `num_batches` batches.

  One batch is drawn before the clock starts: it pays one-off costs (opening shards,
  filling the shuffle buffer, starting the parallel stages) that training amortises.

  Args:
    dataset: Yields `(features, labels)` with `[batch]` labels, as `make_dataset`.
    num_batches: Batches timed after the first.
  """
  if num_batches < 1:
    raise ValueError(f"num_batches must be >= 1, got {num_batches}.")
  iterator = iter(dataset)
  warmed_up = next(iterator, None) is not None
  examples, timed = 0, 0
  start = time.perf_counter()
  for _, labels in itertools.islice(iterator, num_batches):
    examples += int(labels.shape[0])
    timed += 1
  elapsed = time.perf_counter() - start
  if not warmed_up or timed < num_batches:
    raise ValueError(f"The dataset ended before {num_batches + 1} batches (one to warm "
                     f"up, {num_batches} timed); time fewer batches or repeat it.")
  return examples / elapsed
