"""`flanx generate` and `flanx score`: prompts through a checkpoint, configured by the run's saved config.gin.

  flanx generate --checkpoint runs/demo --input prompts.txt --output out.jsonl [--max_new_tokens 64]
      [--temperature 0] [--top_k 0] [--top_p 1] [--beam_size 1] [--num_samples 1]
  flanx score --checkpoint runs/demo --input pairs.jsonl     # lines {"input": ..., "target": ...}

generate writes one JSON object per prompt line: {"prompt", "outputs", "scores"} (scores: summed
log-probabilities; for beam search the length-penalised beam scores). score prints one JSON object per pair
with its "log_likelihood".
"""

import argparse
import json
import pathlib
from collections.abc import Sequence

import gin
import numpy as np

from flanx import decoding, eval as eval_lib
from flanx.errors import FlanxError

TAKES_COMMAND_NAME = True


@gin.configurable("flanx_generate")
def configured_model(model=gin.REQUIRED):
  return model


def load(checkpoint: str, lengths: dict[str, int]) -> eval_lib.Loaded:
  """The model and vocabulary of the checkpoint's saved config.gin, with its parameters restored."""
  eval_lib.parse_with_saved_config([], ["flanx_generate.model = %MODEL"], checkpoint)
  model = configured_model()
  return eval_lib.restore(model, checkpoint, lengths)


def _encode(vocabulary, texts: Sequence[str], eos: bool = True) -> list[list[int]]:
  return [list(vocabulary.encode(t)) + ([vocabulary.eos_id] if eos else []) for t in texts]


def _pad(rows: list[list[int]], width: int | None = None) -> np.ndarray:
  width = width or max(len(r) for r in rows)
  out = np.zeros((len(rows), width), np.int32)
  for i, r in enumerate(rows):
    out[i, :len(r)] = r[:width]
  return out


def _read_lines(path: str) -> list[str]:
  p = pathlib.Path(path)
  if not p.is_file():
    raise FlanxError(f"input file {path} does not exist")
  return [line for line in p.read_text(encoding="utf-8").splitlines() if line.strip()]


def generate(args) -> int:
  prompts = [line.replace("\\n", "\n") for line in _read_lines(args.input)]
  if not prompts:
    raise FlanxError(f"{args.input} has no prompts")
  if args.beam_size > 1 and (args.num_samples > 1 or args.temperature > 0):
    raise FlanxError("--beam_size > 1 is deterministic; leave --temperature 0 and --num_samples 1")
  sampling = decoding.Sampling(args.temperature, args.top_k, args.top_p)  # validates the flags
  from flanx import vocab  # noqa: PLC0415
  loaded = load(args.checkpoint, {"inputs": 8, "targets": args.max_new_tokens})
  vocabulary = loaded.model.vocabulary
  vocab.use(vocabulary)
  inputs = _pad(_encode(vocabulary, prompts))
  if args.beam_size > 1:
    out = loaded.decoder.beam_search(loaded.params, inputs, args.max_new_tokens, args.beam_size)
  else:
    out = loaded.decoder.generate(loaded.params, inputs, args.max_new_tokens, sampling, args.num_samples, args.seed)
  lines = [json.dumps({"prompt": p, "outputs": [vocabulary.decode(decoding.trim(t, vocabulary.eos_id)) for t in tokens],
                       "scores": [float(s) for s in scores]}, ensure_ascii=False)
           for p, tokens, scores in zip(prompts, out.tokens, out.scores)]
  from flanx.evaluation.results import write_atomic  # noqa: PLC0415
  write_atomic(pathlib.Path(args.output), "\n".join(lines) + "\n")
  print(f"flanx: {len(prompts)} prompts -> {args.output}")
  return 0


def score(args) -> int:
  pairs = []
  for n, line in enumerate(_read_lines(args.input), 1):
    try:
      row = json.loads(line)
      pairs.append((row["input"], row["target"]))
    except (json.JSONDecodeError, KeyError, TypeError) as e:
      raise FlanxError(f"{args.input}:{n}: expected a JSON object with 'input' and 'target' ({e})") from e
  loaded = load(args.checkpoint, {"inputs": 8, "targets": 8})
  vocabulary = loaded.model.vocabulary
  batch = decoding.teacher_forced(loaded.model, _pad(_encode(vocabulary, [i for i, _ in pairs])),
                                  _pad(_encode(vocabulary, [t for _, t in pairs])))
  for (i, t), ll in zip(pairs, loaded.decoder.score(loaded.params, batch)):
    print(json.dumps({"input": i, "target": t, "log_likelihood": float(ll)}, ensure_ascii=False))
  return 0


def main(argv: Sequence[str]) -> int:
  command, *rest = argv
  parser = argparse.ArgumentParser(prog=f"flanx {command}", description=__doc__.splitlines()[0])
  parser.add_argument("--checkpoint", required=True, help="a checkpoint_<step> directory or a MODEL_DIR")
  parser.add_argument("--input", required=True)
  if command == "generate":
    parser.add_argument("--output", required=True)
    parser.add_argument("--max_new_tokens", type=int, default=64)
    parser.add_argument("--temperature", type=float, default=0.0)
    parser.add_argument("--top_k", type=int, default=0)
    parser.add_argument("--top_p", type=float, default=1.0)
    parser.add_argument("--beam_size", type=int, default=1)
    parser.add_argument("--num_samples", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
  args = parser.parse_args(rest)
  return generate(args) if command == "generate" else score(args)
