"""Worked examples on public data: each turns a dataset's own files into the raw logs
of LOG_CONTRACT.md, so the join, training and export run on them unchanged."""
