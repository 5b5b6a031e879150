r"""Day after day: which daily model wins the next day, and at what cost.

Per world (WORLDS: the simulator's churn world, KuaiRand's days), each day is joined
once on the day before's state (workflow.daily's join) and shared by every arm and
seed; each arm then makes a model every day, tested on the next day's examples (the
paper's protocol, workflow.train_view):

* pfd_warm: the daily PFD model, warm-started from the day before's, on the day;
* pfd_window: PFD from scratch on the last --window_days days;
* student_warm: the student alone, warm-started day after day (the baseline).

The figures `quality.daily.<world>.*` go into benchmarks/evidence.json: per arm
`auc_day<i>` (test day i, mean over seeds), `auc_mean`/`_std` over the days every
arm ran, `train_s_day`; per pair `<arm>_over_<reference>_gain_mean/_std` and
`_delong_p_max`. EVIDENCE.md's section and evidence-daily-<world>.svg are rendered
from them.

    python -m benchmarks.daily_evidence [--worlds=churn,kuairand] [--seeds=0,1,2] \
      [--window_days=3] [--work_dir=workspace/daily_evidence]

The package, by job: `worlds` (what runs: WORLDS, ARMS), `runner` (the job),
`figures` (runs -> figures), `report` (EVIDENCE.md's section and the plots).
"""
