"""Installs the PFD packages; also what Beam ships to remote workers (--setup_file)."""

import setuptools

# Direct dependencies, pinned to the versions the project is tested with. The full
# transitive closure is locked in requirements.lock (what `make` installs).
REQUIRED = [
    "absl-py==2.5.1",
    "apache-beam==2.77.0",
    "google-crc32c==1.9.0",  # Beam's WriteToTFRecord needs a crc32c at run time.
    "matplotlib==3.11.2",  # make evidence's plots.
    "numpy>=2.0,<3",
    "protobuf>=6.31.1,<7",  # The range both TF 2.21 and Beam 2.77 accept.
    "pyarrow==25.0.1",  # examples.kuairand reads KuaiRand's Parquet and CSV files.
    "PyYAML==6.0.3",  # The feature spec file.
    # Writes YAML with comments: the proposed spec, a comment above each entry.
    "ruamel.yaml==0.19.1",
    "tensorflow==2.21.0",
    "tensorflow-datasets==4.9.10",
    "tensorflow-metadata==1.21.0",
    "tensorflow-recommenders==0.7.7",
    "tensorflow-serving-api==2.21.0",  # Warm-up PredictionLogs and the gRPC client.
    "tensorboard==2.21.0",  # TF 2.21 no longer pulls it in; Keras' callback needs it.
    "tf-keras==2.21.0",
    "zstandard==0.25.0",  # The join reads .zst logs to their end (features/log_files).
]
# The join job on a dask.distributed cluster (pipelines.runners.dask_runner); the versions
# apache-beam[dask]==2.77.0 resolves to.
DASK = ["dask==2026.8.0", "distributed==2026.8.0"]
TEST = [
    "pytest==9.2.0",
    "psutil==7.2.2",
    "import-linter==2.17",  # make test checks the layer contract (.importlinter).
    *DASK,
]

setuptools.setup(
    name="pfd",
    version="0.1.0",
    description="Privileged Features Distillation: Beam data path, teacher/student "
    "training and student-only serving on TensorFlow.",
    python_requires=">=3.10",
    py_modules=["legacy_keras", "config_flags", "cli", "roc"],
    packages=setuptools.find_packages(
        include=["pipelines*", "features*", "models*", "export*", "simulation*",
                 "examples*", "workflow*"]),
    package_data={"features": ["*.json", "*.yaml"], "examples.kuairand": ["*.yaml"]},
    install_requires=REQUIRED,
    extras_require={"dask": DASK, "test": TEST},
)
