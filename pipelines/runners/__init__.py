"""Beam runners of our own, for any Beam job (they know nothing of the join):
`--runner=pipelines.runners.<module>.<Runner>`."""
