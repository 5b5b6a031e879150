"""Spec inference's steps (`python -m features.infer_spec` runs them): sampling the
logs, measuring the sample, proposing a spec, rendering it as commented YAML."""
