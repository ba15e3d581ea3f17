"""The held-out evaluation runner: one seqio.Evaluator per setting of a suite, results under <model_dir>/eval/<step>/.

    suite = tasks.evals.suites.get("flan_heldout")   # the entry point resolves the name; see suite.py
    results = evaluate(suite, predict_fn, score_fn, step=1000, model_dir=DIR,
                       vocabulary=model.vocabulary)  # each setting's own lengths (lengths.py)

predict_fn(dataset) -> [(index, token_ids), ...]   seqio's format; a predict_fn with a keyword parameter
    `max_length` is given the setting's decode budget (see lengths.py), as flanx.heldout.ModelFns's is.
    `dataset` is the setting's enumerated tf.data.Dataset of (index, model features): with the default
    EncDecFeatureConverter, encoder_input_tokens, decoder_input_tokens, decoder_target_tokens, ... Return every
    index once, in any order; token_ids may end with EOS and padding, lengths may differ (they are padded here).
score_fn(dataset) -> [(index, log_likelihood), ...] seqio's format; forwarded to seqio for tasks with score
    metrics (none of the six settings has one today: all are scored on generated answers).
sample_fn(dataset, num_samples, temperature) -> [(index, [token_ids x num_samples]), ...]: optional; when
    given, chain-of-thought settings use self-consistency (see self_consistency.predict_fn, gin-configurable);
    it too may take `max_length`.
"""

import dataclasses
from collections.abc import Callable, Sequence

import jax
import numpy as np
import seqio
import tensorflow as tf
import tqdm

from flanx import data_dir, storage, vocab as vocab_lib
from flanx.errors import FlanxError
from flanx.evaluation import lengths, plots, results as results_lib, self_consistency, tables
from flanx.evaluation import metrics as metrics_lib
from flanx.evaluation.suite import NORM_AVG_COLUMN, VALIDATION, Setting, Suite

PredictFn = Callable[[tf.data.Dataset], Sequence[tuple[int, Sequence[int]]]]
ScoreFn = Callable[[tf.data.Dataset], Sequence[tuple[int, float]]]


class _Capture(seqio.Logger):
  """A seqio logger that keeps what the Evaluator computed (targets, raw outputs, postprocessed predictions)."""

  def __call__(self, task_name, step, metrics, dataset, targets, inferences):
    self.dataset, self.targets, self.inferences = dataset, targets, inferences


def _pad(outputs: list, pad_id: int):
  """seqio turns outputs into one numpy array: pad every token list ([L] or [N, L]) to a common width."""
  flat = [s for o in outputs for s in (o if o and not np.isscalar(o[0]) else [o])]
  width = max((len(s) for s in flat), default=0)

  def row(s):
    return list(s) + [pad_id] * (width - len(s))

  return [[row(s) for s in o] if o and not np.isscalar(o[0]) else row(o) for o in outputs]


@dataclasses.dataclass
class BudgetCount:
  """Outputs (every sample under self-consistency) that used the whole decode budget without ending."""
  decode_length: int
  eos_id: int
  total: int = 0
  at_budget: int = 0

  def add(self, tokens) -> None:
    tokens = [t for t in tokens]
    while tokens and tokens[-1] == 0:  # padding
      tokens.pop()
    self.total += 1
    self.at_budget += int(len(tokens) >= self.decode_length and tokens[-1] != self.eos_id)


def _counted(fn: Callable, bar: tqdm.tqdm, pad_id: int, budget: BudgetCount) -> Callable:
  """Wraps a predict/sample fn: advances `bar` per example as the model reads it, hands it the decode budget when
  it takes one, counts outputs that reached it, and pads the outputs."""
  def tick(index):
    bar.update(1)
    return index

  extra = {"max_length": budget.decode_length} if self_consistency.takes_max_length(fn) else {}

  def wrapped(dataset, *args, **kwargs):
    counted = dataset.map(
        lambda i, ex: (tf.ensure_shape(tf.numpy_function(tick, [i], tf.int64, stateful=True), []), ex))
    out = list(fn(counted, *args, **kwargs, **extra))
    for _, tokens in out:
      for sample in (tokens if len(tokens) and not np.isscalar(tokens[0]) else [tokens]):
        budget.add(list(sample))
    padded = _pad([list(tokens) for _, tokens in out], pad_id)
    return [(int(i), p) for (i, _), p in zip(out, padded)]
  return wrapped


def _records(capture: _Capture) -> list[dict]:
  records = []
  examples = capture.dataset.as_numpy_iterator()
  for ex, meta, output, pred in zip(examples, capture.targets, capture.inferences["output"],
                                    capture.inferences["prediction"], strict=True):
    scored = metrics_lib.score_example(pred["answer"], meta)
    record = {"id": meta["id"], "group": meta["group"], "prompt": ex["inputs_pretokenized"].decode("utf-8"),
              "target": ex["targets_pretokenized"].decode("utf-8"), "gold": list(meta["gold"]), "output": output,
              "answer": pred["answer"], "correct": bool(scored["correct"])}
    record.update({k: v for k, v in scored.items() if k in ("em", "f1")})
    if "votes" in pred:
      record["votes"] = pred["votes"]
    records.append(record)
  return records


def _available(suite: Suite, settings: Sequence[Setting], split: str) -> tuple[dict[str, list[dict]], dict]:
  """Each setting's examples, read now; a setting whose data file is missing is skipped with one line when the
  suite allows it (its row shows 'missing'), else the missing file is the usual one-line error."""
  found, missing = {}, {}
  for s in settings:
    try:
      found[s.name] = s.examples(split)
    except data_dir.MissingDataFile as e:
      if not suite.skip_missing:
        raise
      missing[s.name] = {"column": s.column, "reason": str(e)}
      if jax.process_index() == 0:
        print(f"flanx: {s.name} skipped: {e}", flush=True)
  if not found:
    raise FlanxError(f"suite {suite.name!r}: no setting has its data ({next(iter(missing.values()))['reason']})")
  return found, missing


def evaluate(suite: Suite, predict_fn: PredictFn, score_fn: ScoreFn | None = None, *, step: int,
             model_dir: str, vocabulary: seqio.Vocabulary,
             feature_lengths: dict[str, int | None] | None = None, split: str = VALIDATION,
             feature_converter: seqio.FeatureConverter | None = None,
             sample_fn: Callable | None = None, num_examples: int | None = None, progress: bool = True,
             max_input_length: int | None = None, output_name: str = "MODEL_DIR") -> dict:
  """Evaluates `suite` and writes its files, merged with what earlier runs wrote for the same step.

  vocabulary: the model's, passed by the entry point; it must be the one the tasks encode with (the entry point's
    DataContext, given to flanx.data_dir.install), since seqio decodes the outputs with the tasks' own.
  feature_lengths: {'inputs': N, 'targets': M}, each None (or the dict None) for each setting's own: inputs its
    longest prompt, targets its longest exemplar answer plus a margin (lengths.py). Prompts longer than the input
    length lose whole exemplars from their start; results['prompts'] counts them per setting.
  max_input_length: the model's context, None when it takes any length (T5's relative positions); caps inputs.
  split: 'validation' (the paper's table) or 'test' (settings without it are skipped and listed).
  output_name: what chose `model_dir` (a macro, e.g. 'EVAL_MODEL_DIR'), named by the line a full or read-only
    disk gives; a disk clearly too full is refused before anything is decoded.
  Not gin-configurable itself (gin would append its call trace to FlanxError's one line); the CLI passes gin
  macros in. Self-consistency's N and temperature are gin parameters of self_consistency.predict_fn.
  Several processes (a model sharded over hosts): each runs the same steps on every example and computes the
  same metrics; only process 0 writes files. The others return the same dict where MODEL_DIR is shared storage.
  Returns the dict written to results.json: {'step', 'suites', 'split', 'data', 'table5', 'norm_avg_over', 'other',
  'settings', 'missing', 'prompts', 'outputs', 'skipped', 'files'}; settings[name]['metrics'] has 'score',
  'score_per_example', 'normalized', 'random', 'count' and per-group keys, settings[name]['data'] a fingerprint of
  its examples; 'data' the data directory read (earlier results from other data are refused, never merged).
  'table5' (Table 5's columns and Norm. avg over them), 'other' (other settings' scores, e.g. zero-shot) and
  'settings' cover every setting evaluated into this step so far.
  """
  if vocabulary != vocab_lib.active():  # token ids would be read with another vocabulary than they were made with
    raise FlanxError(f"the evaluator was given {vocabulary!r} but the tasks encode with {vocab_lib.active()!r}; "
                     f"install the run's DataContext with that vocabulary first (flanx.data_dir.install)")
  converter = feature_converter or seqio.EncDecFeatureConverter(pack=False)
  writer = jax.process_index() == 0
  out_dir = results_lib.eval_dir(model_dir, step, split)
  with_split = [s for s in suite.settings if split in s.splits]
  if not with_split:
    raise FlanxError(f"suite {suite.name!r} has no {split!r} split (its settings have "
                     f"{', '.join(sorted({x for s in suite.settings for x in s.splits}))})")
  examples, missing = _available(suite, with_split, split)
  run = [s for s in with_split if s.name in examples]
  # Which data these results come from: merged only with earlier results from the same (results.check_same_data).
  data_path = data_dir.current().path
  data = {"directory": str(data_path.resolve()) if data_path else None}
  fingerprints = {s.name: results_lib.fingerprint(examples[s.name]) for s in run}
  previous = results_lib.read_results(out_dir)
  results_lib.check_same_data(previous, data["directory"], fingerprints, out_dir)
  if writer:  # a clearly full disk is one line now, not after decoding: the predictions repeat every target
    storage.require_room(output_name, out_dir, sum(len(ex["targets"].encode("utf-8")) + 1 for s in run
                                                   for ex in examples[s.name][:num_examples]),
                         "the predictions' targets alone")

  requested = feature_lengths or {}
  prompts, budgets, sequence_lengths = {}, {}, {}
  for s in run:
    chosen = examples[s.name][:num_examples]
    report = lengths.plan_inputs(chosen, vocabulary, requested.get("inputs"), max_input_length)
    decode, longest_answer = lengths.decode_length(chosen, vocabulary)
    decode = requested.get("targets") or decode
    prompts[s.name] = report.as_dict()
    budgets[s.name] = (BudgetCount(decode, vocabulary.eos_id), longest_answer)
    sequence_lengths[s.name] = {"inputs": report.input_length, "targets": decode}

  evaluators = {s.name: seqio.Evaluator(
      s.task, feature_converter=converter, eval_split=split, sequence_length=sequence_lengths[s.name],
      num_examples=num_examples, logger_cls=[_Capture], log_dir=str(out_dir), async_compute_metrics=False)
      for s in run}
  total = sum(int(next(iter(e.cached_task_datasets.values())).cardinality()) for e in evaluators.values())
  settings_out, outputs, records = {}, {}, {}
  with tqdm.tqdm(total=total, desc=f"eval {suite.name} @ {step}", unit="ex", disable=not progress) as bar:
    for s in run:
      bar.set_postfix_str(s.name)
      model_fn = predict_fn
      if sample_fn is not None and s.cot:
        model_fn = self_consistency.predict_fn(sample_fn)
      ev = evaluators[s.name]
      budget, longest_answer = budgets[s.name]
      future, _ = ev.evaluate(compute_metrics=True, step=step,
                              predict_fn=_counted(model_fn, bar, vocabulary.pad_id, budget), score_fn=score_fn)
      task_metrics = future.result()[s.task]
      settings_out[s.name] = {"column": s.column, "metrics": {k: float(v) for k, v in task_metrics.items()},
                              "data": fingerprints[s.name]}
      outputs[s.name] = {"decode_length": budget.decode_length, "longest_exemplar_answer": longest_answer,
                         "at_budget": budget.at_budget, "total": budget.total}
      records[s.name] = _records(ev.loggers[0]) if writer else []
      ev.close()

  current = {"step": step, "suites": [suite.name], "split": split, "data": data, "settings": settings_out,
             "missing": missing,
             "prompts": prompts, "outputs": outputs,
             "skipped": [s.name for s in suite.settings if s not in with_split]}
  merged = results_lib.merge(previous, current)
  columns = list(suite.columns)
  row, over = results_lib.table_row(merged, columns)
  results = {"step": step, "suites": merged["suites"], "split": split, "data": data, "table5": row,
             "norm_avg_over": over,
             "other": results_lib.other_columns(merged, columns),
             **{k: merged[k] for k in ("settings", "missing", "prompts", "outputs", "skipped")}}
  # The plot follows the paper's table (validation) across steps; a test-split run has no plot of its own.
  written = (results_lib.TABLE_MD, results_lib.RESULTS_JSON) + ((results_lib.PLOT_PNG,) if split == VALIDATION else ())
  results["files"] = [str(results_lib.predictions_path(out_dir, name)) for name in results["settings"]]
  results["files"] += [str(out_dir / name) for name in written]
  if not writer:
    return results
  # Every file is made first and written only when all fit (a disk too full: one line, nothing written);
  # results.json, the record a later run merges with, goes last.
  files = {results_lib.predictions_path(out_dir, name): results_lib.predictions_text(rows)
           for name, rows in records.items()}
  files[out_dir / results_lib.TABLE_MD] = tables.markdown(results, [*columns, NORM_AVG_COLUMN])
  if split == VALIDATION:
    steps = dict(sorted({**results_lib.history(model_dir), step: results}.items()))  # with this step's new results
    files[out_dir / results_lib.PLOT_PNG] = plots.score_vs_step(steps, columns)
  files[out_dir / results_lib.RESULTS_JSON] = results_lib.results_text(results)
  storage.require_room(output_name, out_dir, sum(len(d.encode("utf-8") if isinstance(d, str) else d)
                                                 for d in files.values()), "this evaluation's files")
  for path, data in files.items():
    storage.write_atomic(path, data, name=output_name)
  return results
