"""The collector is paused in the block only, and a nested pause leaves it paused."""

import gc

from pipelines import gc_pause


def test_the_collector_resumes_after_the_outermost_pause():
  assert gc.isenabled()
  with gc_pause.paused():
    assert not gc.isenabled()
    with gc_pause.paused():
      assert not gc.isenabled()
    assert not gc.isenabled()
  assert gc.isenabled()


def test_the_collector_resumes_after_an_error():
  try:
    with gc_pause.paused():
      raise KeyError("x")
  except KeyError:
    pass
  assert gc.isenabled()


def test_a_collector_paused_before_stays_paused():
  gc.disable()
  try:
    with gc_pause.paused():
      pass
    assert not gc.isenabled()
  finally:
    gc.enable()
