"""The spec file: the shipped default loads, round-trips, and bad files fail naming
the file, the feature and the rule."""

import dataclasses

import pytest
import yaml

from features import spec as spec_lib

DEFAULT = spec_lib.DEFAULT_SPEC


def _write(tmp_path, payload) -> str:
  path = tmp_path / "spec.yaml"
  path.write_text(yaml.safe_dump(payload) if not isinstance(payload, str) else payload)
  return str(path)


def _default_with(feature_name, **changes):
  payload = DEFAULT.to_dict()
  row = next(r for r in payload["features"] if r["name"] == feature_name)
  row.update(changes)
  for key, value in list(row.items()):
    if value is None:
      del row[key]
  return payload


def test_the_default_file_loads_with_its_tasks_events_and_roles():
  assert sorted(DEFAULT.tasks) == ["ctcvr", "ctr", "cvr"]
  assert DEFAULT.click_label == "click" and DEFAULT.task("cvr").clicked_only
  ctcvr = DEFAULT.task("ctcvr")
  assert (ctcvr.label, ctcvr.examples, ctcvr.auxiliary_labels) == (
      "purchase", spec_lib.Examples.ALL, ("click",))
  # Over all impressions the post-event features would reveal ESMM's click target.
  assert {f.name for f in DEFAULT.privileged("ctcvr")} == {f.name for f in
                                                           DEFAULT.privileged("ctr")}
  assert {f.name for f in DEFAULT.post_event_features()} <= {
      f.name for f in DEFAULT.with_role("ctcvr", spec_lib.Role.EXCLUDED)}
  assert {f.name for f in DEFAULT.privileged("cvr")} >= {"dwell_ms_total", "position"}
  assert "user_category_clicks_24h" in {f.name for f in DEFAULT.privileged("ctr")}
  assert DEFAULT["hist_category_ids"].vocabulary == "category_id"
  assert DEFAULT["purchase"].derive.window_ms == 24 * 3600 * 1000
  assert DEFAULT.post_event_label(DEFAULT["view_count"]) == "purchase"


@pytest.mark.parametrize("to_text,from_text", [
    (spec_lib.FeatureSpec.to_json, spec_lib.FeatureSpec.from_json),
    (spec_lib.FeatureSpec.to_yaml,
     lambda text: spec_lib.FeatureSpec.from_dict(yaml.safe_load(text)))])
def test_round_trips_keep_the_spec_and_its_fingerprint(to_text, from_text):
  again = from_text(to_text(DEFAULT))
  assert again == DEFAULT and again.fingerprint() == DEFAULT.fingerprint()


def test_the_vocabulary_day_knobs_round_trip_and_absent_are_not_written():
  days = DEFAULT.with_features(
      dataclasses.replace(f, min_count_days=3, retire_after_days=14)
      if f.name == "item_id" else f for f in DEFAULT)
  again = spec_lib.FeatureSpec.from_dict(yaml.safe_load(days.to_yaml()))
  assert again == days and again["item_id"].retire_after_days == 14
  assert "min_count_days" not in DEFAULT.to_json()  # Older datasets' specs still match.


@pytest.mark.parametrize("changes,message", [
    (dict(kind="categoricall"), r"feature 'segment': unknown kind 'categoricall'"),
    (dict(privileged_in=["ctr", "cvrr"]),
     r"feature 'segment' names unknown tasks \['cvrr'\]"),
    (dict(privileged_in=["cvr"], excluded_from=["cvr"]),
     r"feature 'segment' is both privileged and excluded for \['cvr'\]"),
    (dict(colour="red"), r"feature 'segment': keys: unknown keys \['colour'\]"),
    (dict(source=None), r"feature 'segment': needs a source"),
    (dict(source="session.segment"),
     r"feature 'segment': source 'session.segment' cannot exist"),
    (dict(source="user"), r"feature 'segment': source 'user' cannot exist"),
    (dict(source="user..segment"),
     r"feature 'segment': source 'user\.\.segment' cannot exist"),
    (dict(source="impression.user"),
     r"feature 'segment': source 'impression.user' cannot exist: 'user' is a logged "
     r"object, not a value"),
    (dict(source="impression.scene.name"),
     r"feature 'segment': source 'impression.scene.name' cannot exist: impression "
     r"fields are read at the top"),
    (dict(source="user.city_tier.segment"),
     r"feature 'segment' reads user.city_tier.segment, inside the value of feature "
     r"'city_tier'"),
])
def test_bad_features_fail_naming_file_feature_and_rule(tmp_path, changes, message):
  path = _write(tmp_path, _default_with("segment", **changes))
  with pytest.raises(spec_lib.SpecError, match=rf"^{tmp_path}/spec.yaml: {message}"):
    spec_lib.load_spec_file(path)


@pytest.mark.parametrize("feature,changes,message", [
    ("view_count", dict(derive={"op": "count", "event": "scroll"}),
     r"feature 'view_count' \(derive op count\): event 'scroll' is not declared"),
    ("dwell_ms_total", dict(derive={"op": "sum", "event": "view", "field": "depth"}),
     r"field 'depth' is not a field of event 'view'"),
    ("view_count", dict(excluded_from=["ctcvr"], privileged_in=["ctr", "cvr"]),
     r"would leak the click label of task 'ctr'"),
    ("view_count", dict(privileged_in=None),
     r"post-event features do not exist when a ranker scores"),
    ("hist_item_ids", dict(derive={"op": "history", "of": "price"}),
     r"`of` must name a logged categorical feature, got 'price'"),
    ("purchase", dict(derive={"op": "event", "event": "purchase"}),
     r"feature 'purchase' \(derive op event\): needs a window"),
    ("purchase", dict(derive={"op": "event", "event": "purchase", "window": "1 day"}),
     r"feature 'purchase': window '1 day' is not a duration"),
])
def test_bad_derivations_fail_naming_the_feature(tmp_path, feature, changes, message):
  with pytest.raises(spec_lib.SpecError, match=message):
    spec_lib.load_spec_file(_write(tmp_path, _default_with(feature, **changes)))


def test_bad_tasks_and_sections_fail(tmp_path):
  payload = DEFAULT.to_dict()
  payload["tasks"]["ltv"] = {"label": "revenue"}
  with pytest.raises(spec_lib.SpecError, match=r"task 'ltv': its label 'revenue'"):
    spec_lib.load_spec_file(_write(tmp_path, payload))
  payload = DEFAULT.to_dict()
  payload["tasks"]["cvr"]["examples"] = "viewed"
  with pytest.raises(spec_lib.SpecError, match=r"unknown task 'cvr' examples 'viewed'"):
    spec_lib.load_spec_file(_write(tmp_path, payload))
  for auxiliary, message in ((["price"], r"auxiliary label 'price' is not a feature "
                                         "of kind label"),
                             (["purchase"], r"repeat a label or name the task's own"),
                             ("click", r"auxiliary_labels must be a list")):
    payload = DEFAULT.to_dict()
    payload["tasks"]["ctcvr"]["auxiliary_labels"] = auxiliary
    with pytest.raises(spec_lib.SpecError, match=rf"task 'ctcvr': .*{message}"):
      spec_lib.load_spec_file(_write(tmp_path, payload))
  payload = DEFAULT.to_dict()
  payload["identity"]["user"] = "segment"
  with pytest.raises(spec_lib.SpecError, match=r"identity: user='segment' must be read "
                                               r"from a top-level impression field"):
    spec_lib.load_spec_file(_write(tmp_path, payload))
  payload = DEFAULT.to_dict()
  payload["version"] = 1
  with pytest.raises(spec_lib.SpecError, match=r"version is 1; this code reads "
                                               r"version 2"):
    spec_lib.load_spec_file(_write(tmp_path, payload))
  with pytest.raises(spec_lib.SpecError, match=r"spec.yaml: not YAML"):
    spec_lib.load_spec_file(_write(tmp_path, "features: [unclosed"))
  with pytest.raises(spec_lib.SpecError, match=r"cannot read the feature spec"):
    spec_lib.load_spec_file(str(tmp_path / "absent.yaml"))
