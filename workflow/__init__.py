"""Day-after-day runs: the daily join, warm-started training and gated export."""
