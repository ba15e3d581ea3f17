"""`flanx generate` and `score` on a checkpoint made by `flanx convert from-hf`."""

import json

from flanx import cli
from tests.hf.conftest import make_hf_dir


def test_generate_and_score_a_converted_checkpoint(tmp_path, capsys):
  hf = make_hf_dir(tmp_path / "hf", vocab_size=384)  # room for the byte vocabulary's 259 ids
  out = tmp_path / "converted"
  assert cli.main(["convert", "from-hf", "--hf_dir", str(hf), "--out", str(out)]) == 0
  printed = capsys.readouterr().out
  assert "has no spiece.model: the converted model uses T5's SentencePiece vocabulary" in printed
  assert "uses T5's SentencePiece vocabulary" in (out / "model.gin").read_text()
  # No SentencePiece model shipped: pick the vocabulary with a gin file next to the converted model.gin.
  byte_gin = tmp_path / "byte.gin"
  byte_gin.write_text("VOCABULARY = @vocab.byte()\n")
  prompts = tmp_path / "prompts.txt"
  prompts.write_text("copy: abc\n")
  gin_files = ["--gin_file", str(out / "model.gin"), "--gin_file", str(byte_gin)]
  rc = cli.main(["generate", "--checkpoint", str(out), "--input", str(prompts), "--output", str(tmp_path / "o.jsonl"),
                 "--max_new_tokens", "3", *gin_files])
  assert rc == 0, capsys.readouterr().err
  row = json.loads((tmp_path / "o.jsonl").read_text())
  assert row["prompt"] == "copy: abc" and len(row["outputs"]) == 1
  pairs = tmp_path / "pairs.jsonl"
  pairs.write_text('{"input": "copy: abc", "target": "abc"}\n')
  capsys.readouterr()
  assert cli.main(["score", "--checkpoint", str(out), "--input", str(pairs), *gin_files]) == 0
  scored = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
  assert scored["log_likelihood"] < 0
