"""The data layout comes from the mesh (flanx/input/layout.py): real processes read the rows one process would.

One job of 2 processes x 4 CPU devices (gloo) and one process of 8 devices (the test's own) run
tests/pod/layout_job.py over the meshes data=1 x model=8 (one data shard, read by both processes), data=2 x model=4
with every model group across both processes, and data=4 x model=2 (each process its own two shards), from seqio and
from a data cache.
"""

import json

import jax
import numpy as np
import pytest

from flanx.input import data_cache, layout
from flanx.errors import FlanxError
from tests.helpers import REPO_ROOT, two_process_job
from tests.pod import layout_job

# mesh -> (data shards, shards read by both processes)
SHARDS = {"data=1,model=8": (1, 1), "data=2,model=4": (2, 2), "data=4,model=2": (4, 0)}


def _demo_cache(out):
  import seqio

  from flanx import data_dir
  data_dir.install(data_dir.DataContext(None).with_vocabulary(seqio.ByteVocabulary()))
  try:
    data_cache.write("flanx_demo", out, 400, shard_examples=150)
  finally:
    data_dir.install(None)


def test_processes_sharing_a_data_shard_read_one_processs_rows_and_resume_on_another_host_count(tmp_path):
  cache = tmp_path / "cache"
  _demo_cache(cache)
  fixtures = REPO_ROOT / "tasks" / "evals" / "fixtures"
  two_process_job("tests.pod.layout_job", lambda i: [str(tmp_path / "two.json"), str(cache)], fixtures, timeout=480)
  two = json.loads((tmp_path / "two.json").read_text())
  # One process holding all 8 devices (this one: no second start-up), resuming from the positions the two-process
  # job saved.
  assert len(jax.devices()) == 8 and jax.process_count() == 1
  assert layout_job.main([str(tmp_path / "one.json"), str(cache), str(tmp_path / "two.json")]) == 0
  one = json.loads((tmp_path / "one.json").read_text())
  assert (two["processes"], one["processes"]) == (2, 1)
  assert len(two["results"]) == len(layout_job.MESHES) * 2
  for key, multi in two["results"].items():
    single = one["results"][key]
    mesh = key.split()[0]
    num_shards, shared = SHARDS[mesh]
    assert multi["shared_shards"] == shared, key
    # Same rows, in the same order, on the mesh: the same batches and the same losses as one process.
    np.testing.assert_allclose(multi["fingerprints"], single["fingerprints"], rtol=1e-6, err_msg=key)
    np.testing.assert_allclose(multi["losses"], single["losses"], rtol=1e-5, err_msg=key)
    assert len(set(multi["fingerprints"])) == layout_job.STEPS, key  # the batches really differ step to step
    # One host resumes from the position two hosts saved, with their next batch.
    assert single["resumed"] == pytest.approx(multi["fingerprints"][layout_job.RESUME_AT], rel=1e-6), key
    readers = multi["position"].get("readers")  # keyed by data shard, every shard's, from whichever process read it
    assert readers is None if key.endswith("seqio") else list(readers) == [str(s) for s in range(num_shards)], key


def test_a_layout_says_which_hosts_read_which_shard():
  # 62B's earlier layout, 16 x 8 on a v4-256 (32 hosts of 4 chips): each model group of 8 spans two hosts.
  palm62 = layout.simulated({"replica": 1, "data": 16, "model": 8}, 4, 32)
  assert (palm62.num_processes, palm62.num_shards, palm62.rows_per_shard) == (32, 16, 2)
  assert palm62.shard_processes[3] == (6, 7) and palm62.shards_of(7) == (3,)
  assert "16 shard(s) are read by 2 hosts each" in "\n".join(palm62.describe())
  # Four hosts of 2 devices, data=4 x model=2: each host its own shard; data=2: two hosts per shard.
  assert layout.simulated({"replica": 1, "data": 4, "model": 2}, 2, 8).shard_processes == ((0,), (1,), (2,), (3,))
  assert layout.simulated({"replica": 2, "data": 1, "model": 4}, 2, 8).shard_processes == ((0, 1), (2, 3))
  one_host = layout.simulated({"replica": 1, "data": 4, "model": 2}, 8, 8)
  assert one_host.shards_of(0) == (0, 1, 2, 3) and "no two hosts share" in one_host.describe()[1]


@pytest.mark.parametrize("batch, microbatches, message", [
    (6, 1, r"BATCH_SIZE=6 is not divisible by the 4 data shards \(replica x data of the mesh replica=1, data=4, "
           r"model=2\)"),
    (8, 4, r"BATCH_SIZE=8 is not divisible by NUM_MICROBATCHES=4 x the 4 data shards"),
])
def test_a_batch_that_does_not_split_is_one_line(batch, microbatches, message):
  with pytest.raises(FlanxError, match=message):
    layout.simulated({"replica": 1, "data": 4, "model": 2}, 2, batch, microbatches)


def test_plan_prints_the_host_layout_of_the_paper_pod_runs(capsys):
  from flanx import cli
  # flan_palm_540b.gin: batch 32 on a v4-1024 (512 chips, 128 hosts of 4), mesh 32 x 16: one row per data shard,
  # every shard read by the 4 hosts its model group of 16 spans.
  assert cli.main(["plan", "--gin_file=runs/flan_palm_540b.gin"]) == 0
  out = capsys.readouterr().out
  assert ("data layout: 128 host(s), 32 data shard(s) (replica x data) of 1 row(s) each; "
          "each host reads 1 shard(s)") in out
  assert "32 shard(s) are read by 4 hosts each (the model axis spans hosts), identically: shard 0: hosts 0-3;" in out
  # flan_palm_62b.gin: 32 x 4 on a v4-256: each model group of 4 is one host, which reads its own shard.
  assert cli.main(["plan", "--gin_file=runs/flan_palm_62b.gin"]) == 0
  out = capsys.readouterr().out
  assert "32 host(s), 32 data shard(s) (replica x data) of 1 row(s) each" in out and "no two hosts share" in out


def test_plan_refuses_the_batch_train_refuses(capsys):
  from flanx import cli
  assert cli.main(["plan", "--gin_file=runs/flan_palm_540b.gin", "--gin.BATCH_SIZE=48"]) == 2
  err = capsys.readouterr().err.strip()
  assert err == ("flanx plan: error: BATCH_SIZE=48 is not divisible by the 32 data shards (replica x data of the mesh "
                 "replica=1, data=32, model=16)"), err


@pytest.mark.parametrize("binding, message", [
    ("BATCH_SIZE = 6", r"BATCH_SIZE=6 is not divisible by the 8 data shards \(replica x data of the mesh replica=1, "
                       r"data=8, model=1\)"),
    ("NUM_PARTITIONS = 3", r"^NUM_PARTITIONS=3 does not divide the 8 available devices$"),
])
def test_train_refuses_a_layout_before_restoring_or_compiling_anything(tmp_path, monkeypatch, binding, message):
  from flanx import checkpoints, trainer
  from tests.helpers import gin_train

  def too_late(*args, **kwargs):
    raise AssertionError("the layout check came after a restore or a compile")
  monkeypatch.setattr(checkpoints.Checkpointer, "restore_latest", too_late)
  monkeypatch.setattr(trainer.Trainer, "__init__", too_late)
  with pytest.raises(FlanxError, match=message):
    gin_train(tmp_path, binding, "TRAIN_STEPS = 1")


def test_evaluation_batches_are_whole_global_batches_of_the_split():
  import seqio

  from flanx import data_dir, partitioning
  from flanx.input import pipeline
  from flanx.input.config import DatasetConfig
  from tests.helpers import tiny_model

  data_dir.install(data_dir.DataContext(None).with_vocabulary(seqio.ByteVocabulary()))
  mesh = partitioning.Partitioner(partitioning.PartitionConfig(mesh_shape=(2, 1)), jax.devices()[:2]).mesh
  config = DatasetConfig("flanx_demo", {"inputs": 16, "targets": 8}, 4, split="validation", shuffle=False,
                         num_epochs=1)
  batches = list(pipeline.evaluation_batches(config, mesh, tiny_model(), 3))
  assert len(batches) == 3
  first = batches[0]["decoder_target_tokens"]
  assert first.shape == (4, 8) and first.sharding.spec == partitioning.batch_sharding(mesh).spec
  # Rows 0-1 are shard 0's, rows 2-3 shard 1's: two different slices of the split.
  rows = jax.device_get(first)
  assert not (rows[:2] == rows[2:]).all()
