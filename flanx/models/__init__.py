"""Model families. Each exposes the same trainer-facing interface as EncoderDecoderModel."""

from flanx.models.encoder_decoder import EncoderDecoderModel
from flanx.models.t5 import T5Config, Transformer

__all__ = ["EncoderDecoderModel", "T5Config", "Transformer"]
