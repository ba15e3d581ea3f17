"""eval / generate / score command lines on a tiny checkpoint trained for a few steps."""

import json

import pytest

from tests.helpers import REPO_ROOT, gin_train
from flanx import cli
import flanx.infer  # noqa: F401  registers InferConfig before any test locks gin's registry

FIXTURES = REPO_ROOT / "tasks" / "evals" / "fixtures"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
  model_dir = tmp_path_factory.mktemp("run")
  gin_train(model_dir, "TRAIN_STEPS = 3", "CHECKPOINT_PERIOD = 3", "BATCH_SIZE = 8")
  assert (model_dir / "checkpoint_3" / "params").is_dir() and (model_dir / "config.gin").is_file()
  return model_dir


def test_eval_writes_results_and_table(run_dir, monkeypatch, capsys):
  from flanx.evaluation import evaluator
  monkeypatch.setenv("FLANX_DATA_DIR", str(FIXTURES))
  evaluated = []  # the settings of each suite evaluated, in order
  real = evaluator.evaluate
  monkeypatch.setattr(evaluator, "evaluate", lambda suite, *a, **k: (
      evaluated.append([s.name for s in suite.settings]), real(suite, *a, **k))[1])
  # A list of suites (as T5X users write list macros): each in turn into one eval/<step>/, a shared setting once.
  rc = cli.main(["eval", "--gin_file=gin/runs/eval.gin", f"--gin.CHECKPOINT_PATH='{run_dir / 'checkpoint_3'}'",
                 "--gin.EVAL_SUITE=['mmlu_direct', 'flan_heldout']",
                 "--gin.EVAL_NUM_EXAMPLES=1", "--gin.EVAL_FEATURE_LENGTHS={'inputs': 512, 'targets': 8}"])
  assert rc == 0
  assert evaluated[0] == ["mmlu_direct"] and "mmlu_direct" not in evaluated[1] and len(evaluated) == 2, evaluated
  out_dir = run_dir / "eval" / "3"
  results = json.loads((out_dir / "results.json").read_text())
  assert results["suites"] == ["mmlu_direct", "flan_heldout"] and "mmlu_direct" in results["settings"]
  assert set(results["table5"]) >= {"MMLU-Direct", "MGSM", "Norm. avg"} or len(results["table5"]) == 7
  assert results["table5"][next(iter(results["table5"]))] is not None
  assert (out_dir / "predictions").is_dir()
  assert "Norm. avg" in capsys.readouterr().out


def test_eval_unknown_suite_is_one_line(run_dir, capsys):
  rc = cli.main(["eval", "--gin_file=gin/runs/eval.gin", f"--gin.CHECKPOINT_PATH='{run_dir}'",
                 "--gin.EVAL_SUITE='mmlu_drect'"])
  err = capsys.readouterr().err.strip()
  assert rc == 2 and len(err.splitlines()) == 1 and "mmlu_direct" in err


def test_eval_mismatched_checkpoint_names_the_parameter(run_dir, capsys):
  rc = cli.main(["eval", "--gin_file=gin/runs/eval.gin", "--gin_file=gin/models/t5_1_1/tiny.gin",
                 "--gin.VOCABULARY=@vocab.byte()", "--gin.NUM_EMBEDDINGS=512", f"--gin.CHECKPOINT_PATH='{run_dir}'"])
  err = capsys.readouterr().err.strip()
  assert rc == 2 and len(err.splitlines()) == 1, err
  assert "token_embedder/embedding" in err or "logits_dense" in err, err
  assert "(384, 64)" in err or "(64, 384)" in err, err


def test_generate_and_score(run_dir, tmp_path, capsys):
  prompts = tmp_path / "prompts.txt"
  prompts.write_text("copy: abc\nreverse: xyz\n")
  out = tmp_path / "new" / "out.jsonl"  # a missing directory is made
  rc = cli.main(["generate", "--checkpoint", str(run_dir), "--input", str(prompts), "--output", str(out),
                 "--max_new_tokens", "6", "--temperature", "0.8", "--top_k", "5", "--num_samples", "2"])
  assert rc == 0
  rows = [json.loads(line) for line in out.read_text().splitlines()]
  assert [r["prompt"] for r in rows] == ["copy: abc", "reverse: xyz"]
  assert all(len(r["outputs"]) == 2 and len(r["scores"]) == 2 for r in rows)
  rc = cli.main(["generate", "--checkpoint", str(run_dir), "--input", str(prompts), "--output", str(out),
                 "--max_new_tokens", "6", "--beam_size", "3"])
  assert rc == 0 and all(len(json.loads(line)["outputs"]) == 3 for line in out.read_text().splitlines())
  assert [p.name for p in out.parent.iterdir()] == ["out.jsonl"]  # replaced whole: no temporary file left

  assert "flanx: float32 activations (the model file's ACTIVATION_DTYPE" in capsys.readouterr().err

  pairs = tmp_path / "pairs.jsonl"
  pairs.write_text('{"input": "copy: abc", "target": "abc"}\n{"input": "copy: abc", "target": "abcabcabc"}\n')
  assert cli.main(["score", "--checkpoint", str(run_dir), "--input", str(pairs)]) == 0
  scored = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
  assert len(scored) == 2 and all(s["log_likelihood"] < 0 for s in scored)
  assert scored[0]["log_likelihood"] > scored[1]["log_likelihood"]  # three more tokens cost probability
  # --activation_dtype overrides the model file's dtype: the same targets, scored in bfloat16, differ a little
  assert cli.main(["score", "--checkpoint", str(run_dir), "--input", str(pairs), "--activation_dtype", "bfloat16"]) == 0
  captured = capsys.readouterr()
  assert "flanx: bfloat16 activations" in captured.err
  in_bf16 = [json.loads(line) for line in captured.out.splitlines() if line.startswith("{")]
  assert [s["log_likelihood"] for s in in_bf16] != [s["log_likelihood"] for s in scored]
  assert abs(in_bf16[0]["log_likelihood"] - scored[0]["log_likelihood"]) < 0.5


def test_infer_writes_one_jsonl_per_task(run_dir, tmp_path, capsys):
  out_dir = tmp_path / "infer"
  rc = cli.main(["infer", "--gin_file=gin/runs/infer.gin", f"--gin.CHECKPOINT_PATH='{run_dir}'",
                 "--gin.MIXTURE_OR_TASK_NAME='flanx_demo'", f"--gin.INFER_OUTPUT_DIR='{out_dir}'",
                 "--gin.INFER_NUM_EXAMPLES=3", "--gin.INFER_FEATURE_LENGTHS={'inputs': 32, 'targets': 6}"])
  assert rc == 0, capsys.readouterr().err
  files = sorted(out_dir.iterdir())
  assert len(files) >= 2 and all(f.name.endswith("-3.jsonl") for f in files)  # one per task of the mixture
  assert not [f for f in out_dir.iterdir() if f.name.startswith(".")]  # no temp file left behind
  rows = [json.loads(line) for line in files[0].read_text().splitlines()]
  assert len(rows) == 3 and all(set(r) == {"inputs", "prediction", "target"} for r in rows)
  assert all(r["inputs"] and len(r["prediction"].encode()) <= 6 for r in rows)


def test_infer_unknown_task_is_one_line(run_dir, tmp_path, capsys):
  rc = cli.main(["infer", "--gin_file=gin/runs/infer.gin", f"--gin.CHECKPOINT_PATH='{run_dir}'",
                 "--gin.MIXTURE_OR_TASK_NAME='flanx_dem'", f"--gin.INFER_OUTPUT_DIR='{tmp_path}'"])
  err = capsys.readouterr().err.strip()
  assert rc == 2 and len(err.splitlines()) == 1 and "flanx_demo" in err, err
