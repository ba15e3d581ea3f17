"""Registers one seqio task per setting (names.SETTINGS) and one mixture per suite. Nothing is read until a
dataset is asked for; then the benchmark's files are read from the data directory in their release layout."""

import seqio

from flanx import vocab
from flanx.errors import FlanxError
from flanx.evaluation import answers, lengths, metrics, self_consistency
from flanx.evaluation.example import meta_of, rule_of, to_dataset
from tasks.evals import bbh, mgsm, mmlu, names, tydiqa

LOADERS = {"mmlu": mmlu.load, "bbh": bbh.load, "tydiqa": tydiqa.load, "mgsm": mgsm.load}
AGGREGATIONS = {
    "mmlu": metrics.Aggregation(),  # per subject, as the paper's "57 tasks" (docs/evaluation.md); per example beside
    "bbh": metrics.Aggregation(),
    "tydiqa": metrics.Aggregation(key="em"),
    "mgsm": metrics.Aggregation(headline_groups=names.MGSM_HEADLINE_LANGUAGES),
}


def examples(setting: names.Setting, split: str):
  """The setting's EvalExamples for `split`, read from the data directory."""
  if split not in setting.splits:
    raise FlanxError(f"{setting.name} has no {split!r} split (it has {', '.join(setting.splits)})")
  return LOADERS[setting.benchmark](split, cot=setting.cot, zero_shot=setting.zero_shot)


def _dataset_fn(setting: names.Setting):
  def dataset_fn(split: str, shuffle_files: bool, seed: int | None = None):
    del shuffle_files, seed  # evaluation order is the file order
    return to_dataset(examples(setting, split))
  return dataset_fn


def postprocess(output, example=None, is_target: bool = False):
  """seqio postprocess_fn. Targets become the example's meta; an output becomes {'answer': extracted}.

  A list of outputs (several samples per prompt) is self-consistency: the answer is their majority vote.
  """
  meta = meta_of(example)
  if is_target:
    return meta
  rule = rule_of(meta)
  if isinstance(output, (list, tuple)):
    votes = [answers.extract(o, rule) for o in output]
    return {"answer": self_consistency.majority_vote(votes), "votes": votes}
  return {"answer": answers.extract(output, rule)}


def metric_fn(aggregation: metrics.Aggregation):
  def fn(targets, predictions):
    return metrics.summarize(targets, [p["answer"] for p in predictions], aggregation)
  return fn


def _register() -> None:
  for setting in names.SETTINGS:
    seqio.TaskRegistry.add(
        setting.task,
        source=seqio.FunctionDataSource(_dataset_fn(setting), splits=setting.splits),
        # A prompt over the input length loses whole exemplars from its start, never its question (lengths.py).
        preprocessors=[lengths.fit_exemplars, seqio.preprocessors.tokenize, lengths.keep_end,
                       seqio.preprocessors.append_eos_after_trim],
        output_features=vocab.output_features(),
        postprocess_fn=postprocess,
        metric_fns=[metric_fn(AGGREGATIONS[setting.benchmark])],
    )
  for suite, settings in names.SUITES.items():
    seqio.MixtureRegistry.add(names.mixture(suite), [names.SETTINGS_BY_NAME[s].task for s in settings],
                              default_rate=1.0)


_register()
