"""Shared test helpers: a tiny model, batches of the demo mixture, and in-process gin training."""

import os
import pathlib

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
# The real data files live beside the checkout (../shared/data); FLANX_SHARED_DATA points elsewhere.
SHARED_DATA = pathlib.Path(os.environ.get("FLANX_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


def tiny_model(**overrides):
  """A 2+2-layer T5 v1.1 on the byte vocabulary (what gin/models/t5_1_1/tiny.gin builds)."""
  import seqio

  from flanx.models import EncoderDecoderModel, T5Config

  config = dict(vocab_size=384, emb_dim=64, num_heads=4, head_dim=16, mlp_dim=128, num_encoder_layers=2,
                num_decoder_layers=2)
  config.update(overrides)
  return EncoderDecoderModel(T5Config(**config), seqio.ByteVocabulary())


DEMO_LENGTHS = {"inputs": 32, "targets": 16}


def demo_batches(num_batches: int, batch_size: int = 8, pack: bool = True, seed: int = 0, lengths=None):
  """Numpy batches of the built-in copy/reverse mixture, as the trainer sees them."""
  import seqio

  import tasks  # noqa: F401
  from flanx import vocab

  vocab.use(seqio.ByteVocabulary())
  ds = seqio.get_dataset("flanx_demo", lengths or DEMO_LENGTHS, feature_converter=seqio.EncDecFeatureConverter(pack=pack),
                         dataset_split="train", shuffle=True, seed=seed, num_epochs=None)
  return list(ds.batch(batch_size, drop_remainder=True).take(num_batches).as_numpy_iterator())


def gin_train(model_dir, *bindings: str, gin_file: str = "runs/demo.gin"):
  """Runs flanx.train in-process from a gin file plus --gin.NAME=VALUE style bindings."""
  import tasks  # noqa: F401
  from flanx import gin_config, train

  gin_config.parse([gin_file], [f"MODEL_DIR = '{model_dir}'", "LOG_PERIOD = 1", "train.peak_flops = 1e12",
                                "train.show_predictions = 0", *bindings])
  return train.configured_train()
