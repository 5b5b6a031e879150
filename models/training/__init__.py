"""What the training job (models/train.py) runs on: its config, the stages a candidate
trains in and the choice between candidates, distribution strategies and their local
test rig, restoring and warm-starting a run, and fit's progress lines."""
