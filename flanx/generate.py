"""`flanx generate` and `flanx score`: prompts through a checkpoint, configured by the run's saved config.gin.

  flanx generate --checkpoint runs/demo --input prompts.txt --output out.jsonl [--max_new_tokens 64]
      [--temperature 0] [--top_k 0] [--top_p 1] [--beam_size 1] [--num_samples 1]
  flanx score --checkpoint runs/demo --input pairs.jsonl     # lines {"input": ..., "target": ...}

The model and vocabulary come from the checkpoint directory's config.gin (written by training) or model.gin
(written by `flanx convert from-hf`), or from --gin_file (a model gin file, repeatable).
generate writes one JSON object per prompt line: {"prompt", "outputs", "scores"} (scores: summed
log-probabilities; for beam search the length-penalised beam scores). score prints one JSON object per pair
with its "log_likelihood".
"""

import argparse
import json
import pathlib
import sys
from collections.abc import Sequence

import gin  # light: the heavy imports (jax, the model) wait until a command runs

from flanx import errors, host_memory, storage
from flanx.errors import FlanxError

TAKES_COMMAND_NAME = True

INPUT_FORMATS = {
    "generate": "--input: a UTF-8 text file, one prompt per line (blank lines skipped; write a newline inside a "
                "prompt as \\n). --output: JSON lines "
                "{\"prompt\", \"outputs\": [text, ...], \"scores\": [float, ...]}.",
    "score": "--input: a UTF-8 JSON-lines file, one object per line with string fields \"input\" and \"target\", "
             "e.g. {\"input\": \"copy: abc\", \"target\": \"abc\"}. Prints one JSON object per line with its "
             "\"log_likelihood\" (summed over the target's tokens, EOS included).",
}


@gin.configurable("flanx_generate")
def configured_model(model=gin.REQUIRED):
  return model


ACTIVATION_DTYPES = ("float32", "bfloat16")


def configured(checkpoint: str, gin_files: Sequence[str] = (), activation_dtype: str | None = None):
  """The model and vocabulary of --gin_file, else of the checkpoint's saved config.gin or model.gin; with
  `activation_dtype`, computing in that dtype instead of the one the model file names (ACTIVATION_DTYPE)."""
  from flanx import gin_config
  bindings = ["flanx_generate.model = %MODEL"]
  if activation_dtype is not None:  # scoped as a saved config.gin binds it, so it wins over that binding
    bindings += [f"MODEL/{family}.dtype = '{activation_dtype}'" for family in ("T5Config", "PaLMConfig")]
  gin_config.parse_with_saved_model(gin_files, bindings, checkpoint, name="--checkpoint")
  model = gin_config.call(configured_model)
  print(f"flanx: {model.config.dtype} activations"
        + ("" if activation_dtype else " (the model file's ACTIVATION_DTYPE; --activation_dtype to change)"),
        file=sys.stderr, flush=True)
  return model


def load(checkpoint: str, lengths: dict[str, int], gin_files: Sequence[str] = (), model=None,
         activation_dtype: str | None = None):
  """`configured` (or `model`) with the checkpoint's parameters restored (a checkpoints.Loaded)."""
  from flanx import checkpoints
  model = configured(checkpoint, gin_files, activation_dtype) if model is None else model
  return checkpoints.restore_for_inference(model, checkpoint, lengths, name="--checkpoint")


def _longest(rows: Sequence[Sequence[int]]) -> int:
  """The index of the longest row (the first of equals)."""
  return max(range(len(rows)), key=lambda i: len(rows[i]))


def _encode(vocabulary, texts: Sequence[str], eos: bool = True) -> list[list[int]]:
  return [list(vocabulary.encode(t)) + ([vocabulary.eos_id] if eos else []) for t in texts]


def _read_lines(path: str) -> list[str]:
  p = pathlib.Path(path)
  if not p.is_file():
    raise FlanxError(f"--input {path} " + ("is a directory" if p.is_dir() else "does not exist"))
  try:
    text = p.read_text(encoding="utf-8")
  except UnicodeDecodeError as e:
    line = p.read_bytes()[:e.start].count(b"\n") + 1
    raise FlanxError(f"--input {path}:{line}: not UTF-8 text (byte {e.object[e.start]:#04x}); save the file as "
                     f"UTF-8") from None
  return [line for line in text.splitlines() if line.strip()]


def generate(args) -> int:
  prompts = [line.replace("\\n", "\n") for line in _read_lines(args.input)]
  if not prompts:
    raise FlanxError(f"{args.input} has no prompts")
  if args.beam_size > 1 and (args.num_samples > 1 or args.temperature > 0):
    raise FlanxError("--beam_size > 1 is deterministic; leave --temperature 0 and --num_samples 1")
  from flanx import decoding
  sampling = decoding.Sampling(args.temperature, args.top_k, args.top_p)  # validates the flags
  output = pathlib.Path(args.output).absolute()
  storage.writable_file("--output", args.output)  # an existing file is replaced, whole; a missing directory made
  errors.output_outside("--output", args.output, inputs={"--input": args.input}, runs=[args.checkpoint])
  storage.require_room("--output", output.parent,
                       sum(len(json.dumps(p, ensure_ascii=False).encode("utf-8")) for p in prompts),
                       "the prompts it repeats alone")
  model = configured(args.checkpoint, args.gin_file, args.activation_dtype)
  vocabulary = model.vocabulary  # the checkpoint's own (its config.gin): prompts need no task registry
  encoded = _encode(vocabulary, prompts)
  longest = _longest(encoded)
  host_memory.check_fits(model.config, len(encoded) * max(args.beam_size, args.num_samples), len(encoded[longest]),
                         args.max_new_tokens, f"--max_new_tokens={args.max_new_tokens} with the longest prompt "
                         f"(prompt {longest + 1} of --input, {len(encoded[longest]):,} tokens) to decode",
                         "give fewer new tokens or shorter or fewer prompts")
  loaded = load(args.checkpoint, {"inputs": 8, "targets": args.max_new_tokens}, model=model)
  inputs = decoding.token_rows(encoded)
  if args.beam_size > 1:
    out = loaded.decoder.beam_search(loaded.params, inputs, args.max_new_tokens, args.beam_size)
  else:
    out = loaded.decoder.generate(loaded.params, inputs, args.max_new_tokens, sampling, args.num_samples, args.seed)
  lines = [json.dumps({"prompt": p, "outputs": [vocabulary.decode(decoding.trim(t, vocabulary.eos_id)) for t in tokens],
                       "scores": [float(s) for s in scores]}, ensure_ascii=False)
           for p, tokens, scores in zip(prompts, out.tokens, out.scores)]
  storage.write_atomic(output, "\n".join(lines) + "\n", name="--output")
  print(f"flanx: {len(prompts)} prompts -> {args.output}")
  return 0


def score(args) -> int:
  pairs = []
  for n, line in enumerate(_read_lines(args.input), 1):
    try:
      row = json.loads(line)
      pairs.append((row["input"], row["target"]))
      if not all(isinstance(v, str) for v in pairs[-1]):
        raise TypeError("'input' and 'target' must be strings")
    except (json.JSONDecodeError, KeyError, TypeError) as e:
      raise FlanxError(f"{args.input}:{n}: expected a JSON object with 'input' and 'target' ({e})") from e
  if not pairs:
    raise FlanxError(f"{args.input} has no input/target pairs")
  from flanx import decoding
  model = configured(args.checkpoint, args.gin_file, args.activation_dtype)
  inputs = _encode(model.vocabulary, [i for i, _ in pairs])
  targets = _encode(model.vocabulary, [t for _, t in pairs])
  longest_input, longest_target = _longest(inputs), _longest(targets)
  count = f"{len(inputs):,} pair" + "s" * (len(inputs) != 1)
  host_memory.check_fits(model.config, len(inputs), len(inputs[longest_input]), len(targets[longest_target]),
                         f"scoring {count} of --input (longest input: pair {longest_input + 1}, "
                         f"{len(inputs[longest_input]):,} tokens; longest target: pair {longest_target + 1}, "
                         f"{len(targets[longest_target]):,} tokens)", "score fewer or shorter pairs at a time",
                         scoring=True)  # all of --input is one batch
  loaded = load(args.checkpoint, {"inputs": 8, "targets": 8}, model=model)
  batch = decoding.teacher_forced(loaded.model, decoding.token_rows(inputs), decoding.token_rows(targets))
  for (i, t), ll in zip(pairs, loaded.decoder.score(loaded.params, batch)):
    print(json.dumps({"input": i, "target": t, "log_likelihood": float(ll)}, ensure_ascii=False))
  return 0


def _at_least(minimum: int):
  def parse(text: str) -> int:
    try:
      value = int(text)
    except ValueError:
      raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < minimum:
      raise argparse.ArgumentTypeError(f"{value} must be at least {minimum}")
    return value
  return parse


def parser(command: str) -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(prog=f"flanx {command}", description=__doc__.splitlines()[0],
                                   epilog=INPUT_FORMATS[command])
  parser.add_argument("--checkpoint", required=True,
                      help="a checkpoint_<step> directory, a MODEL_DIR, or a `flanx convert from-hf` --out directory")
  parser.add_argument("--input", required=True, help="see the file format below")
  parser.add_argument("--gin_file", action="append", default=[],
                      help="a model gin file (defines MODEL) instead of the checkpoint's config.gin/model.gin")
  parser.add_argument("--activation_dtype", choices=ACTIVATION_DTYPES,
                      help="compute in this dtype (default: the model file's ACTIVATION_DTYPE, which `flanx convert "
                           "from-hf` takes from config.json)")
  if command == "generate":
    parser.add_argument("--output", required=True, help="JSON-lines file to write (whole or not at all)")
    parser.add_argument("--max_new_tokens", type=_at_least(1), default=64)
    parser.add_argument("--temperature", type=float, default=0.0)
    parser.add_argument("--top_k", type=_at_least(0), default=0)
    parser.add_argument("--top_p", type=float, default=1.0)
    parser.add_argument("--beam_size", type=_at_least(1), default=1)
    parser.add_argument("--num_samples", type=_at_least(1), default=1)
    parser.add_argument("--seed", type=int, default=0)
  return parser


def main(argv: Sequence[str]) -> int:
  command, *rest = argv
  args = parser(command).parse_args(rest)
  errors.no_empty_flags(args, "checkpoint", "input", "gin_file", *(["output"] if command == "generate" else []))
  return generate(args) if command == "generate" else score(args)
