"""The held-out evaluation runner: one seqio.Evaluator per setting of a suite, results under <model_dir>/eval/<step>/.

    results = evaluate("flan_heldout", predict_fn, score_fn, step=1000, model_dir=DIR,
                       vocabulary=vocab, feature_lengths={"inputs": 2048, "targets": 512})

predict_fn(dataset) -> [(index, token_ids), ...]   seqio's format. `dataset` is the setting's enumerated
    tf.data.Dataset of (index, model features): with the default EncDecFeatureConverter, encoder_input_tokens,
    decoder_input_tokens, decoder_target_tokens, ... Return every index once, in any order; token_ids may
    end with EOS and padding, lengths may differ (they are padded here).
score_fn(dataset) -> [(index, log_likelihood), ...] seqio's format; forwarded to seqio for tasks with score
    metrics (none of the six settings has one today: all are scored on generated answers).
sample_fn(dataset, num_samples, temperature) -> [(index, [token_ids x num_samples]), ...]: optional; when
    given, chain-of-thought settings use self-consistency (see self_consistency.predict_fn, gin-configurable).
"""

import functools
from collections.abc import Callable, Sequence

import numpy as np
import seqio
import tensorflow as tf
import tqdm

from flanx import vocab as vocab_lib
from flanx.evaluation import metrics as metrics_lib
from flanx.evaluation import normalized, plots, results as results_lib, self_consistency, tables
from tasks.evals import lengths, names
from tasks.evals.example import meta_of

PredictFn = Callable[[tf.data.Dataset], Sequence[tuple[int, Sequence[int]]]]
ScoreFn = Callable[[tf.data.Dataset], Sequence[tuple[int, float]]]
COLUMNS = [s.column for s in names.SETTINGS] + [names.NORM_AVG_COLUMN]


class _Capture(seqio.Logger):
  """A seqio logger that keeps what the Evaluator computed (targets, raw outputs, postprocessed predictions)."""

  def __call__(self, task_name, step, metrics, dataset, targets, inferences):
    self.dataset, self.targets, self.inferences = dataset, targets, inferences


def _pad(outputs: list, pad_id: int):
  """seqio turns outputs into one numpy array: pad every token list ([L] or [N, L]) to a common width."""
  flat = [s for o in outputs for s in (o if o and not np.isscalar(o[0]) else [o])]
  width = max((len(s) for s in flat), default=0)
  row = lambda s: list(s) + [pad_id] * (width - len(s))  # noqa: E731
  return [[row(s) for s in o] if o and not np.isscalar(o[0]) else row(o) for o in outputs]


def _counted(fn: Callable, bar: tqdm.tqdm, pad_id: int) -> Callable:
  """Wraps a predict/sample fn: advances `bar` per example as the model reads it, and pads its outputs."""
  def tick(index):
    bar.update(1)
    return index

  def wrapped(dataset, *args, **kwargs):
    counted = dataset.map(lambda i, ex: (tf.ensure_shape(tf.numpy_function(tick, [i], tf.int64, stateful=True), []), ex))
    out = list(fn(counted, *args, **kwargs))
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


def table5(settings_metrics: dict[str, dict]) -> dict[str, float | None]:
  """The paper's columns; 'Norm. avg' only when all six settings were evaluated."""
  row = {s.column: settings_metrics[s.name]["score"] if s.name in settings_metrics else None for s in names.SETTINGS}
  if all(s.name in settings_metrics for s in names.SETTINGS):
    # Each setting's 'normalized' is its score against its own random baseline (per subtask for BBH).
    row[names.NORM_AVG_COLUMN] = normalized.normalized_average(
        {s.column: settings_metrics[s.name]["normalized"] for s in names.SETTINGS}, {c: 0.0 for c in row})
  else:
    row[names.NORM_AVG_COLUMN] = None
  return row


def evaluate(suite: str, predict_fn: PredictFn, score_fn: ScoreFn | None = None, *, step: int,
             model_dir: str, vocabulary: seqio.Vocabulary | None = None,
             feature_lengths: dict[str, int] | None = None, split: str = names.VALIDATION,
             feature_converter: seqio.FeatureConverter | None = None,
             sample_fn: Callable | None = None, num_examples: int | None = None, progress: bool = True) -> dict:
  """Evaluates `suite` (names.SUITES: 'flan_heldout', a benchmark or a setting) and writes its files.

  vocabulary: the model's (made the tasks' vocabulary with flanx.vocab.use); None keeps the active one.
  feature_lengths: {'inputs': N, 'targets': M}; prompts over N tokens are counted in results['overlong'] and
    truncated by seqio. None sizes to the longest example.
  split: 'validation' (Table 5) or 'test' (MMLU only; other settings are skipped and listed).
  Not gin-configurable itself (gin would append its call trace to FlanxError's one line); the CLI passes gin
  macros in. Self-consistency's N and temperature are gin parameters of self_consistency.predict_fn.
  Returns the dict written to results.json: {'step', 'suite', 'split', 'table5', 'settings', 'overlong',
  'skipped', 'files'}; settings[name]['metrics'] has 'score', 'normalized', 'random', 'count' and per-group keys.
  """
  settings = names.suite_settings(suite)
  if vocabulary is not None:
    vocab_lib.use(vocabulary)
  vocabulary = vocab_lib.active()
  converter = feature_converter or seqio.EncDecFeatureConverter(pack=False)
  out_dir = results_lib.eval_dir(model_dir, step)
  run = [s for s in settings if split in s.splits]

  overlong = {}
  if feature_lengths and "inputs" in feature_lengths:
    for s in run:
      report = lengths.count_overlong(s.name, feature_lengths["inputs"], vocabulary, split)
      overlong[s.name] = {"over": report.over, "total": report.total, "longest": report.longest}

  evaluators = {s.name: seqio.Evaluator(
      s.task, feature_converter=converter, eval_split=split, sequence_length=feature_lengths,
      num_examples=num_examples, logger_cls=[_Capture], log_dir=str(out_dir), async_compute_metrics=False)
      for s in run}
  total = sum(int(next(iter(e.cached_task_datasets.values())).cardinality()) for e in evaluators.values())
  settings_out, files = {}, []
  with tqdm.tqdm(total=total, desc=f"eval {suite} @ {step}", unit="ex", disable=not progress) as bar:
    for s in run:
      bar.set_postfix_str(s.name)
      model_fn = predict_fn
      if sample_fn is not None and s.cot:
        model_fn = self_consistency.predict_fn(sample_fn)
      ev = evaluators[s.name]
      future, _ = ev.evaluate(compute_metrics=True, step=step, predict_fn=_counted(model_fn, bar, vocabulary.pad_id),
                              score_fn=score_fn)
      task_metrics = future.result()[s.task]
      settings_out[s.name] = {"column": s.column, "metrics": {k: float(v) for k, v in task_metrics.items()}}
      files.append(str(results_lib.write_predictions(out_dir, s.name, _records(ev.loggers[0]))))
      ev.close()

  results = {"step": step, "suite": suite, "split": split, "table5": table5(
      {k: v["metrics"] for k, v in settings_out.items()}), "settings": settings_out, "overlong": overlong,
             "skipped": [s.name for s in settings if s not in run]}
  results_lib.write_atomic(out_dir / results_lib.TABLE_MD, tables.markdown(results, COLUMNS))
  files += [str(out_dir / results_lib.TABLE_MD), str(out_dir / results_lib.RESULTS_JSON),
            str(out_dir / results_lib.PLOT_PNG)]
  results["files"] = files
  results_lib.write_results(out_dir, results)
  history = results_lib.history(model_dir)
  results_lib.write_atomic(out_dir / results_lib.PLOT_PNG, plots.score_vs_step(history, COLUMNS))
  return results
