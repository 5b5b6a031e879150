"""tf.data input: a published dataset's TFRecords -> batches of (features, labels).

Reads a `features.dataset.PublishedDataset` (what `pipelines/join_logs.py` publishes,
WORKSPACE.md): its task's records (`input_records`), shuffled and batched
(`input_batching`), parsed with the spec they were written with (not the code's
DEFAULT_SPEC). Records are batched before they are parsed, so `tf.io.parse_example`
runs once per batch rather than once per record (tensorflow/models' ranking data
pipeline).
"""

from __future__ import annotations

import itertools
import time
from typing import Sequence

import tensorflow as tf

from features import dataset as dataset_lib
from features import example_parser
from features import input_batching
from features import input_records
from features import spec as spec_lib
# What a task's records are and how many, public here too: servers' checks, counts and
# time ranges are read beside the batches.
from features.input_records import TimeRange, example_count, task_records

Features = dict[str, tf.Tensor | tf.RaggedTensor]


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
    shuffle: Shuffle the shard order and the records
      (`input_batching.shuffle_in_windows`).
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
      (`input_batching.shuffle_requests`), and a batch holds about `batch_size`
      examples, as many batches per pass as without
      (`input_batching.batch_requests`). Excludes `drop_remainder`.
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
    records = input_records.cached_task_blocks(dataset, split, task, time_range,
                                               fraction, request_feature)
  else:
    records = input_records.task_blocks(
        dataset, split, task, shuffle=shuffle, seed=seed, deterministic=deterministic,
        input_context=input_context, time_range=time_range, fraction=fraction,
        request_feature=request_feature)
    if cache:
      records = records.cache()
  if group_by_request:
    if shuffle:
      records = input_batching.shuffle_requests(records, shuffle_buffer, seed)
    if repeat:
      # After the shuffle: a window across two passes would hold two copies of a
      # request, which its permutation merges into one request of twice the size.
      records = records.repeat()
    batched = input_batching.batch_requests(
        records, batch_size, example_count(dataset, split, task, time_range, fraction))
  else:
    if shuffle:
      records = input_batching.shuffle_in_windows(records, shuffle_buffer, seed)
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
