"""Every bad input a newcomer might give gets one clear line (what was wrong, and where) and leaves nothing
behind. One table per command; add a row for each new mistake found.

Rows run in-process and fail before a model is built, so the file stays fast; only the checks that are about
the entry point itself (start-up imports, --help) start a fresh interpreter.
"""

import ast
import json
import os
import pathlib
import re
import signal
import subprocess
import sys

import pytest

from tests.helpers import REPO_ROOT, gin_train, tmpfs
import flanx.infer
import flanx.train  # noqa: F401  registers its configurables before any test locks gin's registry
from flanx import cli, run_lock
from flanx.errors import FlanxError


def _one_line(capsys, rc: int) -> str:
  """The command's error output: exit status 2 and exactly one 'error:' line, no traceback."""
  err = capsys.readouterr().err
  assert rc == 2, err
  assert "Traceback" not in err, err
  lines = [line for line in err.splitlines() if "error:" in line]
  assert len(lines) == 1, err
  return lines[0]


def _argparse_line(capsys, argv) -> str:
  with pytest.raises(SystemExit) as exit_:
    cli.main(argv)
  return _one_line(capsys, exit_.value.code)


# --- flanx train --------------------------------------------------------------------------------------------

TRAIN_ROWS = [
    # (overrides, message fragment)
    (["--gin.TRAIN_STEPS=0"], "TRAIN_STEPS=0 must be at least 1"),
    (["--gin.TRAIN_STEPS=-5"], "TRAIN_STEPS=-5 must be at least 1"),
    (["--gin.TRAIN_STEPS='100'"], "TRAIN_STEPS='100' must be an integer"),
    (["--gin.BATCH_SIZE=0"], "BATCH_SIZE=0 must be at least 1"),
    (["--gin.BATCH_SIZE=-8"], "BATCH_SIZE=-8 must be at least 1"),
    (["--gin.BATCH_SIZE='32'"], "BATCH_SIZE='32' must be an integer"),
    (["--gin.BATCH_SIZE=8.0"], "BATCH_SIZE=8.0 must be an integer"),
    (["--gin.KEEP_CHECKPOINTS=0"], "KEEP_CHECKPOINTS=0 must be at least 1 (or None)"),
    (["--gin.KEEP_CHECKPOINTS=-1"], "KEEP_CHECKPOINTS=-1 must be at least 1"),
    (["--gin.CHECKPOINT_PERIOD=-1"], "CHECKPOINT_PERIOD=-1 must be at least 0"),
    (["--gin.LOG_PERIOD=-1"], "LOG_PERIOD=-1 must be at least 0"),
    (["--gin.NUM_MICROBATCHES=0"], "NUM_MICROBATCHES=0 must be at least 1"),
    (["--gin.HOST_SYNC_PERIOD=0"], "HOST_SYNC_PERIOD=0 must be at least 1"),
    (["--gin.RESTART_ON_DAMAGED_CHECKPOINTS='yes'"], "RESTART_ON_DAMAGED_CHECKPOINTS='yes' must be True or False"),
    (["--gin.RESTART_ON_DAMAGED_CHECKPOINTS=1"], "RESTART_ON_DAMAGED_CHECKPOINTS=1 must be True or False"),
    (["--gin.MIXTURE_OR_TASK_MODULE=''"], "MIXTURE_OR_TASK_MODULE='' must be a non-empty string"),
    (["--gin.MIXTURE_OR_TASK_MODULE=3"], "MIXTURE_OR_TASK_MODULE=3 must be a non-empty string"),
    (["--gin.MIXTURE_OR_TASK_MODULE='nosuch'"], "MIXTURE_OR_TASK_MODULE='nosuch': no such Python module"),
    (["--gin.MAX_CONSECUTIVE_SKIPS=-1"], "MAX_CONSECUTIVE_SKIPS=-1 must be at least 0"),
    (["--gin.TASK_FEATURE_LENGTHS={'inputs': 32}"], "TASK_FEATURE_LENGTHS={'inputs': 32} has no 'targets' length"),
    (["--gin.TASK_FEATURE_LENGTHS={'inputs': -1, 'targets': 16}"],
     "TASK_FEATURE_LENGTHS['inputs']=-1 must be at least 1"),
    (["--gin.TASK_FEATURE_LENGTHS={'inputs': 32, 'targets': '16'}"],
     "TASK_FEATURE_LENGTHS['targets']='16' must be an integer"),
    (["--gin.TASK_FEATURE_LENGTHS=32"], "TASK_FEATURE_LENGTHS=32 must be a dict"),
    (["--gin.TASK_FEATURE_LENGTHS={'inputs': 32"],
     "--gin.TASK_FEATURE_LENGTHS={'inputs': 32: not a complete Python literal ('{' was never closed)"),
    (["--gin.MIXTURE_OR_TASK_NAME=[flanx_demo]"], "quote the string: --gin.MIXTURE_OR_TASK_NAME=\"['flanx_demo']\""),
    (["--gin.MIXTURE_OR_TASK_NAME=''"], "MIXTURE_OR_TASK_NAME='' must be a non-empty string"),
    (["--gin.MODEL_DIR=runs/x"], "quote the string: --gin.MODEL_DIR=\"'runs/x'\""),
    (["--gin.MIXTURE_OR_TASK_NAME=flanx_demo"], "quote the string"),
    (["--gin.MODEL_DIR="], "--gin.MODEL_DIR= has no value"),
    (["--gin.train.trian_steps=5"], "named 'trian_steps' (did you mean 'train_steps'"),
    (["--gin.T5Config.emb_dimm=8"], "named 'emb_dimm' (did you mean 'emb_dim'"),
    (["--gin.MODLE_DIR='/tmp/x'"], "did you mean 'MODEL_DIR'"),
    (["--gin_file=gin/models"], "--gin_file=gin/models is a directory"),
    (["--gin_file=nope.gin"], "gin file 'nope.gin' not found"),
    (["--bogus"], "unknown argument '--bogus'"),
    (["--gin.DROPOUT_RATE=1.5"], "T5Config.dropout_rate=1.5 (DROPOUT_RATE in the run's gin files) must be in [0, 1)"),
    (["--gin.DROPOUT_RATE=-0.1"], "T5Config.dropout_rate=-0.1"),
    (["--gin.DROPOUT_RATE='0.1'"], "T5Config.dropout_rate='0.1' must be a number"),
    (["--gin.T5Config.num_heads=0"], "T5Config.num_heads=0 must be at least 1"),
    (["--gin.T5Config.emb_dim=8.5"], "T5Config.emb_dim=8.5 must be an integer"),
    (["--gin.T5Config.dtype='int8'"], "T5Config.dtype='int8' is not an activation dtype"),
    (["--gin.ATTENTION_BLOCK_SIZE=-1"],
     "T5Config.attention_block_size=-1 (ATTENTION_BLOCK_SIZE in the run's gin files) must be at least 0"),
    (["--gin.ATTENTION_BLOCK_SIZE='abc'"], "T5Config.attention_block_size='abc' (ATTENTION_BLOCK_SIZE in the run's "
     "gin files) must be an integer"),
    # demo.gin's TASK_FEATURE_LENGTHS are 32 and 16: 12 tiles neither.
    (["--gin.ATTENTION_BLOCK_SIZE=12"], "ATTENTION_BLOCK_SIZE=12 does not divide the attention key length 16 of "
     "TASK_FEATURE_LENGTHS={'inputs': 32, 'targets': 16}"),
    (["--gin.DATA_DIR='tests/test_bad_inputs.py'"],
     "data directory tests/test_bad_inputs.py (from DATA_DIR) is a file"),
    (["--gin.EVAL_PERIOD=10", "--gin.EVAL_SUITE='flan_heldot'"],
     "EVAL_SUITE='flan_heldot': unknown evaluation suite or benchmark 'flan_heldot' (did you mean 'flan_heldout'"),
    (["--gin.EVAL_PERIOD=10", "--gin.EVAL_SUITE=['mmlu_direct', 3]"],
     "EVAL_SUITE=['mmlu_direct', 3] must be a suite name or a list of them"),
    # The mesh (8 simulated devices, tests/conftest.py): too many devices, an uneven split of them, and a model
    # axis that splits the tiny model's 4 heads unevenly (jit's IndivisibleError at init, before this check).
    (["--gin.PartitionConfig.mesh_shape=(2, 8)"], "MESH_SHAPE=(2, 8) needs 16 devices, but 8 are available"),
    (["--gin.PartitionConfig.mesh_shape=(3, -1)"], "MESH_SHAPE=(3, -1) does not divide the 8 available devices"),
    (["--gin.PARTITIONING_RULES='model_paralel'"],
     "PARTITIONING_RULES: unknown partitioning rules 'model_paralel' (did you mean 'model_parallel'"),
    (["--gin.PARTITIONING_RULES=[('batch', ('replica', 'data')), ('heads', 'modle')]"],
     "PARTITIONING_RULES: 'heads' is put on the mesh axis 'modle', which does not exist (did you mean 'model'?)"),
    (["--gin.NUM_PARTITIONS=3"], "error: NUM_PARTITIONS=3 does not divide the 8 available devices"),
    (["--gin.PartitionConfig.num_slices=2", "--gin.NUM_PARTITIONS=3"],
     "NUM_PARTITIONS=3 x PartitionConfig.num_slices=2 does not divide the 8 available devices"),
    (["--gin.NUM_PARTITIONS=8"],
     "has a dimension of 4 (dimension 1, 'heads'), not divisible by model=8 on the mesh replica=1, data=1, model=8; "
     "change MESH_SHAPE / NUM_PARTITIONS / PARTITIONING_RULES"),
]


@pytest.mark.parametrize("overrides, fragment", TRAIN_ROWS, ids=[" ".join(r[0]) for r in TRAIN_ROWS])
def test_train_rejects(tmp_path, capsys, overrides, fragment):
  model_dir = tmp_path / "run"
  rc = cli.main(["train", "--gin_file=runs/demo.gin", f"--gin.MODEL_DIR='{model_dir}'", *overrides])
  line = _one_line(capsys, rc)
  assert fragment in line, line
  assert not model_dir.exists()  # checked before anything is created


def test_train_model_dir_under_a_regular_file(tmp_path, capsys):
  (tmp_path / "file").write_text("x")
  rc = cli.main(["train", "--gin_file=runs/demo.gin", f"--gin.MODEL_DIR='{tmp_path / 'file' / 'run'}'"])
  assert "MODEL_DIR" in _one_line(capsys, rc)


def test_second_training_into_a_model_dir_names_the_first(tmp_path, capsys):
  model_dir = tmp_path / "run"
  model_dir.mkdir()
  holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
  try:
    import socket
    (model_dir / run_lock.LOCK_FILE).write_text(json.dumps({"pid": holder.pid, "host": socket.gethostname()}))
    rc = cli.main(["train", "--gin_file=runs/demo.gin", f"--gin.MODEL_DIR='{model_dir}'"])
    line = _one_line(capsys, rc)
    assert f"pid {holder.pid}" in line and "in use by another training" in line, line
    assert not list(model_dir.glob("checkpoint_*"))
  finally:
    holder.kill()
    holder.wait()


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path):
  import socket
  dead = subprocess.Popen([sys.executable, "-c", "pass"])
  dead.wait()
  lock = tmp_path / run_lock.LOCK_FILE
  lock.write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname()}))
  run_lock.acquire(tmp_path)
  assert json.loads(lock.read_text())["pid"] == os.getpid()
  run_lock.release(tmp_path)
  assert not lock.exists()


def test_lock_from_another_host_says_how_to_remove_it(tmp_path):
  (tmp_path / run_lock.LOCK_FILE).write_text(json.dumps({"pid": 1, "host": "elsewhere"}))
  with pytest.raises(FlanxError, match=r"pid 1 on elsewhere\); if that process is gone, delete"):
    run_lock.acquire(tmp_path)


def test_sigint_stops_like_sigterm():
  from flanx import preemption
  second = []
  with preemption.StopSignal(on_second_interrupt=lambda: second.append(True)) as stop:
    os.kill(os.getpid(), signal.SIGINT)
    assert stop.should_stop() and stop.received == signal.SIGINT and not second
    os.kill(os.getpid(), signal.SIGINT)  # a second Ctrl-C does not wait for the checkpoint (tests/faults: exit)
    assert second == [True]


# --- a tiny trained run, shared by the checkpoint-reading commands ---------------------------------------


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
  model_dir = tmp_path_factory.mktemp("run")
  gin_train(model_dir, "TRAIN_STEPS = 2", "CHECKPOINT_PERIOD = 2", "BATCH_SIZE = 8")
  return model_dir


def test_resume_writes_no_duplicate_metric_steps(run_dir, tmp_path):
  import shutil
  copy = tmp_path / "run"
  shutil.copytree(run_dir, copy)
  from flanx import summaries
  # A crash after step 2's checkpoint but after steps 3-4 were logged: their rows are redone on resume.
  with open(copy / summaries.METRICS_FILE, "a") as f:
    f.write(json.dumps({"step": 3, "loss": 1.0}) + "\n" + json.dumps({"step": 4, "loss": 1.0}) + "\n")
  gin_train(copy, "TRAIN_STEPS = 4", "CHECKPOINT_PERIOD = 2", "BATCH_SIZE = 8")
  steps = [row["step"] for row in summaries.read_metrics(copy)]
  assert steps == sorted(set(steps)) and steps[-1] == 4, steps
  assert not (copy / run_lock.LOCK_FILE).exists()  # released at the end of the run


def _eval(*overrides):
  return cli.main(["eval", "--gin_file=gin/runs/eval.gin", "--gin_file=gin/models/t5_1_1/tiny.gin",
                   "--gin.VOCABULARY=@vocab.byte()", "--gin.NUM_EMBEDDINGS=384", *overrides])


EVAL_ROWS = [
    ([], "CHECKPOINT_PATH is required"),
    (["--gin.EVAL_NUM_EXAMPLES=0"], "EVAL_NUM_EXAMPLES=0 must be at least 1 (or None)"),
    (["--gin.EVAL_NUM_EXAMPLES=-1"], "EVAL_NUM_EXAMPLES=-1 must be at least 1"),
    (["--gin.EVAL_BATCH_SIZE=0"], "EVAL_BATCH_SIZE=0 must be at least 1"),
    (["--gin.EVAL_BATCH_SIZE='8'"], "EVAL_BATCH_SIZE='8' must be an integer"),
    (["--gin.EVAL_SPLIT='train'"], "EVAL_SPLIT='train': the held-out suites are scored on validation or test"),
    (["--gin.EVAL_FEATURE_LENGTHS={'inputs': 8}"], "EVAL_FEATURE_LENGTHS={'inputs': 8} has no 'targets'"),
    (["--gin.CHECKPOINT_PATH='/nonexistent/run'"], "CHECKPOINT_PATH=/nonexistent/run does not exist"),
    (["--gin.EVAL_MODEL_DIR='{file}/eval'"], "EVAL_MODEL_DIR={file}/eval is under the regular file {file}"),
    (["--gin.EVAL_SUITE=[mmlu_direct]"], "mmlu_direct is not a Python literal; quote the string: "
                                         "--gin.EVAL_SUITE=\"['mmlu_direct']\""),
    (["--gin.EVAL_SUITE=['mmlu_direct', 'bbh_drect']"], "EVAL_SUITE=['mmlu_direct', 'bbh_drect']: unknown evaluation "
                                                        "suite or benchmark 'bbh_drect' (did you mean 'bbh_direct'"),
    (["--gin.EVAL_SUITE=[]"], "EVAL_SUITE=[] must be a suite name or a list of them"),
    (["--gin.EVAL_SUITE=['mmlu_direct', 3]"], "EVAL_SUITE=['mmlu_direct', 3] must be a suite name or a list of them"),
    (["--gin.EVAL_SUITE=3"], "EVAL_SUITE=3 must be a suite name or a list of them"),
    (["--gin.EVAL_MODEL_DIR='{file}'"], "EVAL_MODEL_DIR={file} is a file; give a directory"),
    (["--gin.CHECKPOINT_PATH='{file}'"], "CHECKPOINT_PATH={file} is not a flanx checkpoint"),
    (["--gin.EVAL_MODEL_DIR='{run}/checkpoint_2/out'"],
     "EVAL_MODEL_DIR={run}/checkpoint_2/out is inside the checkpoint {run}/checkpoint_2; write outputs outside it"),
]


@pytest.mark.parametrize("overrides, fragment", EVAL_ROWS, ids=[" ".join(r[0]) or "none" for r in EVAL_ROWS])
def test_eval_rejects(tmp_path, capsys, overrides, fragment):
  (tmp_path / "file").write_text("x")
  (tmp_path / "run" / "checkpoint_2" / "params").mkdir(parents=True)
  overrides = [o.replace("{file}", str(tmp_path / "file")).replace("{run}", str(tmp_path / "run")) for o in overrides]
  fragment = fragment.replace("{file}", str(tmp_path / "file")).replace("{run}", str(tmp_path / "run"))
  if not any("CHECKPOINT_PATH" in o for o in overrides) and overrides:
    overrides = [f"--gin.CHECKPOINT_PATH='{tmp_path}'", *overrides]  # settings are checked before the path
  line = _one_line(capsys, _eval(*overrides))
  assert fragment in line, line
  assert not (tmp_path / "eval").exists() and not list(tmp_path.rglob("out"))


@pytest.mark.parametrize("suite, fragment", [
    ("flan_heldout", None), (("mmlu_direct", "bbh_direct"), None),
    (["mmlu_direct", "bbh_drect"], "EVAL_SUITE=['mmlu_direct', 'bbh_drect']: unknown evaluation suite or benchmark "
                                   "'bbh_drect' (did you mean 'bbh_direct'"),
    ("", "EVAL_SUITE='' must be a suite name or a list of them"),
])
def test_training_time_eval_takes_a_suite_or_a_list(tmp_path, suite, fragment):
  from flanx import heldout
  if fragment is None:
    assert callable(heldout.training_evaluator(suite, model_dir=tmp_path, feature_lengths={"inputs": 8, "targets": 8}))
  else:
    with pytest.raises(FlanxError) as e:
      heldout.training_evaluator(suite, model_dir=tmp_path, feature_lengths={"inputs": 8, "targets": 8})
    assert fragment in str(e.value) and len(str(e.value).splitlines()) == 1, e.value


# Eval and infer lay the model out by their own macros; a refused layout names them, not train's.
MESH_ROWS = [
    # (command, partitions, overrides, message fragment)
    ("eval", 8, [], "has a dimension of 4 (dimension 1, 'heads'), not divisible by model=8 on the mesh replica=1, "
                    "data=1, model=8; change EVAL_NUM_PARTITIONS"),
    ("infer", 8, [], "has a dimension of 4 (dimension 1, 'heads'), not divisible by model=8 on the mesh replica=1, "
                     "data=1, model=8; change INFER_NUM_PARTITIONS"),
    ("eval", 3, [], "error: EVAL_NUM_PARTITIONS=3 does not divide the 8 available devices"),
    ("infer", 3, [], "error: INFER_NUM_PARTITIONS=3 does not divide the 8 available devices"),
    ("eval", 1, ["--gin.eval/PartitionConfig.mesh_shape=(2, 8)"],
     "error: eval/PartitionConfig.mesh_shape=(2, 8) needs 16 devices, but 8 are available"),
    ("infer", 1, ["--gin.infer/PartitionConfig.rules='fdsp'"],
     "error: infer/PartitionConfig.rules: unknown partitioning rules 'fdsp' (did you mean 'fsdp'"),
]


@pytest.mark.parametrize("command, partitions, overrides, fragment", MESH_ROWS,
                         ids=[f"{r[0]} {r[1]} {' '.join(r[2])}" for r in MESH_ROWS])
def test_eval_and_infer_refuse_a_layout_before_restoring(run_dir, tmp_path, capsys, monkeypatch, command, partitions,
                                                         overrides, fragment):
  from flanx import checkpoints
  monkeypatch.setattr(checkpoints, "restore_params", lambda *a, **k: pytest.fail("restored before the check"))
  out = tmp_path / "out"
  argv = [f"--gin_file=gin/runs/{command}.gin", f"--gin.{command.upper()}_NUM_PARTITIONS={partitions}"]
  if command == "infer":
    argv += ["--gin.MIXTURE_OR_TASK_NAME='flanx_demo'", "--gin.INFER_NUM_EXAMPLES=2"]
  rc = cli.main([command, *argv, *overrides, f"--gin.CHECKPOINT_PATH='{run_dir}'",
                 f"--gin.{command.upper()}_{'MODEL' if command == 'eval' else 'OUTPUT'}_DIR='{out}'"])
  line = _one_line(capsys, rc)
  assert fragment in line, line  # the tiny model's 4 heads over 8 devices, or a mesh the 8 devices cannot hold


def _damage(step_dir: pathlib.Path) -> None:
  for f in (step_dir / "params").rglob("*"):
    if f.is_file() and f.parent.name == "d":  # the array chunks; the metadata and manifest stay readable
      f.write_bytes(b"\0garbage" * 8)


def test_eval_of_a_damaged_checkpoint_is_one_line(run_dir, tmp_path, capsys):
  import shutil
  damaged = tmp_path / "run"
  shutil.copytree(run_dir, damaged)
  _damage(damaged / "checkpoint_2")
  capsys.readouterr()
  rc = cli.main(["eval", "--gin_file=gin/runs/eval.gin", f"--gin.CHECKPOINT_PATH='{damaged}'"])
  err = capsys.readouterr().err
  assert rc == 2 and "checkpoint_2" in err and "damaged" in err, err[-2000:]
  assert len(err.strip().splitlines()) <= 3, err[-2000:]  # not orbax's thousands of lines
  assert not (damaged / "eval").exists()


INFER_ROWS = [
    ([], "INFER_OUTPUT_DIR is required"),
    (["--gin.INFER_OUTPUT_DIR='{file}/out'"], "is under the regular file"),
    (["--gin.INFER_BEAM_SIZE=0"], "INFER_BEAM_SIZE=0 must be at least 1"),
    (["--gin.INFER_BATCH_SIZE=-2"], "INFER_BATCH_SIZE=-2 must be at least 1"),
    (["--gin.INFER_NUM_EXAMPLES=0"], "INFER_NUM_EXAMPLES=0 must be at least 1"),
    (["--gin.INFER_FEATURE_LENGTHS={'targets': 8}"], "has no 'inputs' length"),
    (["--gin.INFER_OUTPUT_DIR='{file}'"], "INFER_OUTPUT_DIR={file} is a file; give a directory"),
    (["--gin.INFER_SPLIT='nosuch'"], "INFER_SPLIT='nosuch': task 'flanx_demo_copy' has no such split (it has 'train'"),
    (["--gin.CHECKPOINT_PATH='{file}'"], "CHECKPOINT_PATH={file} is not a flanx checkpoint"),
    (["--gin.CHECKPOINT_PATH='{tmp}/nosuch'"], "CHECKPOINT_PATH={tmp}/nosuch does not exist"),
    (["--gin.INFER_OUTPUT_DIR='{tmp}/run/checkpoint_2/out'"],
     "INFER_OUTPUT_DIR={tmp}/run/checkpoint_2/out is inside the checkpoint {tmp}/run/checkpoint_2"),
]


@pytest.mark.parametrize("overrides, fragment", INFER_ROWS, ids=[" ".join(r[0]) or "none" for r in INFER_ROWS])
def test_infer_rejects(tmp_path, capsys, overrides, fragment):
  (tmp_path / "file").write_text("x")
  (tmp_path / "run" / "checkpoint_2" / "params").mkdir(parents=True)
  overrides = [o.replace("{file}", str(tmp_path / "file")).replace("{tmp}", str(tmp_path)) for o in overrides]
  fragment = fragment.replace("{file}", str(tmp_path / "file")).replace("{tmp}", str(tmp_path))
  if not any("OUTPUT_DIR" in o for o in overrides) and overrides:
    overrides = [f"--gin.INFER_OUTPUT_DIR='{tmp_path / 'out'}'", *overrides]
  rc = cli.main(["infer", "--gin_file=gin/runs/infer.gin", "--gin_file=gin/models/t5_1_1/tiny.gin",
                 "--gin.VOCABULARY=@vocab.byte()", "--gin.NUM_EMBEDDINGS=384", f"--gin.CHECKPOINT_PATH='{tmp_path}'",
                 "--gin.MIXTURE_OR_TASK_NAME='flanx_demo'", *overrides])
  line = _one_line(capsys, rc)
  assert fragment in line, line
  assert not (tmp_path / "out").exists() and not list(tmp_path.rglob("out"))


# Multi-process flags of eval and infer (the same as train's): checked before gin is read or a device is touched.
_JOB = ["--coordinator_address=127.0.0.1:1234", "--num_processes=2", "--process_id=0"]
DISTRIBUTED_ROWS = [
    (["--coordinator_address=127.0.0.1:1234"], "need all of --coordinator_address, --num_processes, --process_id "
                                               "(missing --num_processes)"),
    (["--num_processes=2", "--process_id=0"], "(missing --coordinator_address)"),
    ([*_JOB, "--num_processes=0"], "--num_processes=0 must be at least 1"),
    ([*_JOB, "--num_processes=-2"], "--num_processes=-2 must be at least 1"),
    ([*_JOB, "--num_processes=two"], "--num_processes='two' is not an integer"),
    ([*_JOB, "--num_processes="], "--num_processes='' is not an integer"),
    ([*_JOB, "--process_id=-1"], "--process_id=-1 must be at least 0"),
    ([*_JOB, "--process_id=1.5"], "--process_id='1.5' is not an integer"),
    ([*_JOB, "--process_id=2"], "--process_id=2 must be below --num_processes=2 (ids count from 0)"),
    ([*_JOB, "--coordinator_address=localhost"], "--coordinator_address='localhost' must be HOST:PORT"),
    ([*_JOB, "--coordinator_address="], "--coordinator_address='' must be HOST:PORT"),
    (["--multihost=yes"], "unknown argument '--multihost=yes'"),
]


@pytest.mark.parametrize("command", ["eval", "infer"])
@pytest.mark.parametrize("flags, fragment", DISTRIBUTED_ROWS, ids=[" ".join(r[0][-1:]) for r in DISTRIBUTED_ROWS])
def test_eval_and_infer_reject_distributed_flags(tmp_path, capsys, command, flags, fragment):
  rc = cli.main([command, f"--gin_file=gin/runs/{command}.gin", f"--gin.CHECKPOINT_PATH='{tmp_path}'", *flags])
  line = _one_line(capsys, rc)
  assert fragment in line, line
  assert not (tmp_path / "eval").exists()


# --- flanx generate / score ---------------------------------------------------------------------------------

GENERATE_FLAG_ROWS = [
    (["--beam_size", "0"], "argument --beam_size: 0 must be at least 1"),
    (["--beam_size", "-2"], "argument --beam_size: -2 must be at least 1"),
    (["--max_new_tokens", "0"], "argument --max_new_tokens: 0 must be at least 1"),
    (["--max_new_tokens", "abc"], "argument --max_new_tokens: 'abc' is not an integer"),
    (["--max_new_tokens", ""], "argument --max_new_tokens: '' is not an integer"),
    (["--num_samples", "0"], "argument --num_samples: 0 must be at least 1"),
    (["--top_k", "-1"], "argument --top_k: -1 must be at least 0"),
]


@pytest.mark.parametrize("flags, fragment", GENERATE_FLAG_ROWS, ids=[" ".join(r[0]) for r in GENERATE_FLAG_ROWS])
def test_generate_rejects_flags(tmp_path, capsys, flags, fragment):
  line = _argparse_line(capsys, ["generate", "--checkpoint", str(tmp_path), "--input", "p.txt", "--output",
                                 str(tmp_path / "out.jsonl"), *flags])
  assert fragment in line, line
  assert not (tmp_path / "out.jsonl").exists()


def test_generate_prompts_that_are_not_utf8(tmp_path, capsys):
  prompts = tmp_path / "prompts.txt"
  prompts.write_bytes(b"copy: abc\n\xff\xfe bad\n")
  rc = cli.main(["generate", "--checkpoint", str(tmp_path), "--input", str(prompts), "--output",
                 str(tmp_path / "out.jsonl")])
  line = _one_line(capsys, rc)
  assert f"{prompts}:2: not UTF-8" in line, line
  assert not (tmp_path / "out.jsonl").exists()


def test_generate_output_under_a_regular_file(tmp_path, capsys):
  (tmp_path / "prompts.txt").write_text("copy: abc\n")
  (tmp_path / "file").write_text("x")
  rc = cli.main(["generate", "--checkpoint", str(tmp_path), "--input", str(tmp_path / "prompts.txt"), "--output",
                 str(tmp_path / "file" / "out.jsonl")])
  assert "is under the regular file" in _one_line(capsys, rc)


# --output may not replace anything a run, a checkpoint or the command itself needs (checked before any model).
GENERATE_OUTPUT_ROWS = [
    # (--output relative to tmp_path, message fragment)
    ("run/config.gin", "is inside the training run or checkpoint {tmp}/run; write outputs outside it"),
    ("run/checkpoint_2/out.jsonl", "is inside the training run or checkpoint {tmp}/run;"),
    ("run/eval/out.jsonl", "is inside the training run or checkpoint {tmp}/run;"),
    ("converted/out.jsonl", "is inside the checkpoint converted; write outputs outside it"),
    ("prompts.txt", "is the same file as --input; write the output to another file"),
]


@pytest.mark.parametrize("output, fragment", GENERATE_OUTPUT_ROWS, ids=[r[0] for r in GENERATE_OUTPUT_ROWS])
def test_generate_output_that_would_replace_a_run_or_its_input(tmp_path, capsys, monkeypatch, output, fragment):
  monkeypatch.chdir(tmp_path)
  (tmp_path / "prompts.txt").write_text("copy: abc\n")
  (tmp_path / "run" / "checkpoint_2").mkdir(parents=True)
  (tmp_path / "run" / "eval").mkdir()
  (tmp_path / "run" / "config.gin").write_text("TRAIN_STEPS = 2\n")
  (tmp_path / "converted").mkdir()  # a `convert from-hf` directory, given as --checkpoint
  (tmp_path / "converted" / "model.gin").write_text("MODEL = None\n")
  checkpoint = "converted" if output.startswith("converted") else str(tmp_path / "run")
  rc = cli.main(["generate", "--checkpoint", checkpoint, "--input", "prompts.txt", "--output", output])
  line = _one_line(capsys, rc)
  assert f"--output={output} " + fragment.format(tmp=tmp_path) in line, line
  assert (tmp_path / "prompts.txt").read_text() == "copy: abc\n"
  assert (tmp_path / "run" / "config.gin").read_text() == "TRAIN_STEPS = 2\n"
  assert not list(tmp_path.rglob("out.jsonl"))


# Every path argument of generate and score: missing, a directory or a file where the other is expected.
PATH_ROWS = [
    # (command, flags with {tmp}, message fragment)
    ("generate", ["--input", "{tmp}/nosuch.txt"], "--input {tmp}/nosuch.txt does not exist"),
    ("generate", ["--input", "{tmp}/dir"], "--input {tmp}/dir is a directory"),
    ("score", ["--input", "{tmp}/nosuch.jsonl"], "--input {tmp}/nosuch.jsonl does not exist"),
    ("score", ["--input", "{tmp}/dir"], "--input {tmp}/dir is a directory"),
    ("score", ["--checkpoint", "{tmp}/prompts.txt"], "--checkpoint={tmp}/prompts.txt is not a flanx checkpoint"),
    ("score", ["--checkpoint", "{tmp}/nosuch"], "--checkpoint={tmp}/nosuch does not exist"),
    ("generate", ["--output", "{tmp}/dir"], "--output={tmp}/dir is a directory; give a file name"),
    ("generate", ["--output", "/dev/null"], "--output=/dev/null is not a regular file; give a file name"),
    ("generate", ["--checkpoint", "{tmp}/nosuch"], "--checkpoint={tmp}/nosuch does not exist"),
    ("generate", ["--checkpoint", "{tmp}/prompts.txt"], "--checkpoint={tmp}/prompts.txt is not a flanx checkpoint"),
    ("score", ["--checkpoint", "{tmp}/dir"], "--checkpoint={tmp}/dir is not a flanx checkpoint"),
]


@pytest.mark.parametrize("command, flags, fragment", PATH_ROWS, ids=[f"{r[0]} {' '.join(r[1])}" for r in PATH_ROWS])
def test_generate_and_score_path_arguments(tmp_path, capsys, command, flags, fragment):
  (tmp_path / "prompts.txt").write_text('{"input": "copy: abc", "target": "abc"}\n')
  (tmp_path / "dir").mkdir()
  given = dict(zip(flags[::2], (f.format(tmp=tmp_path) for f in flags[1::2])))
  argv = {"--checkpoint": str(tmp_path / "dir"), "--input": str(tmp_path / "prompts.txt"), **given}
  if command == "generate":
    argv = {"--output": str(tmp_path / "out.jsonl"), **argv}
  rc = cli.main([command, *[x for kv in argv.items() for x in kv]])
  assert fragment.format(tmp=tmp_path) in _one_line(capsys, rc)
  assert sorted(p.name for p in tmp_path.iterdir()) == ["dir", "prompts.txt"]


def test_generate_output_in_a_read_only_directory(tmp_path, capsys, monkeypatch):
  (tmp_path / "prompts.txt").write_text("copy: abc\n")
  # Tests may run as root, for whom a chmod'ed directory stays writable: os.access is what is consulted.
  monkeypatch.setattr(os, "access", lambda path, mode: pathlib.Path(path) != tmp_path / "ro")
  (tmp_path / "ro").mkdir()
  rc = cli.main(["generate", "--checkpoint", str(tmp_path), "--input", str(tmp_path / "prompts.txt"), "--output",
                 str(tmp_path / "ro" / "out.jsonl")])
  assert f"--output={tmp_path / 'ro' / 'out.jsonl'} is not writable" in _one_line(capsys, rc)


def test_score_pairs_that_are_not_strings(tmp_path, capsys):
  pairs = tmp_path / "pairs.jsonl"
  pairs.write_text('{"input": "copy: abc", "target": 3}\n')
  rc = cli.main(["score", "--checkpoint", str(tmp_path), "--input", str(pairs)])
  assert f"{pairs}:1: expected a JSON object with 'input' and 'target'" in _one_line(capsys, rc)


@pytest.mark.parametrize("prompt, max_new_tokens, fragment", [
    ("copy: abc", "1000000", "--max_new_tokens=1000000 with the longest prompt (prompt 1 of --input, 10 tokens)"),
    ("x" * 100_000, "8", "--max_new_tokens=8 with the longest prompt (prompt 1 of --input, 100,001 tokens)"),
], ids=["max_new_tokens", "long_prompt"])
def test_generate_sizes_beyond_memory_are_refused_before_compiling(run_dir, tmp_path, capsys, prompt,
                                                                   max_new_tokens, fragment):
  (tmp_path / "prompts.txt").write_text(prompt + "\n")
  rc = cli.main(["generate", "--checkpoint", str(run_dir), "--input", str(tmp_path / "prompts.txt"), "--output",
                 str(tmp_path / "out.jsonl"), "--max_new_tokens", max_new_tokens])
  line = _one_line(capsys, rc)
  assert fragment in line and ") to decode needs about" in line and "GiB per device; the host has" in line, line
  assert not (tmp_path / "out.jsonl").exists()


@pytest.mark.parametrize("pairs, fragment", [
    ([("copy: abc", "x" * 100_000)], "scoring 1 pair of --input (longest input: pair 1, 10 tokens; longest target: "
                                     "pair 1, 100,001 tokens) needs about"),
    ([("copy: abc", "x" * 2_000)] * 2_000, "scoring 2,000 pairs of --input (longest input: pair 1, 10 tokens; longest "
                                           "target: pair 1, 2,001 tokens) needs about"),
], ids=["long_target", "many_pairs"])
def test_score_sizes_beyond_memory_are_refused_before_compiling(run_dir, tmp_path, capsys, monkeypatch, pairs,
                                                                fragment):
  from flanx import checkpoints
  monkeypatch.setattr(checkpoints, "restore_for_inference", lambda *a, **k: pytest.fail("restored before the check"))
  (tmp_path / "pairs.jsonl").write_text("".join(json.dumps({"input": i, "target": t}) + "\n" for i, t in pairs))
  rc = cli.main(["score", "--checkpoint", str(run_dir), "--input", str(tmp_path / "pairs.jsonl")])
  line = _one_line(capsys, rc)
  assert fragment in line and "GiB per device; the host has" in line and "score fewer or shorter pairs" in line, line


def test_infer_sizes_beyond_memory_are_refused_before_restoring(run_dir, tmp_path, capsys, monkeypatch):
  from flanx import checkpoints
  monkeypatch.setattr(checkpoints, "restore_for_inference", lambda *a, **k: pytest.fail("restored before the check"))
  rc = cli.main(["infer", "--gin_file=gin/runs/infer.gin", f"--gin.CHECKPOINT_PATH='{run_dir}'",
                 "--gin.MIXTURE_OR_TASK_NAME='flanx_demo'", f"--gin.INFER_OUTPUT_DIR='{tmp_path / 'out'}'",
                 "--gin.INFER_NUM_EXAMPLES=1", "--gin.INFER_FEATURE_LENGTHS={'inputs': 100000, 'targets': 100000}"])
  line = _one_line(capsys, rc)
  assert ("decoding INFER_BATCH_SIZE=8 x INFER_BEAM_SIZE=1 rows of INFER_FEATURE_LENGTHS={'inputs': 100000, "
          "'targets': 100000} needs about") in line and "lower INFER_FEATURE_LENGTHS or INFER_BATCH_SIZE" in line, line
  assert not (tmp_path / "out").exists()


def test_generate_on_a_damaged_checkpoint_is_one_line(run_dir, tmp_path, capsys):
  import shutil
  damaged = tmp_path / "run"
  shutil.copytree(run_dir, damaged)
  _damage(damaged / "checkpoint_2")
  (tmp_path / "prompts.txt").write_text("copy: abc\n")
  rc = cli.main(["generate", "--checkpoint", str(damaged), "--input", str(tmp_path / "prompts.txt"), "--output",
                 str(tmp_path / "out.jsonl"), "--max_new_tokens", "2"])
  assert "damaged" in _one_line(capsys, rc)
  assert not (tmp_path / "out.jsonl").exists()


PNG_ROWS = [
    # (--png, message fragment); {tmp} is the test's directory, holding a regular file and a training run
    ("{tmp}/nodir/x.png", "--png={tmp}/nodir/x.png: the directory {tmp}/nodir does not exist"),
    ("{tmp}", "--png={tmp} is a directory; give a file name"),
    ("{tmp}/file/x.png", "--png={tmp}/file/x.png is under the regular file {tmp}/file"),
    ("{tmp}/run/x.png", "--png={tmp}/run/x.png is inside the training run or checkpoint {tmp}/run"),
    ("/dev/null", "--png=/dev/null is not a regular file; give a file name"),
]


@pytest.mark.parametrize("png, fragment", PNG_ROWS, ids=[r[0] for r in PNG_ROWS])
def test_inspect_png_paths(tmp_path, capsys, png, fragment):
  (tmp_path / "file").write_text("x")
  (tmp_path / "run").mkdir()
  (tmp_path / "run" / "config.gin").write_text("TRAIN_STEPS = 2\n")
  rc = cli.main(["inspect", "flanx_demo", "-n", "0", "--lengths", "4", "--vocab", "byte",
                 "--png", png.format(tmp=tmp_path)])
  line = _one_line(capsys, rc)
  assert fragment.format(tmp=tmp_path) in line, line
  assert not list(tmp_path.rglob("*.png"))


# --- every command's outputs on a full or a read-only disk (real tmpfs mounts; root only, as tests/faults) ----


@pytest.fixture(scope="module")
def disks(tmp_path_factory):
  """{'full': a 4 KB tmpfs with no byte free, 'ro': a read-only tmpfs holding out.jsonl and a run's files}."""
  root = tmp_path_factory.mktemp("disks")
  with tmpfs(root / "full", "4k") as full, tmpfs(root / "ro", "1m") as ro:
    (full / "filler").write_bytes(b"x" * 4096)
    (ro / "out.jsonl").write_text("earlier output\n")
    (ro / "run" / "checkpoint_2" / "params").mkdir(parents=True)
    (ro / "run" / "config.gin").write_text("TRAIN_STEPS = 2\n")
    subprocess.run(["mount", "-o", "remount,ro", str(ro)], check=True)
    yield {"full": full, "ro": ro}


_TINY = ["--gin_file=gin/models/t5_1_1/tiny.gin", "--gin.VOCABULARY=@vocab.byte()", "--gin.NUM_EMBEDDINGS=384"]
DISK_ROWS = [
    # (case, argv, message fragment); {ro}, {full}: the disks, {ckpt}: a trained run. Nothing may appear on a disk.
    ("generate new file, read-only",
     ["generate", "--checkpoint", "{ckpt}", "--input", "{prompts}", "--output", "{ro}/new.jsonl"],
     "--output={ro}/new.jsonl is not writable ({ro} does not allow it)"),
    ("generate replacing a file, read-only",
     ["generate", "--checkpoint", "{ckpt}", "--input", "{prompts}", "--output", "{ro}/out.jsonl"],
     "--output={ro}/out.jsonl is not writable ({ro} does not allow new files, which replacing the file whole needs)"),
    ("generate, full",
     ["generate", "--checkpoint", "{ckpt}", "--input", "{prompts}", "--output", "{full}/out/new.jsonl"],
     "--output: the disk holding {full}/out has 0 bytes free but the prompts it repeats alone need at least 25 bytes"),
    ("infer, read-only",
     ["infer", "--gin_file=gin/runs/infer.gin", *_TINY, "--gin.CHECKPOINT_PATH='{ckpt}'",
      "--gin.MIXTURE_OR_TASK_NAME='flanx_demo'", "--gin.INFER_OUTPUT_DIR='{ro}/infer'"],
     "INFER_OUTPUT_DIR={ro}/infer is not writable ({ro} does not allow it)"),
    ("infer, full",
     ["infer", "--gin_file=gin/runs/infer.gin", *_TINY, "--gin.CHECKPOINT_PATH='{ckpt}'",
      "--gin.MIXTURE_OR_TASK_NAME='flanx_demo'", "--gin.INFER_OUTPUT_DIR='{full}/infer'",
      "--gin.INFER_NUM_EXAMPLES=2"],
     "INFER_OUTPUT_DIR: the disk holding {full}/infer has 0 bytes free but the predictions' inputs alone need"),
    ("eval EVAL_MODEL_DIR, read-only",
     ["eval", "--gin_file=gin/runs/eval.gin", *_TINY, "--gin.CHECKPOINT_PATH='{ckpt}'",
      "--gin.EVAL_MODEL_DIR='{ro}/eval'"],
     "EVAL_MODEL_DIR={ro}/eval is not writable ({ro} does not allow it)"),
    ("eval into the checkpoint's own read-only MODEL_DIR",
     ["eval", "--gin_file=gin/runs/eval.gin", *_TINY, "--gin.CHECKPOINT_PATH='{ro}/run'"],
     "MODEL_DIR of CHECKPOINT_PATH={ro}/run is not writable ({ro}/run does not allow it); set EVAL_MODEL_DIR"),
    ("eval EVAL_MODEL_DIR, full",
     ["eval", "--gin_file=gin/runs/eval.gin", "--gin.CHECKPOINT_PATH='{ckpt}'", "--gin.EVAL_SUITE='mmlu_direct'",
      "--gin.EVAL_NUM_EXAMPLES=2", "--gin.EVAL_MODEL_DIR='{full}/m'", "--gin.DATA_DIR='{fixtures}'"],
     "EVAL_MODEL_DIR: the disk holding {full}/m/eval/2 has 0 bytes free but the predictions' targets alone need"),
    ("inspect --png, read-only",
     ["inspect", "flanx_demo", "-n", "0", "--lengths", "4", "--vocab", "byte", "--png", "{ro}/x.png"],
     "--png={ro}/x.png is not writable ({ro} does not allow it)"),
    ("inspect --png, full",
     ["inspect", "flanx_demo", "-n", "0", "--lengths", "4", "--vocab", "byte", "--png", "{full}/x.png"],
     "--png: cannot write {full}/x.png: No space left on device, 0 bytes free; nothing was written"),
]


@pytest.mark.parametrize("argv, fragment", [r[1:] for r in DISK_ROWS], ids=[r[0] for r in DISK_ROWS])
def test_outputs_on_a_full_or_read_only_disk(disks, run_dir, tmp_path, capsys, argv, fragment):
  (tmp_path / "prompts.txt").write_text("copy: abc\nreverse: xyz\n")
  before = {name: sorted(str(p.relative_to(d)) for p in d.rglob("*")) for name, d in disks.items()}
  names = {"ckpt": run_dir, "prompts": tmp_path / "prompts.txt", "fixtures": REPO_ROOT / "tasks/evals/fixtures",
           **disks}
  rc = cli.main([a.format(**names) for a in argv])
  line = _one_line(capsys, rc)
  assert fragment.format(**names) in line, line
  assert {name: sorted(str(p.relative_to(d)) for p in d.rglob("*")) for name, d in disks.items()} == before
  assert (disks["ro"] / "out.jsonl").read_text() == "earlier output\n"


def test_a_write_that_fails_leaves_the_earlier_file_and_no_temporary(tmp_path):
  from flanx import storage
  with tmpfs(tmp_path / "disk", "8k") as disk:
    storage.write_atomic(disk / "out.jsonl", "earlier\n", name="--output")
    with pytest.raises(FlanxError, match=r"^--output: cannot write .*out.jsonl: No space left on device, [\d,]+ "
                                         r"bytes free; the earlier file is unchanged$"):
      storage.write_atomic(disk / "out.jsonl", "x" * 20_000, name="--output")
    assert (disk / "out.jsonl").read_text() == "earlier\n" and [p.name for p in disk.iterdir()] == ["out.jsonl"]
    with pytest.raises(OSError):  # without a name (a caller that reports it itself): the OS error, still no temporary
      storage.write_atomic(disk / "new.jsonl", "x" * 20_000)
    assert [p.name for p in disk.iterdir()] == ["out.jsonl"]


# --- flanx convert, bench -------------------------------------------------------------------------------------

_HF_CONFIG = dict(vocab_size=384, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_decoder_layers=2, num_heads=4,
                  feed_forward_proj="gated-gelu", relative_attention_num_buckets=32,
                  relative_attention_max_distance=128, model_type="t5", tie_word_embeddings=False)


def test_convert_to_hf_into_a_non_empty_directory(run_dir, tmp_path, capsys):
  (tmp_path / "hf").mkdir()
  (tmp_path / "hf" / "keep.txt").write_text("mine")
  rc = cli.main(["convert", "to-hf", "--checkpoint", str(run_dir), "--out", str(tmp_path / "hf")])
  assert "already holds files; give a new or empty directory" in _one_line(capsys, rc)
  assert [p.name for p in (tmp_path / "hf").iterdir()] == ["keep.txt"]


def test_convert_from_hf_into_a_training_run(run_dir, tmp_path, capsys):
  (tmp_path / "hf").mkdir()
  (tmp_path / "hf" / "config.json").write_text(json.dumps(_HF_CONFIG))
  before = sorted(p.name for p in run_dir.iterdir())
  rc = cli.main(["convert", "from-hf", "--hf_dir", str(tmp_path / "hf"), "--out", str(run_dir)])
  assert "already holds a training run" in _one_line(capsys, rc)
  assert sorted(p.name for p in run_dir.iterdir()) == before


def test_convert_from_hf_num_partitions_zero(tmp_path, capsys):
  rc = cli.main(["convert", "from-hf", "--hf_dir", str(tmp_path), "--out", str(tmp_path / "out"),
                 "--num_partitions", "0"])
  assert "--num_partitions=0 must be at least 1" in _one_line(capsys, rc)


def test_convert_refuses_torch_pickles_and_says_how_to_convert(tmp_path, capsys):
  torch = pytest.importorskip("torch")
  import datetime
  hf = tmp_path / "hf"
  hf.mkdir()
  (hf / "config.json").write_text(json.dumps(_HF_CONFIG))
  # Anything but tensors and plain containers needs unpickling code, which weights_only loading refuses.
  torch.save({"shared.weight": torch.zeros(2), "when": datetime.date(2020, 1, 1)}, hf / "pytorch_model.bin")
  rc = cli.main(["convert", "from-hf", "--hf_dir", str(hf), "--out", str(tmp_path / "out")])
  line = _one_line(capsys, rc)
  assert "flanx refuses" in line and "safe_serialization=True" in line, line
  assert not (tmp_path / "out").exists()


def test_bench_unknown_name_is_named(capsys):
  rc = cli.main(["bench", "speed"])
  err = capsys.readouterr().err
  assert rc == 2 and "unknown benchmark 'speed'" in err, err


# --- entry points: --help before heavy imports, and no import cycle ------------------------------------------

COMMAND_MODULES = ("flanx.train", "flanx.eval", "flanx.infer", "flanx.generate", "flanx.gin_config")


def test_help_is_immediate_and_lists_the_macros():
  code = ("import sys; from flanx import cli\n"
          "for name in ('train', 'eval', 'infer'):\n"
          "  cli.main([name, '--help'])\n"
          "heavy = [m for m in ('jax', 'tensorflow', 'seqio', 'gin') if m in sys.modules]\n"
          "print('HEAVY', heavy)\n")
  out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
  assert out.returncode == 0, out.stderr
  assert "HEAVY []" in out.stdout
  for macro in ("MODEL_DIR", "TRAIN_STEPS", "CHECKPOINT_PATH", "EVAL_SUITE", "INFER_OUTPUT_DIR"):
    assert macro in out.stdout


# What TensorFlow/CUDA print when TensorFlow is imported or first probes CUDA (flanx/quiet.py holds them back).
START_UP_NOISE = re.compile(r"absl::InitializeLog|cudart_stub|cuInit|cuda_platform|^[IWE]0000 ", re.M)


@pytest.mark.parametrize("command, help_fragment", [
    (["convert", "--help"], "from-hf"), (["convert", "from-hf", "--help"], "--hf_dir"),
    (["data", "cache", "--help"], "--allow_partial"), (["inspect", "--help"], "--composition"),
    (["bench", "data", "--help"], "--cache-examples"), (["bench", "--help"], "benchmarks:"),
    (["bench", "decode", "--help"], "--output_length"), (["bench", "eval", "--help"], "--questions"),
    (["bench", "train", "--help"], "--num_microbatches"), (["bench", "plan", "--help"], "--measure_seconds"),
    (["plan", "--help"], "(at most 1024)")])
def test_help_of_argparse_commands_answers_before_heavy_imports(command, help_fragment):
  """Their --help is argparse's: no seqio/TensorFlow/jax import, so no start-up noise and no wait."""
  code = ("import sys; from flanx import cli\n"
          "try:\n"
          f"  cli.main({command!r})\n"
          "except SystemExit:\n"
          "  pass\n"
          "print('HEAVY', [m for m in ('jax', 'tensorflow', 'seqio', 'orbax', 'flax', 'grain') if m in sys.modules])\n")
  out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
  assert out.returncode == 0, out.stderr
  assert "HEAVY []" in out.stdout and help_fragment in " ".join(out.stdout.split()), out.stdout  # wrapped or not
  assert out.stderr == "", out.stderr


def test_tensorflow_import_and_cuda_probe_print_nothing():
  """Whoever imports TensorFlow after quiet.environment() (seqio here), its start-up lines and its CUDA probe
  (`E0000 ... failed call to cuInit` without a driver) are held back, even at the Makefile's TF_CPP_MIN_LOG_LEVEL=2;
  TensorFlow sees no GPU (it only reads data for jax)."""
  code = ("from flanx import quiet\n"
          "quiet.environment()\n"
          "import seqio, tensorflow as tf\n"
          "rows = len(list(tf.data.Dataset.range(3).as_numpy_iterator()))\n"
          "print('ROWS', rows, 'GPUS', tf.config.get_visible_devices('GPU'))\n")
  out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
                       env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
  assert out.returncode == 0, out.stderr[-2000:]
  assert "ROWS 3 GPUS []" in out.stdout, out.stdout
  assert not START_UP_NOISE.search(out.stderr), out.stderr


# Flag mistakes of the commands whose heavy part waits until their flags are checked; each is one line.
FLAG_ROWS = [
    (["bench", "decode", "--batch_size", "0"], "--batch_size=0 must be at least 1"),
    (["bench", "decode", "--output_length=-1"], "--output_length=-1 must be at least 1"),
    (["bench", "decode", "--repeats="], "argument --repeats: invalid int value: ''"),
    (["bench", "decode", "--input_length", "x"], "argument --input_length: invalid int value: 'x'"),
    (["bench", "decode", "--repeats"], "argument --repeats: expected one argument"),
    (["bench", "decode", "--against="], "argument --against: invalid choice: ''"),
    (["bench", "eval", "--questions", "0"], "--questions=0 must be at least 1"),
    (["bench", "eval", "--batches", "-2"], "--batches=-2 must be at least 1"),
    (["bench", "eval", "--input_length", "1.5"], "argument --input_length: invalid int value: '1.5'"),
    (["bench", "eval", "--batches="], "argument --batches: invalid int value: ''"),
    (["bench", "eval", "--questions"], "argument --questions: expected one argument"),
    (["bench", "train", "--targets_length=0"], "--targets_length=0 must be at least 1"),
    (["bench", "train", "--inputs_length=-4"], "--inputs_length=-4 must be at least 1"),
    (["bench", "train", "--steps=x"], "argument --steps: invalid int value: 'x'"),
    (["bench", "train", "--batch_size="], "argument --batch_size: invalid int value: ''"),
    (["bench", "train", "--steps"], "argument --steps: expected one argument"),
    (["convert", "from-hf", "--hf_dir=", "--out", "o"], "--hf_dir is empty"),
    (["convert", "from-hf", "--hf_dir", "h", "--out="], "--out is empty"),
    (["convert", "from-hf", "--hf_dir", "h", "--out", "o", "--rules="], "--rules is empty"),
    (["convert", "to-hf", "--checkpoint= ", "--out", "o"], "--checkpoint is empty"),
    (["convert", "to-hf", "--out", "o"], "the following arguments are required: --checkpoint"),
    (["convert", "from-hf", "--hf_dir", "h", "--out", "o", "--num_partitions=-2"],
     "--num_partitions=-2 must be at least 1"),
    (["convert", "from-hf", "--hf_dir", "h", "--out", "o", "--num_partitions", "two"], "invalid int value: 'two'"),
    (["convert", "from-hf", "--hf_dir", "h", "--out", "o", "--num_partitions="], "invalid int value: ''"),
    (["convert", "from-hf", "--hf_dir", "h", "--out", "o", "--num_partitions"], "expected one argument"),
    (["generate", "--checkpoint", "c", "--input", "i", "--output", "o", "--max_new_tokens", "0"],
     "argument --max_new_tokens: 0 must be at least 1"),
    (["plan", "--bogus"], "unrecognized arguments: --bogus"),
    (["bench", "plan", "--steps=0"], "--steps=0 must be positive"),
    (["bench", "plan", "--batch_size=2"], "--batch_size need a --gin_file: the default runs keep their own sizes"),
    # An empty path flag is named as such, not read as the working directory ("is a directory").
    (["generate", "--checkpoint", "c", "--input=", "--output", "o"], "error: --input is empty"),
    (["generate", "--checkpoint= ", "--input", "i", "--output", "o"], "error: --checkpoint is empty"),
    (["generate", "--checkpoint", "c", "--input", "i", "--output="], "error: --output is empty"),
    (["generate", "--checkpoint", "c", "--input", "i", "--output", "o", "--gin_file="], "error: --gin_file is empty"),
    (["score", "--checkpoint", "c", "--input="], "error: --input is empty"),
    (["score", "--checkpoint=", "--input", "i"], "error: --checkpoint is empty"),
    (["score", "--checkpoint", "c", "--input", "i", "--gin_file=m.gin", "--gin_file="], "error: --gin_file is empty"),
    (["inspect", "--png=", "flanx_demo"], "error: --png is empty"),
    (["data", "cache", "flanx_demo", "--out=", "--examples", "2"], "error: --out is empty"),
]


@pytest.mark.parametrize("argv, fragment", FLAG_ROWS, ids=[" ".join(r[0]) for r in FLAG_ROWS])
def test_flag_mistakes_are_one_line(capsys, argv, fragment):
  try:
    rc = cli.main(argv)
  except SystemExit as e:  # argparse's own (usage, then one error line)
    rc = e.code
  assert fragment in _one_line(capsys, rc)


@pytest.mark.parametrize("argv", [["eval", "--gin_file="], ["infer", "--gin_file=gin/runs/infer.gin", "--gin_file= "],
                                  ["train", "--gin_file="]])
def test_empty_gin_file_of_the_gin_commands(capsys, argv):
  """Not the working directory's "is a directory" line (these commands import jax before reading gin files, so
  they are not among FLAG_ROWS)."""
  assert "error: --gin_file is empty" in _one_line(capsys, cli.main(argv))


def test_flag_mistakes_answer_before_heavy_imports():
  """`flanx` imports nothing for a command, TensorFlow included: it installs quiet's import hook, which makes
  TensorFlow's first import quiet wherever the command makes it (test_tensorflow_import_and_cuda_probe_print_nothing),
  and these commands check their flags before importing jax, seqio or orbax."""
  code = ("import sys; from flanx import cli, quiet\n"
          f"for argv in {[argv for argv, _ in FLAG_ROWS]!r}:\n"
          "  try:\n"
          "    assert cli.main(argv) == 2, argv\n"
          "  except SystemExit as e:\n"
          "    assert e.code == 2, argv\n"
          "print('HOOK', any(isinstance(f, quiet._QuietTensorflowImport) for f in sys.meta_path))\n"
          "print('HEAVY', [m for m in ('jax', 'tensorflow', 'seqio', 'orbax', 'flax', 'grain') if m in sys.modules])\n")
  out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
  assert out.returncode == 0, out.stderr[-2000:]
  assert "HOOK True" in out.stdout and "HEAVY []" in out.stdout, out.stdout


@pytest.mark.parametrize("command, partitions, fragment", [
    ("bench train", 8, "has a dimension of 4 (dimension 1, 'heads'), not divisible by model=8 on the mesh replica=1, "
                       "data=1, model=8; change --gin.PartitionConfig.num_partitions / mesh_shape / rules"),
    ("convert from-hf", 8, "has a dimension of 4 (dimension 1, 'heads'), not divisible by model=8 on the mesh "
                           "replica=1, data=1, model=8; change --num_partitions / --rules"),
    ("convert from-hf", 3, "error: --num_partitions=3 does not divide the 8 available devices"),
    ("bench train", 3, "error: --gin.PartitionConfig.num_partitions=3 does not divide the 8 available devices"),
    ("convert from-hf", 1, "error: --rules: unknown partitioning rules 'fdsp' (did you mean 'fsdp'"),
], ids=["bench train uneven", "convert uneven", "convert mesh", "bench train mesh", "convert rules"])
def test_bench_train_and_convert_refuse_a_layout_in_one_line(tmp_path, capsys, command, partitions, fragment):
  """As train, eval and infer do: the tiny model's 4 heads over model=8, a model axis that does not divide the 8
  devices or unknown rules are one line naming the command's own settings, before anything is compiled or read
  (not jax's IndivisibleError)."""
  if command == "bench train":
    argv = ["bench", "train", "--gin_file=models/t5_1_1/tiny.gin", "--gin.NUM_EMBEDDINGS=384",
            "--gin.bench_model.partition=@PartitionConfig()", f"--gin.PartitionConfig.num_partitions={partitions}"]
  else:
    (tmp_path / "hf").mkdir()  # a config.json and no weights: refused before any tensor is looked for
    (tmp_path / "hf" / "config.json").write_text(json.dumps(_HF_CONFIG))
    argv = ["convert", "from-hf", "--hf_dir", str(tmp_path / "hf"), "--out", str(tmp_path / "out"),
            "--num_partitions", str(partitions), *(["--rules", "fdsp"] if partitions == 1 else [])]
  line = _one_line(capsys, cli.main(argv))
  assert fragment in line, line
  assert not (tmp_path / "out").exists()


def test_help_into_a_closed_pipe_ends_quietly():
  """`flanx eval --help | head`: the reader is gone before the help is written; no traceback, exit 141."""
  code = "import sys; from flanx import cli; sys.exit(cli.main(['eval', '--help']))"
  child = subprocess.Popen([sys.executable, "-c", code], cwd=REPO_ROOT, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
  child.stdout.close()  # the only read end: the child's first write fails with EPIPE
  stderr = child.stderr.read()
  assert child.wait(timeout=60) == 141, stderr
  assert "Traceback" not in stderr and "BrokenPipe" not in stderr, stderr


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("argv", [["--help"], ["eval", "--help"], ["data", "cache", "--help"]])
def test_stdout_on_a_full_device_is_one_line(argv):
  """`flanx ... > /dev/full`: the output cannot be written; one line on stderr, exit 2, no traceback."""
  code = f"import sys; from flanx import cli; sys.exit(cli.main({argv!r}))"
  with open("/dev/full", "w") as full:
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, stdout=full, stderr=subprocess.PIPE,
                         text=True, timeout=120)
  assert out.returncode == 2, out.stderr
  assert out.stderr.strip().endswith("error: cannot write standard output: No space left on device"), out.stderr
  assert len(out.stderr.strip().splitlines()) == 1, out.stderr


@pytest.mark.parametrize("command, fragment", [("generate", "one prompt per line"),
                                               ("score", 'string fields "input" and "target"')])
def test_generate_and_score_help_describe_the_input_format(capsys, command, fragment):
  with pytest.raises(SystemExit):
    cli.main([command, "--help"])
  assert fragment in " ".join(capsys.readouterr().out.split())


def _module_imports(module: str) -> set[str]:
  """flanx modules a module imports anywhere in its body (functions included), by AST."""
  source = (REPO_ROOT / (module.replace(".", "/") + ".py")).read_text()
  found = set()
  for node in ast.walk(ast.parse(source)):
    if isinstance(node, ast.Import):
      found |= {a.name for a in node.names}
    elif isinstance(node, ast.ImportFrom) and node.module:
      found |= {f"{node.module}.{a.name}" if node.module == "flanx" else node.module for a in node.names}
  return {m for m in found if m in COMMAND_MODULES and m != module}


def test_command_modules_have_no_import_cycle():
  graph = {m: _module_imports(m) for m in COMMAND_MODULES}
  assert graph["flanx.gin_config"] == set(), graph
  assert "flanx.eval" not in graph["flanx.infer"] | graph["flanx.generate"], graph

  def reaches(start, target, seen=()):
    return any(n == target or (n not in seen and reaches(n, target, (*seen, n))) for n in graph[start])
  assert not [m for m in COMMAND_MODULES if reaches(m, m)], graph


def test_importing_infer_and_generate_loads_no_other_command():
  code = ("import sys, flanx.infer, flanx.generate\n"
          "print('LOADED', sorted(m for m in ('flanx.eval', 'flanx.train') if m in sys.modules))\n")
  out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
  assert out.returncode == 0, out.stderr[-2000:]
  assert "LOADED []" in out.stdout


def test_outputs_are_as_readable_as_their_directory(tmp_path):
  from flanx.evaluation.results import write_atomic
  tmp_path.chmod(0o750)
  write_atomic(tmp_path / "x.json", "{}")
  assert (tmp_path / "x.json").stat().st_mode & 0o040  # group-readable like MODEL_DIR


def test_data_status_lists_the_held_out_benchmarks(tmp_path, monkeypatch):
  from flanx import data_dir, data_status
  monkeypatch.setattr(data_dir, "_installed", None)  # an earlier command in this process may have installed one
  (tmp_path / "mmlu" / "data").mkdir(parents=True)
  (tmp_path / "mmlu" / "data" / "x.csv").write_text("q,a,b,c,d,A\n")
  (tmp_path / "bbh" / "bbh").mkdir(parents=True)  # empty: not present
  monkeypatch.setenv("FLANX_DATA_DIR", str(tmp_path))
  rows = {name: present for family, name, present, _ in data_status.held_out() if family == "held-out"}
  assert rows["MMLU"] and not rows["BBH"] and not rows["TyDiQA-GoldP"] and set(rows) >= {"MGSM"}


def test_show_predictions_without_a_validation_split_is_skipped_with_a_warning():
  import seqio
  import tensorflow as tf
  import tasks  # noqa: F401  registers the seqio tasks
  name = "bad_inputs_train_only"
  if name not in seqio.TaskRegistry.names():
    seqio.TaskRegistry.add(name, source=seqio.FunctionDataSource(
        lambda split, shuffle_files, seed=None: tf.data.Dataset.from_tensors({"inputs": "a", "targets": "b"}),
        splits=("train",)), output_features={})
  from flanx.input import seqio_source
  assert not seqio_source.has_split(name, "validation")
  assert seqio_source.has_split("flanx_demo", "validation")


def test_repeated_absl_warnings_are_shown_once(caplog):
  import logging
  from flanx import quiet
  quiet.once_per_message()
  logger = logging.getLogger("absl")
  with caplog.at_level(logging.WARNING, logger="absl"):
    for _ in range(3):
      logger.warning("the same warning")
    logger.warning("another warning")
    # seqio's eval-length advice, which the evaluation's lengths table replaces, is dropped
    logger.warning("Given sequence lengths are longer than necessary for some evaluation inputs or targets, "
                   "resulting in wasted computation.\n Got: %s,\n Max Lengths: %s", {"inputs": 8}, {"inputs": 4})
  assert [r.getMessage() for r in caplog.records] == ["the same warning", "another warning"]


def test_ctrl_c_outside_the_training_loop_is_one_line(capsys):
  def interrupted(argv):
    raise KeyboardInterrupt
  assert cli.run(interrupted, [], prog="flanx train") == 130
  assert capsys.readouterr().err.strip() == "flanx train: interrupted"


def test_convert_out_under_a_regular_file(run_dir, tmp_path, capsys):
  (tmp_path / "file").write_text("x")
  rc = cli.main(["convert", "to-hf", "--checkpoint", str(run_dir), "--out", str(tmp_path / "file" / "hf")])
  assert "is under the regular file" in _one_line(capsys, rc)
