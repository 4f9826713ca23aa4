"""rembert-mtf: RemBERT (Chung et al., ICLR 2021) in Mesh TensorFlow.

Install with the lock file so every machine resolves the same versions:
  pip install -c constraints.txt -e '.[test]'
The top-level folders `tasks/` and `gin/` install as `rembert_mtf.tasks` and
`rembert_mtf.gin`, so no generic `tasks` module lands in site-packages.
"""

import sys

import setuptools

if sys.version_info[:2] != (3, 11):
  sys.exit("rembert-mtf needs Python 3.11 (TensorFlow 2.15 has wheels for "
           "3.9-3.11 only; the lock file is for 3.11). Found "
           + sys.version.split()[0] + ".")

setuptools.setup(
    name="rembert-mtf",
    version="0.1.0",
    description="RemBERT (decoupled embeddings) in Mesh TensorFlow",
    python_requires="==3.11.*",
    packages=(["rembert_mtf", "rembert_mtf.tasks", "rembert_mtf.gin"] +
              ["rembert_mtf." + p for p in setuptools.find_packages(
                  "rembert_mtf")]),
    package_dir={
        "rembert_mtf": "rembert_mtf",
        "rembert_mtf.tasks": "tasks",
        "rembert_mtf.gin": "gin",
    },
    package_data={"rembert_mtf.gin": ["*.gin", "*/*.gin", "*/*/*.gin"]},
    include_package_data=True,
    install_requires=[
        "tensorflow==2.15.1",
        "tensorflow-text==2.15.0",
        "mesh-tensorflow[transformer]==0.1.21",
        "t5==0.9.4",
        "seqio-nightly==0.0.18.dev20250227",
        "tfds-nightly==4.9.2.dev202308090034",
        "tensorflow-datasets==4.9.10",
        "tensorflow-metadata==1.14.0",
        "protobuf==3.20.3",
        "sentencepiece==0.2.0",
        "gin-config==0.5.0",
        "numpy==1.26.4",
        # tensorflow_hub (via tensorflow-text) imports pkg_resources, gone in
        # setuptools 81; torch 2.13 wants >= 77.
        "setuptools>=77,<81",
        "matplotlib",
        "safetensors",
        "seqeval==1.2.2",
        # `rembert-mtf cache` (seqio's Beam caching). From 2.65 Beam vendors
        # cloudpickle (<= 2.64 want ~=2.2.1, joblib 1.6 wants >= 3); 2.65-2.76
        # cap grpcio or cryptography below the lock file's; 2.77 only needs
        # pillow < 13, pyarrow < 26 and python-dateutil < 3 (lock file), and
        # allows protobuf 3.20.3.
        "apache-beam==2.77.0",
    ],
    extras_require={
        "test": ["torch==2.13.0", "transformers==5.24.0", "pytest"],
    },
    entry_points={"console_scripts": ["rembert-mtf=rembert_mtf.cli.main:run"]},
)
