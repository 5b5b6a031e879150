"""The workflow tests' world: three churning days, a tiny PFD model, one epoch."""

import dataclasses

from models import train
from simulation import preset

WORLD = dataclasses.replace(preset("daily"), n_days=3, num_impressions=2_400,
                            n_users=120, n_items=150, n_categories=10, n_shops=30,
                            n_brands=15)
DATES = ("2026-01-05", "2026-01-06", "2026-01-07")
MODEL = dict(mode="pfd", embedding_dim=4, student_hidden=(8,), teacher_hidden=(8,))
TRAIN = train.TrainConfig(batch_size=64, epochs=1, seed=0)
