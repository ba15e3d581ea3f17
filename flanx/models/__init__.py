"""Model families. Each implements the one model interface, flanx.models.interface.Model."""

from flanx.models.decoder_only import DecoderOnlyModel
from flanx.models.encoder_decoder import EncoderDecoderModel
from flanx.models.interface import LanguageModel, Model
from flanx.models.palm import PaLMConfig
from flanx.models.t5 import T5Config, Transformer

__all__ = ["DecoderOnlyModel", "EncoderDecoderModel", "LanguageModel", "Model", "PaLMConfig", "T5Config", "Transformer"]
