"""Hugging Face interop: read and write `transformers` T5 checkpoints (flanx convert from-hf / to-hf)."""
