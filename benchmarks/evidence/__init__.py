r"""`make evidence`: model quality over seeds on the default world, against its ceilings.

Per task (TASKS), trains each variant once per seed on the default simulated world and
merges flat figures into benchmarks/evidence.json, e.g. quality.ctr.pfd_gain_mean (a
variant's student AUC minus the baseline student's, paired by seed) and _std,
quality.<task>.<variant>.<head>_<metric>_mean/_std, the Bayes-optimal ceilings and the
fraction of the baseline's gap to its ceiling that a step closes. EVIDENCE.md and one
plot per task (evidence-<task>.svg) are then rendered from the merged figures, so a
run of one task keeps the other's section.

* cvr: the baseline student, PFD (lambda 0.5), the teacher alone and LUPI (a teacher
  that sees post-event features only), all MLPs.
* ctr: the two-tower student alone, plain PFD (a two-tower teacher with the cross
  features and position on its user side) and PFD+MD (a DCN teacher over all
  features).

    python -m benchmarks.evidence [--data_dir=workspace/examples \
      --raw_dir=workspace/raw] [--seeds=0,1,2] [--tasks=cvr,ctr]

Without an existing dataset it generates the default world and joins it first.

The package, by job: `registry` (what runs: TASKS), `runner` (the job), `figures`
(runs -> flat figures), `readout` and `findings` (figures -> verdicts and prose), and
`report` (EVIDENCE.md and the plots, from evidence.json alone).
"""
