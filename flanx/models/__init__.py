"""Model families. Each exposes the same trainer-facing interface as EncoderDecoderModel."""

from flanx.models.decoder_only import DecoderOnlyModel
from flanx.models.encoder_decoder import EncoderDecoderModel
from flanx.models.palm import PaLMConfig
from flanx.models.t5 import T5Config, Transformer

__all__ = ["DecoderOnlyModel", "EncoderDecoderModel", "PaLMConfig", "T5Config", "Transformer"]
