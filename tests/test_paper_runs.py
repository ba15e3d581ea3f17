"""The paper's run files (gin/runs/flan_t5_*.gin, flan_palm_*.gin): what they require and how they select
checkpoints. Parsing only; nothing is trained."""

import gin
import jax
import pytest

from flanx import gin_config
from flanx.errors import FlanxError
from tests.pod.test_plan import PAPER_RUNS


@pytest.mark.parametrize("run", PAPER_RUNS)
def test_a_paper_run_without_its_starting_checkpoint_is_one_error_line(run):
  with pytest.raises(FlanxError) as e:
    gin_config.parse([f"runs/{run}.gin"], ["MODEL_DIR='/tmp/x'"])
  message = str(e.value)
  assert "\n" not in message
  assert message.startswith("INITIAL_CHECKPOINT_PATH is required: a paper run starts from a pretrained checkpoint")
  assert "--gin.INITIAL_CHECKPOINT_PATH=None to train from random initialisation on purpose" in message


def test_a_paper_run_trains_from_scratch_only_when_told_to():
  gin_config.parse(["runs/flan_t5_small.gin"], ["MODEL_DIR='/tmp/x'", "INITIAL_CHECKPOINT_PATH=None"])
  assert gin.query_parameter("%INITIAL_CHECKPOINT_PATH") is None
  gin_config.parse(["runs/flan_t5_small.gin"], ["MODEL_DIR='/tmp/x'", "INITIAL_CHECKPOINT_PATH='/ckpt/checkpoint_0'"])
  assert gin.query_parameter("%INITIAL_CHECKPOINT_PATH") == "/ckpt/checkpoint_0"


def test_other_run_files_still_default_to_no_starting_checkpoint():
  gin_config.parse(["runs/finetune.gin", "models/t5_1_1/tiny.gin"], ["MODEL_DIR='/tmp/x'",
                                                                      "MIXTURE_OR_TASK_NAME='flanx_demo'"])
  assert gin.query_parameter("%INITIAL_CHECKPOINT_PATH") is None


@pytest.mark.parametrize("run", PAPER_RUNS)
def test_paper_runs_evaluate_held_out_at_the_papers_cadence(run):
  gin_config.parse([f"runs/{run}.gin"], ["MODEL_DIR='/tmp/x'", "INITIAL_CHECKPOINT_PATH=None"])
  period, steps = gin.query_parameter("%EVAL_PERIOD"), gin.query_parameter("%TRAIN_STEPS")
  assert 2_000 <= period <= 10_000 and period % gin.query_parameter("%CHECKPOINT_PERIOD") == 0
  assert steps // period >= 5  # enough evaluations to choose from
  assert gin.query_parameter("%EVAL_SUITE") == "flan_heldout"


# Held-out normalised averages a fake evaluator reports per step: step 4 is the best.
SCORES = {2: 5.0, 4: 9.0, 6: 3.0, 8: 1.0}


def test_training_keeps_the_best_evaluated_step_apart_from_the_rotation(tmp_path, monkeypatch, capsys):
  from flanx import best_checkpoint, checkpoints, heldout
  from flanx.evaluation.suite import NORM_AVG_COLUMN
  from tests.helpers import gin_train

  suites = []
  monkeypatch.setattr(heldout, "training_evaluator", lambda suite, **kw: (
      suites.append(suite), lambda step, trainer, params: {"MMLU-Direct": SCORES[step], NORM_AVG_COLUMN: SCORES[step]}
  )[1])
  run = gin_train(tmp_path, "BATCH_SIZE = 8", "TASK_FEATURE_LENGTHS = {'inputs': 16, 'targets': 8}", "TRAIN_STEPS = 8",
                  "CHECKPOINT_PERIOD = 2", "KEEP_CHECKPOINTS = 1", "EVAL_PERIOD = 2",
                  "EVAL_SUITE = ['mmlu_direct', 'bbh_direct']", "train.async_checkpointing = False")
  assert [list(s) for s in suites] == [["mmlu_direct", "bbh_direct"]]  # a list of suites reaches the evaluator
  assert run.checkpoint_steps == [8]  # the rotation kept only the newest ...
  best = best_checkpoint.read(tmp_path)
  assert best["step"] == 4 and best["score"] == 9.0 and best["over"] == ["MMLU-Direct"]
  assert best["scores"] == {str(s): v for s, v in SCORES.items()}
  assert sorted(p.name for p in (tmp_path / "best").glob("checkpoint_*")) == ["checkpoint_4"]  # ... and the best
  kept = checkpoints.load_params_numpy(str(tmp_path / "best" / "checkpoint_4"))
  newest = checkpoints.load_params_numpy(str(tmp_path / "checkpoint_8"))
  assert checkpoints.locate(str(tmp_path / "best" / "checkpoint_4")).step == 4
  assert any(not (a == b).all() for a, b in zip(jax.tree.leaves(kept), jax.tree.leaves(newest)))  # step 4's, not 8's
  assert "step 4 is the best so far" in capsys.readouterr().out
  # `flanx eval` on the kept checkpoint finds its model definition beside it.
  assert (tmp_path / "best" / "config.gin").read_text() == (tmp_path / "config.gin").read_text()


def test_eval_reports_the_best_evaluated_step(tmp_path):
  from flanx import best_checkpoint
  from flanx.evaluation import results
  from flanx.evaluation.suite import NORM_AVG_COLUMN

  assert best_checkpoint.report(tmp_path) is None
  for step, score in ((2000, 10.0), (4000, 12.5), (6000, 12.5), (8000, 11.0)):
    directory = results.eval_dir(tmp_path, step)
    directory.mkdir(parents=True)
    results.write_results(directory, {"step": step, "table5": {NORM_AVG_COLUMN: score}, "settings": {}})
  line = best_checkpoint.report(tmp_path)
  assert line.startswith(f"flanx: best step by held-out {NORM_AVG_COLUMN}: 4000 (12.5)")  # the earlier of a tie
  assert "2000: 10.0, 4000: 12.5, 6000: 12.5, 8000: 11.0" in line
