"""What the training job (models/train.py) runs on: distribution strategies and their
local test rig, restoring and warm-starting a run, and fit's progress lines."""
