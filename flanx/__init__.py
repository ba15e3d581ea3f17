"""flanx: the Flan recipe (Chung et al. 2022) as SeqIO tasks, a partitioned JAX trainer and an evaluator."""

__version__ = "0.1.0"
