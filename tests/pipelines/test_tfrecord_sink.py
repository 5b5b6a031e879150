"""Batches framed at once are TFRecord files TensorFlow reads, byte for byte as its
own writer frames them."""

import apache_beam as beam
import pytest
import tensorflow as tf

from pipelines import tfrecord_sink

RECORDS = [b"", b"a", b"\x00" * 300, bytes(range(256)) * 40]
# A batch whose records repeat lengths (headers are made once per length).
REPEATED_LENGTHS = [bytes([i]) * (100 + i % 3) for i in range(200)] + RECORDS * 2


@pytest.mark.parametrize("records", [RECORDS, REPEATED_LENGTHS, []])
def test_framing_is_tensorflows(tmp_path, records):
  path = str(tmp_path / "tf.tfrecord")
  with tf.io.TFRecordWriter(path) as writer:
    for record in records:
      writer.write(record)
  assert tfrecord_sink.frame(records) == open(path, "rb").read()


def test_the_sink_writes_batches_as_one_stream_of_records(tmp_path):
  prefix = str(tmp_path / "out")
  with beam.Pipeline(runner="FnApiRunner") as pipeline:
    _ = (pipeline
         | beam.Create([tfrecord_sink.frame(RECORDS[:2]),
                        tfrecord_sink.frame(RECORDS[2:])])
         | beam.io.Write(tfrecord_sink.FramedRecordSink(prefix, "-SSSSS-of-NNNNN")))
  files = tf.io.gfile.glob(prefix + "-*-of-*")
  read = [r for f in files for r in tf.data.TFRecordDataset(f).as_numpy_iterator()]
  assert sorted(read) == sorted(RECORDS)
