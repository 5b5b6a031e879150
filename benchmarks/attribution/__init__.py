r"""How much of a PFD gain is privileged information: PFD beside its controls.

Per study (a world and a task), every arm trains once per seed under models.compare's
tuned protocol (each arm's learning rate chosen on validation, early stopping checked
several times a pass), and the figures `quality.<world>.<task>.*` go into
benchmarks/evidence.json, which EVIDENCE.md is rendered from:

* `<arm>_gain_mean/_std` and `<arm>_delong_p_max`: an arm's student AUC minus the
  student alone's, paired by seed, and DeLong's p on the same eval examples;
* `control.<name>_gain_*`: the same for the controls, each a gain without the
  privileged information (MD: a teacher on the regular features; smooth: softer
  targets, no teacher; pfd_permuted: the privileged features cut from their
  examples);
* `privileged_share_mean/_std/_p_max`: PFD's gain minus the largest control's (by
  mean), seed by seed, and DeLong's p of PFD against that control;
* `remedy.<name>_*`: the literature's remedies, scored like PFD (their share is over
  the same controls);
* `diagnostic.*`: why a share is or is not there (`diagnostics`).

    python -m benchmarks.attribution --studies=kuairand.like,kuairand.ctr \
      [--seeds=0,1,2] [--kuairand_dir=workspace/kuairand/examples]

The package, by job: `studies` (what runs: STUDIES), `runner` (the job), `figures`
(runs -> figures and diagnostics), `report` (EVIDENCE.md's sections and plots).
"""
