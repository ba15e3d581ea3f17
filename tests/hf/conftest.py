"""Random small transformers T5 checkpoints, built locally (nothing is downloaded)."""

import json
import pathlib
import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
safetensors_torch = pytest.importorskip("safetensors.torch")

VOCAB = 100


def make_hf_dir(directory: pathlib.Path, seed: int = 0, untied: bool = True, **overrides) -> pathlib.Path:
  """Writes config.json + model.safetensors of a random T5 v1.1 (gated-GELU) with `overrides`.

  Every tensor is random, layer norms included, so a transposed or swapped tensor cannot go unnoticed;
  with `untied` the LM head differs from the embedding, as in Flan-T5.
  """
  config = dict(vocab_size=VOCAB, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_decoder_layers=3, num_heads=4,
                feed_forward_proj="gated-gelu", relative_attention_num_buckets=32,
                relative_attention_max_distance=128, dropout_rate=0.0, tie_word_embeddings=not untied)
  config.update(overrides)
  torch.manual_seed(seed)
  model = transformers.T5ForConditionalGeneration(transformers.T5Config(**config))
  generator = torch.Generator().manual_seed(seed)
  state = {}
  for name, tensor in model.state_dict().items():
    if (name in ("encoder.embed_tokens.weight", "decoder.embed_tokens.weight")
        or (name == "lm_head.weight" and not untied)):
      continue  # tied to shared.weight
    fan_in = tensor.shape[-1] if tensor.ndim == 2 else 1
    noise = torch.randn(tensor.shape, generator=generator)
    scale = 1.0 if name == "shared.weight" else 1 / np.sqrt(fan_in)  # embeddings are unit normal, as in T5
    state[name] = 1.0 + 0.2 * noise if tensor.ndim == 1 else noise * scale
  if untied:
    state["lm_head.weight"] = torch.randn((config["vocab_size"], config["d_model"]), generator=generator)
  directory.mkdir(parents=True, exist_ok=True)
  safetensors_torch.save_file({k: v.contiguous() for k, v in state.items()}, str(directory / "model.safetensors"),
                              metadata={"format": "pt"})
  hf_config = {**config, "model_type": "t5", "architectures": ["T5ForConditionalGeneration"],
               "decoder_start_token_id": 0, "pad_token_id": 0, "eos_token_id": 1}
  (directory / "config.json").write_text(json.dumps(hf_config))
  return directory


def load_reference(directory: pathlib.Path):
  model = transformers.T5ForConditionalGeneration.from_pretrained(str(directory), dtype=torch.float32)
  return model.eval()


@pytest.fixture(scope="session")
def template_hf_dir(tmp_path_factory):
  return make_hf_dir(tmp_path_factory.mktemp("template") / "hf")


@pytest.fixture
def hf_dir(template_hf_dir, tmp_path):
  """A fresh copy of the default random checkpoint (2+3 layers, gated-GELU, untied head), free to edit."""
  return pathlib.Path(shutil.copytree(template_hf_dir, tmp_path / "hf"))
