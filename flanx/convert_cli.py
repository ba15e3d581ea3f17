"""`flanx convert`'s command line: Hugging Face T5 / Flan-T5 checkpoints <-> flanx checkpoints.

  flanx convert from-hf --hf_dir DIR --out CKPT_DIR [--scan_layers] [--num_partitions N] [--rules NAME]
  flanx convert to-hf --checkpoint CKPT_DIR --out DIR

Apart from flanx/convert.py (the conversion itself) so that --help and flag mistakes answer before jax, orbax
and TensorFlow are imported.
"""

import argparse
import pathlib
from collections.abc import Sequence

from flanx import errors


def _parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(prog="flanx convert",
                                   description="Hugging Face T5 / Flan-T5 checkpoints <-> flanx checkpoints")
  sub = parser.add_subparsers(dest="direction", required=True)
  from_hf = sub.add_parser("from-hf", help="Hugging Face T5 directory -> flanx checkpoint (activations in the "
                                           "checkpoint's config.json dtype)")
  from_hf.add_argument("--hf_dir", required=True)
  from_hf.add_argument("--out", required=True)
  from_hf.add_argument("--scan_layers", action="store_true", help="stack layers for SCAN_LAYERS = True")
  from_hf.add_argument("--num_partitions", type=int, default=1, help="model-parallel size of the target mesh")
  from_hf.add_argument("--rules", default="model_parallel", help="partitioning rule preset")
  to_hf = sub.add_parser("to-hf", help="flanx checkpoint -> Hugging Face T5 directory")
  to_hf.add_argument("--checkpoint", required=True)
  to_hf.add_argument("--out", required=True)
  return parser


def main(argv: Sequence[str]) -> int:
  args = _parser().parse_args(list(argv))
  errors.no_empty_flags(args, "hf_dir", "out", "checkpoint", "rules")
  if args.direction == "from-hf":
    errors.positive_int("--num_partitions", args.num_partitions)
  from flanx import convert, partitioning  # the heavy part, once the flags are known to be usable
  if args.direction == "from-hf":
    hf_dir = pathlib.Path(args.hf_dir)
    if hf_dir.is_dir() and not (hf_dir / convert.VOCAB_FILE).is_file():
      print(f"flanx convert: note: {convert.vocabulary_note(hf_dir)}", flush=True)
    config = convert.import_hf(args.hf_dir, args.out, args.scan_layers,
                               partitioning.PartitionConfig(num_partitions=args.num_partitions, rules=args.rules),
                               settings="--num_partitions / --rules",
                               names=partitioning.LayoutNames(rules="--rules", num_partitions="--num_partitions"))
    print(f"flanx convert: wrote {args.out} ({config.num_encoder_layers}+{config.num_decoder_layers} layers, "
          f"d_model {config.emb_dim}, {config.dtype} activations); train from it with "
          f"--gin_file={pathlib.Path(args.out) / convert.GIN_FILE} "
          f"--gin.INITIAL_CHECKPOINT_PATH=\"'{args.out}'\", or decode with flanx generate --checkpoint {args.out}")
  else:
    config = convert.export_hf(args.checkpoint, args.out)
    print(f"flanx convert: wrote {args.out} (T5ForConditionalGeneration, d_model {config.emb_dim})")
  return 0
