"""The Hugging Face side of `flanx bench train|decode --against hf`, timed in the same process as flanx.

The torch model is a `T5ForConditionalGeneration` built from flanx's own config via the HF conversion table
(flanx.hf.t5_mapping), so both sides have the same shapes and, where weights are given, the same weights.
Dropout is 0 on both sides. torch is only ever the pinned `flanx[hf]` extra.
"""

import time
from collections.abc import Callable, Mapping

import numpy as np

from flanx.errors import FlanxError
from flanx.hf import t5_mapping
from flanx.models.t5 import T5Config


def require_torch():
  """(torch, transformers), or one line saying how to install them."""
  try:
    import torch
    import transformers
  except ImportError as e:
    raise FlanxError(f"--against hf needs torch and transformers ({e.name} is missing): "
                     "pip install -e '.[hf]'") from e
  return torch, transformers


def hf_model(config: T5Config, params: Mapping | None = None):
  """A float32 T5ForConditionalGeneration with `config`'s shapes and dropout 0; with `params` (a flanx param
  tree, scanned or not), their weights converted through the same table as `flanx convert to-hf`."""
  torch, transformers = require_torch()
  hf_config = {**t5_mapping.config_to_hf(config), "dropout_rate": 0.0}
  hf_config.pop("architectures")
  torch.manual_seed(0)
  model = transformers.T5ForConditionalGeneration(transformers.T5Config(**hf_config)).float()
  # transformers 5 builds T5 with the LM head tied to the embedding and unties only while loading a file
  # that holds both; v1.1 (and flanx) has a separate head, so give it its own tensor before loading.
  model.lm_head.weight = torch.nn.Parameter(model.lm_head.weight.detach().clone())
  if params is not None:
    state = {k: torch.from_numpy(v.copy()) for k, v in t5_mapping.hf_tensors(config, params).items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    # transformers keeps tied copies of shared.weight under these names; everything else must be filled.
    untied = [k for k in missing if k not in ("encoder.embed_tokens.weight", "decoder.embed_tokens.weight")]
    if untied or unexpected:
      raise FlanxError(f"converted weights do not fit T5ForConditionalGeneration: missing {untied[:3]}, "
                       f"unexpected {unexpected[:3]}")
  return model


def train_step(model, batch: Mapping[str, np.ndarray], learning_rate: float = 5e-4) -> Callable[[], float]:
  """One training step (forward, backward, Adafactor update) per call, returning the loss; built warm.

  Adafactor from transformers.optimization with a constant learning rate, factored second moments and
  update clipping at 1.0, the settings flanx's OptimizerConfig defaults to. One untimed step runs here:
  allocator and optimizer-state creation are not throughput.
  """
  torch, transformers = require_torch()
  optimizer = transformers.optimization.Adafactor(model.parameters(), lr=learning_rate, relative_step=False,
                                                  scale_parameter=True, warmup_init=False, clip_threshold=1.0)
  model.train()
  inputs = {
      "input_ids": torch.from_numpy(batch["encoder_input_tokens"]).long(),
      "attention_mask": torch.from_numpy(batch["encoder_input_tokens"] > 0).long(),
      "decoder_input_ids": torch.from_numpy(batch["decoder_input_tokens"]).long(),
      "labels": torch.from_numpy(batch["decoder_target_tokens"]).long(),
  }

  def step() -> float:
    loss = model(**inputs).loss
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return float(loss.detach())

  step()
  return step


def train_step_seconds(model, batch: Mapping[str, np.ndarray], steps: int, learning_rate: float = 5e-4) -> float:
  """Seconds per training step (see `train_step`), averaged over `steps` after the warm-up step."""
  step = train_step(model, batch, learning_rate)
  start = time.perf_counter()
  for _ in range(steps):
    step()
  return (time.perf_counter() - start) / steps


def greedy(model, inputs: np.ndarray, new_tokens: int) -> np.ndarray:
  """`generate` with greedy search and its KV cache; no id ends a row, so every row decodes `new_tokens`."""
  torch, _ = require_torch()
  model.eval()
  ids = torch.tensor(np.asarray(inputs), dtype=torch.long)
  with torch.inference_mode():
    out = model.generate(input_ids=ids, attention_mask=(ids > 0).long(), max_new_tokens=new_tokens,
                         min_new_tokens=new_tokens, do_sample=False, num_beams=1, use_cache=True,
                         eos_token_id=None, pad_token_id=0, decoder_start_token_id=0)
  return out[:, 1:].numpy()  # drop the decoder start token


def greedy_seconds(model, inputs: np.ndarray, new_tokens: int, repeats: int) -> float:
  greedy(model, inputs, new_tokens)  # warm-up
  start = time.perf_counter()
  for _ in range(repeats):
    greedy(model, inputs, new_tokens)
  return (time.perf_counter() - start) / repeats


def torch_threads() -> int:
  torch, _ = require_torch()
  return torch.get_num_threads()
