"""The tiny PaLM-style model through the whole path: gin training, cached decoding, predict, eval, infer, score."""

import json

import jax
import numpy as np
import pytest

import flanx.infer  # noqa: F401  registers InferConfig before any test locks gin's registry
from flanx import cli, decoding, gin_config, predict
from flanx import generate as generate_lib
from tests.helpers import DEMO_LENGTHS, REPO_ROOT, gin_train

FIXTURES = REPO_ROOT / "tasks" / "evals" / "fixtures"
MAX_LENGTH = DEMO_LENGTHS["targets"]  # predict() decodes this long too: one compilation serves both


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
  model_dir = tmp_path_factory.mktemp("palm")
  gin_train(model_dir, "TRAIN_STEPS = 3", "CHECKPOINT_PERIOD = 3", "BATCH_SIZE = 8", gin_file="runs/demo_palm.gin")
  assert "DecoderOnlyModel" in (model_dir / "config.gin").read_text()
  return model_dir


@pytest.fixture(scope="module")
def loaded(run_dir):
  return generate_lib.load(str(run_dir), DEMO_LENGTHS)


def test_dropout_rate_comes_from_the_run():
  import gin
  from flanx.models import DecoderOnlyModel
  gin_config.parse(["runs/demo_palm.gin"], ["DROPOUT_RATE = 0.1"])
  assert gin.get_configurable(DecoderOnlyModel)().config.dropout_rate == 0.1
  gin.clear_config()


def _uncached_greedy(model, params, inputs: np.ndarray) -> np.ndarray:
  """Greedy decoding by a full prefix-LM forward pass over inputs + the outputs so far, at every step."""
  logits = jax.jit(model.logits)
  out = np.zeros((len(inputs), MAX_LENGTH), np.int32)
  done = np.zeros(len(inputs), bool)
  for p in range(MAX_LENGTH):
    targets = out.copy()  # a fixed width, so the forward pass compiles once
    targets[:, p] = 7  # a placeholder for output p: the prediction at its slot cannot see it
    batch = decoding.teacher_forced(model, inputs, targets)
    position = batch["decoder_loss_weights"].argmax(1) + p  # the slot whose prediction is output p
    step = np.asarray(logits(params, batch))[np.arange(len(inputs)), position].argmax(-1)
    out[:, p] = np.where(done, 0, step)
    done |= out[:, p] == model.vocabulary.eos_id
  return out


def test_cached_greedy_equals_uncached_and_predict_decodes(loaded):
  exs = predict.examples("flanx_demo_copy", "validation", DEMO_LENGTHS, 4)
  inputs = np.zeros((4, DEMO_LENGTHS["inputs"]), np.int32)
  for i, ex in enumerate(exs):
    inputs[i, :len(ex["inputs"])] = ex["inputs"]
  decoded = loaded.decoder.generate(loaded.params, inputs, MAX_LENGTH)
  host = jax.device_get(loaded.params)
  np.testing.assert_array_equal(decoded.tokens[:, 0], _uncached_greedy(loaded.model, host, inputs))
  # The decoder's score of its own output is the log-probability it reported while decoding.
  scored = loaded.decoder.score(loaded.params, decoding.teacher_forced(loaded.model, inputs, decoded.tokens[:, 0]))
  np.testing.assert_allclose(scored, decoded.scores[:, 0], rtol=1e-4, atol=1e-4)
  predictions = predict.predict(loaded.decoder, loaded.params, DEMO_LENGTHS, "flanx_demo", "validation", 5, 4)
  assert len(predictions) == 5 and all(p.inputs and p.target for p in predictions)


def test_eval_infer_and_score_commands(run_dir, tmp_path, monkeypatch, capsys):
  monkeypatch.setenv("FLANX_DATA_DIR", str(FIXTURES))
  rc = cli.main(["eval", "--gin_file=gin/runs/eval.gin", f"--gin.CHECKPOINT_PATH='{run_dir}'",
                 "--gin.EVAL_SUITE='mmlu'", "--gin.EVAL_NUM_EXAMPLES=1",
                 "--gin.EVAL_FEATURE_LENGTHS={'inputs': 512, 'targets': 8}"])
  assert rc == 0, capsys.readouterr().err
  results = json.loads((run_dir / "eval" / "3" / "results.json").read_text())
  assert results["table5"]["MMLU-Direct"] is not None and results["table5"]["MMLU-CoT"] is not None

  out_dir = tmp_path / "infer"
  rc = cli.main(["infer", "--gin_file=gin/runs/infer.gin", f"--gin.CHECKPOINT_PATH='{run_dir}'",
                 "--gin.MIXTURE_OR_TASK_NAME='flanx_demo_reverse'", f"--gin.INFER_OUTPUT_DIR='{out_dir}'",
                 "--gin.INFER_NUM_EXAMPLES=2", "--gin.INFER_FEATURE_LENGTHS={'inputs': 32, 'targets': 6}"])
  assert rc == 0, capsys.readouterr().err
  rows = [json.loads(line) for line in (out_dir / "flanx_demo_reverse-3.jsonl").read_text().splitlines()]
  assert len(rows) == 2 and all(set(r) == {"inputs", "prediction", "target"} for r in rows)

  pairs = tmp_path / "pairs.jsonl"
  pairs.write_text('{"input": "copy: abc", "target": "abc"}\n{"input": "copy: abc", "target": "abcabcabc"}\n')
  capsys.readouterr()
  assert cli.main(["score", "--checkpoint", str(run_dir), "--input", str(pairs)]) == 0
  scored = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
  assert len(scored) == 2 and scored[0]["log_likelihood"] > scored[1]["log_likelihood"]
