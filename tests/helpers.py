"""Shared test helpers: a tiny model, batches of the demo mixture, in-process gin training, a job of two
local processes, and a small disk of its own (a tmpfs)."""

import contextlib
import os
import pathlib
import socket
import subprocess
import sys

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

  import tasks  # noqa: F401  registers the flanx_demo mixture
  from flanx import vocab

  vocab.use(seqio.ByteVocabulary())
  ds = seqio.get_dataset("flanx_demo", lengths or DEMO_LENGTHS,
                         feature_converter=seqio.EncDecFeatureConverter(pack=pack), dataset_split="train",
                         shuffle=True, seed=seed, num_epochs=None)
  return list(ds.batch(batch_size, drop_remainder=True).take(num_batches).as_numpy_iterator())


def trainer_on(mesh_shape, rules="model_parallel", num_microbatches: int = 1, model=None):
  """A Trainer of the tiny model over the first prod(mesh_shape) devices (Adafactor at 1e-2, factored from 16)."""
  import jax
  import numpy as np

  from flanx import partitioning
  from flanx.optimizer import OptimizerConfig
  from flanx.trainer import Trainer

  devices = jax.devices()[:int(np.prod(mesh_shape))]
  partitioner = partitioning.Partitioner(partitioning.PartitionConfig(mesh_shape=mesh_shape, rules=rules), devices)
  optimizer = OptimizerConfig(learning_rate=1e-2, min_dim_size_to_factor=16)
  return Trainer(model or tiny_model(), optimizer, partitioner, DEMO_LENGTHS, num_microbatches)


def train_losses(trainer, batches):
  """(losses, final state) of one train step per batch from a fresh state, each batch sharded over the mesh."""
  import jax

  from flanx import partitioning

  state = trainer.init_state(jax.random.key(0))
  losses = []
  for batch in batches:
    global_batch = {k: jax.device_put(v, partitioning.batch_sharding(trainer.mesh)) for k, v in batch.items()}
    state, metrics = trainer.train_step(state, global_batch, jax.random.key(1))
    losses.append(float(metrics["loss"]))
  return losses, state


def gin_train(model_dir, *bindings: str, gin_file: str = "runs/demo.gin"):
  """Runs flanx.train in-process from a gin file plus --gin.NAME=VALUE style bindings."""
  import tasks  # noqa: F401  registers the mixtures the gin files name
  from flanx import gin_config, train

  gin_config.parse([gin_file], [f"MODEL_DIR = '{model_dir}'", "LOG_PERIOD = 1", "train.peak_flops = 1e12",
                                "train.show_predictions = 0", *bindings])
  return train.configured_train()


def free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def two_process_job(module: str, args_of, data_dir: pathlib.Path, timeout: int = 300, processes: int = 2,
                    devices: int = 4) -> list[str]:
  """Runs `python -m <module>` as processes 0 .. processes-1 of one job (`devices` CPU devices each, gloo, a free
  port; one process: no job flags); args_of(i) gives process i's arguments. Returns the outputs once all exited 0."""
  port = free_port()
  env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}", TF_CPP_MIN_LOG_LEVEL="3",
             JAX_PLATFORMS="cpu", FLANX_DATA_DIR=str(data_dir))
  job = (lambda i: [f"--coordinator_address=127.0.0.1:{port}", f"--num_processes={processes}", f"--process_id={i}"]
         ) if processes > 1 else (lambda i: [])
  procs = [subprocess.Popen([sys.executable, "-m", module, *args_of(i), *job(i)],
                            cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
           for i in range(processes)]
  outputs = []
  try:
    for p in procs:
      outputs.append(p.communicate(timeout=timeout)[0])
  finally:
    for p in procs:
      p.kill()
  for i, (p, out) in enumerate(zip(procs, outputs)):
    assert p.returncode == 0, f"process {i} failed:\n{out[-3000:]}"
  return outputs


@contextlib.contextmanager
def tmpfs(path: pathlib.Path, size: str):
  """A tmpfs of `size` ('8k', '1m') mounted at `path` (made if missing) while the block runs: a disk that fills or
  turns read-only (`mount -o remount,ro`) for real. Mounting needs root: the test is skipped without it."""
  import pytest
  path.mkdir(parents=True, exist_ok=True)
  done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
  if done.returncode != 0:
    pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip() or done.returncode})")
  try:
    yield path
  finally:
    subprocess.run(["umount", "-l", str(path)], check=False)
