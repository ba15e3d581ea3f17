"""Every benchmark, setting, suite and seqio task name of the held-out evaluation, defined once.

A *setting* is one column of the paper's Table 5 (a benchmark with a prompting style); each is one seqio task
whose examples carry a `group` (MMLU subject, BBH subtask or language) so per-group scores come from one pass.
"""

import dataclasses

from flanx.errors import FlanxError, closest

MMLU_SUBJECTS = (
    "abstract_algebra", "anatomy", "astronomy", "business_ethics", "clinical_knowledge", "college_biology",
    "college_chemistry", "college_computer_science", "college_mathematics", "college_medicine", "college_physics",
    "computer_security", "conceptual_physics", "econometrics", "electrical_engineering", "elementary_mathematics",
    "formal_logic", "global_facts", "high_school_biology", "high_school_chemistry", "high_school_computer_science",
    "high_school_european_history", "high_school_geography", "high_school_government_and_politics",
    "high_school_macroeconomics", "high_school_mathematics", "high_school_microeconomics", "high_school_physics",
    "high_school_psychology", "high_school_statistics", "high_school_us_history", "high_school_world_history",
    "human_aging", "human_sexuality", "international_law", "jurisprudence", "logical_fallacies", "machine_learning",
    "management", "marketing", "medical_genetics", "miscellaneous", "moral_disputes", "moral_scenarios", "nutrition",
    "philosophy", "prehistory", "professional_accounting", "professional_law", "professional_medicine",
    "professional_psychology", "public_relations", "security_studies", "sociology", "us_foreign_policy", "virology",
    "world_religions",
)

BBH_TASKS = (
    "boolean_expressions", "causal_judgement", "date_understanding", "disambiguation_qa", "dyck_languages",
    "formal_fallacies", "geometric_shapes", "hyperbaton", "logical_deduction_five_objects",
    "logical_deduction_seven_objects", "logical_deduction_three_objects", "movie_recommendation",
    "multistep_arithmetic_two", "navigate", "object_counting", "penguins_in_a_table",
    "reasoning_about_colored_objects", "ruin_names", "salient_translation_error_detection", "snarks",
    "sports_understanding", "temporal_sequences", "tracking_shuffled_objects_five_objects",
    "tracking_shuffled_objects_seven_objects", "tracking_shuffled_objects_three_objects", "web_of_lies", "word_sorting",
)
# BBH subtasks whose answer is one of a fixed label set named nowhere in the input (chance = 1 / labels).
BBH_LABEL_SETS = {
    "boolean_expressions": ("True", "False"),
    "causal_judgement": ("Yes", "No"),
    "formal_fallacies": ("valid", "invalid"),
    "navigate": ("Yes", "No"),
    "sports_understanding": ("yes", "no"),
    "web_of_lies": ("Yes", "No"),
}
# BBH subtasks with free-form answers (a number, a word list, a bracket sequence): chance is 0.
BBH_FREE_FORM = ("dyck_languages", "multistep_arithmetic_two", "object_counting", "word_sorting")
# Every other subtask lists "(A) ..." options in its input; chance is 1 / the number of options.

# TyDiQA-GoldP ids start with the language's English name; the paper leaves English out.
TYDIQA_LANGUAGES = {
    "ar": "arabic", "bn": "bengali", "fi": "finnish", "id": "indonesian",
    "ko": "korean", "ru": "russian", "sw": "swahili", "te": "telugu",
}
TYDIQA_EXCLUDED = ("english",)

MGSM_LANGUAGES = ("bn", "de", "en", "es", "fr", "ja", "ru", "sw", "te", "th", "zh")
MGSM_HEADLINE_LANGUAGES = tuple(lang for lang in MGSM_LANGUAGES if lang != "en")  # the 10 translated ones

# Splits: "validation" is what Table 5 reports (MMLU val; BBH, TyDiQA dev and MGSM have one split each).
VALIDATION = "validation"
TEST = "test"


@dataclasses.dataclass(frozen=True)
class Setting:
  """One Table 5 column: a benchmark evaluated with one prompting style."""
  name: str          # e.g. "mmlu_cot"
  benchmark: str     # "mmlu" | "bbh" | "tydiqa" | "mgsm"
  column: str        # the paper's column header
  cot: bool
  splits: tuple[str, ...] = (VALIDATION,)

  @property
  def task(self) -> str:
    return f"flanx_eval:{self.name}"


SETTINGS = (
    Setting("mmlu_direct", "mmlu", "MMLU-Direct", cot=False, splits=(VALIDATION, TEST)),
    Setting("mmlu_cot", "mmlu", "MMLU-CoT", cot=True, splits=(VALIDATION, TEST)),
    Setting("bbh_direct", "bbh", "BBH-Direct", cot=False),
    Setting("bbh_cot", "bbh", "BBH-CoT", cot=True),
    Setting("tydiqa", "tydiqa", "TyDiQA", cot=False),
    Setting("mgsm", "mgsm", "MGSM", cot=True),
)
SETTINGS_BY_NAME = {s.name: s for s in SETTINGS}
BENCHMARKS = ("mmlu", "bbh", "tydiqa", "mgsm")

HELDOUT_SUITE = "flan_heldout"
# A suite is what `evaluate()` runs: all six settings, one benchmark, or one setting.
SUITES = {
    HELDOUT_SUITE: tuple(s.name for s in SETTINGS),
    **{b: tuple(s.name for s in SETTINGS if s.benchmark == b) for b in BENCHMARKS},
    **{s.name: (s.name,) for s in SETTINGS},
}
NORM_AVG_COLUMN = "Norm. avg"


def mixture(suite: str) -> str:
  """The seqio mixture registered for a suite."""
  return f"flanx_eval:suite:{suite}"


def suite_settings(suite: str) -> tuple[Setting, ...]:
  """The settings of a suite; an unknown name is a FlanxError with a did-you-mean."""
  if suite not in SUITES:
    raise FlanxError(f"unknown evaluation suite or benchmark {suite!r}{closest(suite, SUITES)}; "
                     f"known: {', '.join(SUITES)}")
  return tuple(SETTINGS_BY_NAME[name] for name in SUITES[suite])
