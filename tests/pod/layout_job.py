"""One process of tests/pod/test_data_layout.py's jobs: trains the tiny model a few steps on each mesh, from seqio
and from a data cache, through flanx.input.pipeline.Input, and writes what it saw as JSON (process 0).

  python -m tests.pod.layout_job OUT CACHE_DIR [RESUME_FROM] [--coordinator_address=... --num_processes=N
                                                               --process_id=I]

For each mesh and source: the losses of STEPS steps from the same initial state, a fingerprint of every global
batch, and the saved position after RESUME_AT steps; with RESUME_FROM (another job's output), also the
fingerprint of the first batch of a fresh Input started at the position that job saved.
"""

import functools
import json
import sys
import time

STEPS, RESUME_AT = 2, 1
BATCH_SIZE = 8
LENGTHS = {"inputs": 16, "targets": 8}
# (name, (replica, data, model), interleave): interleaving the processes' devices makes every model group
# span processes, so processes share data shards with the model axis across them.
MESHES = (("data=1,model=8", (1, 1, 8), False), ("data=2,model=4", (1, 2, 4), True),
          ("data=4,model=2", (1, 4, 2), False))


def _devices(interleave: bool):
  import jax
  devices = sorted(jax.devices(), key=lambda d: d.id)
  if not interleave or jax.process_count() == 1:
    return devices
  by_process = [[d for d in devices if d.process_index == p] for p in range(jax.process_count())]
  return [d for group in zip(*by_process) for d in group]


@functools.cache
def _digest():
  """One jitted digest for the whole job: it compiles once per mesh, not once per batch."""
  import jax
  import jax.numpy as jnp

  @jax.jit
  def digest(b):
    return sum(jnp.sum(v.astype(jnp.float32) * (1.0 + jnp.arange(v.size, dtype=jnp.float32).reshape(v.shape) % 97))
               for v in jax.tree.leaves(b))
  return digest


def _fingerprint(batch) -> float:
  """One number per batch that changes with any token, row order included (computed on the mesh)."""
  return float(_digest()(batch))


def _placed(host_state, shardings):
  """The same initial state on another mesh, from host copies: no init program compiled per mesh."""
  import jax
  return jax.tree.map(lambda h, s: jax.make_array_from_callback(h.shape, s, lambda index: h[index]), host_state,
                      shardings)


def main(argv) -> int:
  from flanx import distributed
  processes, rest = distributed.split_args(argv)
  distributed.initialize(processes)
  import jax
  import numpy as np
  import seqio

  from flanx import data_dir, partitioning
  from flanx.input import pipeline
  from flanx.input.config import DatasetConfig
  from flanx.optimizer import OptimizerConfig
  from flanx.trainer import Trainer
  from tests.helpers import tiny_model

  out, cache_dir = rest[0], rest[1]
  resume_from = json.loads(open(rest[2]).read())["results"] if len(rest) > 2 else None
  data_dir.install(data_dir.DataContext(None).with_vocabulary(seqio.ByteVocabulary()))
  model = tiny_model(emb_dim=32, num_heads=8, head_dim=4, mlp_dim=64, num_encoder_layers=1, num_decoder_layers=1)
  results, start, host_state = {}, time.perf_counter(), None
  for name, shape, interleave in MESHES:
    partition = partitioning.PartitionConfig(mesh_shape=shape, rules="data_parallel")  # few collectives: quick on gloo
    partitioner = partitioning.Partitioner(partition, _devices(interleave))
    trainer = Trainer(model, OptimizerConfig(learning_rate=1e-2, min_dim_size_to_factor=16), partitioner, LENGTHS)
    # Initialised once (one compile), then placed afresh for every mesh and source (train_step donates it). Under
    # the data_parallel rules every array is replicated, so each process holds all of it.
    if host_state is None:
      host_state = jax.tree.map(lambda x: np.asarray(x.addressable_data(0)), trainer.init_state(jax.random.key(0)))
    for source in ("seqio", "cache"):
      config = DatasetConfig("flanx_demo", LENGTHS, BATCH_SIZE, cache_dir=cache_dir if source == "cache" else None)
      inputs = pipeline.Input(config, partitioner.mesh, model).start()
      state = _placed(host_state, trainer.state_shardings)
      losses, prints, position = [], [], None
      for step in range(1, STEPS + 1):
        batch = next(inputs)
        prints.append(_fingerprint(batch))
        state, metrics = trainer.train_step(state, batch, jax.random.key(1))
        losses.append(float(metrics["loss"]))
        if step == RESUME_AT:
          position = inputs.position()
      inputs.close()
      key = f"{name} {source}"
      results[key] = {"losses": losses, "fingerprints": prints, "position": position,
                      "shared_shards": sum(len(p) > 1 for p in inputs.layout.shard_processes)}
      if resume_from:  # a fresh input at the position another job saved
        resumed = pipeline.Input(config, partitioner.mesh, model).start(resume_from[key]["position"], RESUME_AT)
        results[key]["resumed"] = _fingerprint(next(resumed))
        resumed.close()
      print(f"layout_job: {key} done at {time.perf_counter() - start:.1f} s", flush=True)
  if jax.process_index() == 0:
    with open(out, "w") as f:
      json.dump({"processes": jax.process_count(), "results": results}, f)
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv[1:]))
