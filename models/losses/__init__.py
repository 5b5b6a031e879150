"""Per-example losses of the teacher and student heads; the distillation weight schedule.

Every loss returns one loss per example, shape `[batch_size]`, never a mean: the task
(`models.tasks`) reduces with `tf.nn.compute_average_loss` over the global batch, so
that under `MirroredStrategy` each replica's gradient is its share of the global mean
and the summed update equals the single-device one (a per-replica mean would be
scaled by the number of replicas).

The student of PFD (Xu et al., KDD 2020, eq. 3) minimises

  (1 - lambda) * binary_cross_entropy(y, student) + lambda * L_d(teacher, student)

with `L_d` one of `DISTILLATION_LOSSES` (`registry`), each taking a
`DistillationInputs`, and `lambda` from a `LambdaSchedule` (`schedule`). The pointwise
losses are in `pointwise`; those of `REQUEST_LOSSES`, which rank the impressions of one
request against each other, in `ranking`. Importing this package registers them all;
its names are the public ones.
"""

# Imported for their registration too: every loss is registered once this package is.
from models.losses import ranking
from models.losses.pointwise import (base_rate_cross_entropy, binary_cross_entropy,
                                     hint_squared_error)
from models.losses.registry import (DEFAULT_TOP_K, DISTILLATION_LOSSES, REQUEST_LOSSES,
                                    DistillationInputs, DistillationLoss,
                                    get_distillation_loss, register_distillation_loss)
from models.losses.schedule import LambdaSchedule
