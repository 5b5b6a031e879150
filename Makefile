# Two promises: `make demo` and `make test` work on a fresh clone (see README.md).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
WORKSPACE ?= workspace

.PHONY: install demo test bench evidence attribution daily-evidence kuairand clean

install: $(STAMP)

# requirements.lock pins the whole dependency closure; the project itself is
# installed editable without touching that closure.
$(STAMP): requirements.lock setup.py
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.lock
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m simulation.generate --preset=demo --output_dir=$(WORKSPACE)/raw
	$(PY) -m pipelines.join_logs --impressions="$(WORKSPACE)/raw/impressions/*" \
	  --clicks="$(WORKSPACE)/raw/clicks/*" --detail_pages="$(WORKSPACE)/raw/detail_pages/*" \
	  --output_dir=$(WORKSPACE)/examples --overwrite
	$(PY) -m pipelines.summary --examples_dir=$(WORKSPACE)/examples \
	  --oracle_dir=$(WORKSPACE)/raw/oracle
	$(PY) -m models.compare --data_dir=$(WORKSPACE)/examples --task=cvr \
	  --oracle_dir=$(WORKSPACE)/raw/oracle --work_dir=$(WORKSPACE)/models --epochs=1 \
	  --batch_size=128 --shuffle_buffer=100000 --fast
	# A re-run publishes a new version only if its AUC is within 0.01 of the last one's
	# (one seed's noise is ~0.003; production keeps the stricter default, 0.005).
	$(PY) -m export.export_model --model_dir=$(WORKSPACE)/models/pfd-seed0 \
	  --data_dir=$(WORKSPACE)/examples --export_base=$(WORKSPACE)/serving --model_name=cvr \
	  --max_auc_drop=0.01

test: $(STAMP)
	$(PY) -m pytest -q tests

bench: $(STAMP)
	$(PY) -m benchmarks.run_all --output=benchmarks/results.json

# Model quality over seeds on the evidence world (generated and joined on the first
# run), split between EVIDENCE_PROCESSES processes; EVIDENCE_FLAGS=--quick runs the
# RQ1 rows alone (WORKSPACE.md, benchmarks.evidence). A rerun reads finished runs.
# EVIDENCE_PROTOCOL, alike for every run: the train split's last day validates, and
# early stopping keeps the best of at most 3 epochs.
EVIDENCE_FLAGS ?=
EVIDENCE_PROTOCOL ?= --validation_days=1 --early_stopping_patience=1 --epochs=3
EVIDENCE_PROCESSES ?= 2
evidence: $(STAMP)
	$(PY) -m benchmarks.evidence --world=evidence \
	  --data_dir=$(WORKSPACE)/evidence_world/examples \
	  --raw_dir=$(WORKSPACE)/evidence_world/raw --work_dir=$(WORKSPACE)/evidence \
	  --processes=$(EVIDENCE_PROCESSES) $(EVIDENCE_PROTOCOL) $(EVIDENCE_FLAGS)
	$(MAKE) attribution
	$(MAKE) daily-evidence

# PFD's gain against its controls (benchmarks.attribution, WORKSPACE.md): KuaiRand's
# studies read make kuairand's dataset (skipped without it), the evidence world's make
# evidence's. A rerun reads finished runs.
ATTRIBUTION_FLAGS ?=
attribution: $(STAMP)
	$(PY) -m benchmarks.attribution --kuairand_dir=$(KUAIRAND_WORK)/examples \
	  --evidence_dir=$(WORKSPACE)/evidence_world/examples \
	  --evidence_raw_dir=$(WORKSPACE)/evidence_world/raw \
	  --work_dir=$(WORKSPACE)/attribution $(ATTRIBUTION_FLAGS)

# Next-day AUC of the daily arms (benchmarks.daily_evidence): the churn world (generated
# on the first run) and KuaiRand's days (make kuairand's logs; skipped without them or
# $(KUAIRAND_DATA)). A rerun reads finished runs.
DAILY_EVIDENCE_FLAGS ?=
daily-evidence: $(STAMP)
	$(PY) -m benchmarks.daily_evidence --kuairand_raw_dir=$(KUAIRAND_WORK)/raw \
	  --kuairand_data_dir=$(KUAIRAND_DATA) --work_dir=$(WORKSPACE)/daily_evidence \
	  $(DAILY_EVIDENCE_FLAGS)

# KuaiRand's real logs, from the dataset's files to two served students (ctr, like):
# WORKSPACE.md's "KuaiRand (real logs)" commands, with make evidence's protocol.
KUAIRAND_DATA ?= ../shared/data/kuairand
KUAIRAND_WORK ?= $(WORKSPACE)/kuairand
KUAIRAND_PROTOCOL ?= --validation_days=1 --early_stopping_patience=1 --epochs=3
kuairand: $(STAMP)
	$(PY) -m examples.kuairand.convert --data_dir=$(KUAIRAND_DATA) \
	  --output_dir=$(KUAIRAND_WORK)/raw
	$(PY) -m pipelines.join_logs --feature_spec=examples/kuairand/spec.yaml \
	  --impressions="$(KUAIRAND_WORK)/raw/impressions/*" \
	  --clicks="$(KUAIRAND_WORK)/raw/clicks/*" \
	  --detail_pages="$(KUAIRAND_WORK)/raw/detail_pages/*" \
	  --output_dir=$(KUAIRAND_WORK)/examples --eval_days=3 --overwrite
	for task in ctr like; do \
	  $(PY) -m models.train --data_dir=$(KUAIRAND_WORK)/examples \
	    --model_dir=$(KUAIRAND_WORK)/models/$$task --task=$$task --mode=pfd \
	    $(KUAIRAND_PROTOCOL) --overwrite && \
	  $(PY) -m export.export_model --model_dir=$(KUAIRAND_WORK)/models/$$task \
	    --data_dir=$(KUAIRAND_WORK)/examples --export_base=$(KUAIRAND_WORK)/serving \
	    --model_name=$$task --max_auc_drop=0.02 || exit 1; \
	done
	$(PY) -m examples.kuairand.summary --work_dir=$(KUAIRAND_WORK)

clean:
	rm -rf $(VENV) $(WORKSPACE) *.egg-info .pytest_cache
