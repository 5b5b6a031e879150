"""KuaiRand (Gao et al., CIKM 2022; CC BY-SA 4.0) as raw logs: `convert` writes them,
`spec.yaml` declares the features and tasks (WORKSPACE.md, "KuaiRand (real logs)")."""
