"""Every benchmark, setting, suite and seqio task name of the held-out evaluation, defined once.

A *setting* is one column of the paper's Table 5 (a benchmark with a prompting style); each is one seqio task
whose examples carry a `group` (MMLU subject, BBH subtask or language) so per-group scores come from one pass.
suites.py turns the suite names here into the flanx.evaluation.suite.Suite objects the evaluator receives.
"""

import dataclasses
import re

from flanx.evaluation import suite as suite_lib

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
# The BIG-Bench task each subtask was drawn from (BBH splits three of them by size): what the Flan collection must
# leave out of its BIG-Bench tasks (tasks/flan/niv2.py).
BBH_SOURCE_TASKS = tuple(dict.fromkeys(re.sub(r"_(two|three_objects|five_objects|seven_objects)$", "", t)
                                       for t in BBH_TASKS))
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
VALIDATION, TEST = suite_lib.VALIDATION, suite_lib.TEST


@dataclasses.dataclass(frozen=True, kw_only=True)
class Setting(suite_lib.Setting):
  """One results-table column, and the benchmark whose loader (registry.LOADERS) reads its files."""
  benchmark: str     # "mmlu" | "bbh" | "tydiqa" | "mgsm"
  zero_shot: bool = False


def _setting(name: str, benchmark: str, column: str, cot: bool, splits=(VALIDATION,), zero_shot=False) -> Setting:
  return Setting(name=name, benchmark=benchmark, column=column, task=f"flanx_eval:{name}", cot=cot, splits=splits,
                 zero_shot=zero_shot)


TABLE5_SETTINGS = (
    _setting("mmlu_direct", "mmlu", "MMLU-Direct", cot=False, splits=(VALIDATION, TEST)),
    _setting("mmlu_cot", "mmlu", "MMLU-CoT", cot=True, splits=(VALIDATION, TEST)),
    _setting("bbh_direct", "bbh", "BBH-Direct", cot=False),
    _setting("bbh_cot", "bbh", "BBH-CoT", cot=True),
    _setting("tydiqa", "tydiqa", "TyDiQA", cot=False),
    _setting("mgsm", "mgsm", "MGSM", cot=True),
)
# Zero-shot prompting (the paper's Figure 6 on BBH, and its usability study): outside the Table 5 row and Norm. avg.
ZERO_SHOT_SETTINGS = (
    _setting("mmlu_zeroshot_direct", "mmlu", "MMLU-Direct 0-shot", cot=False, splits=(VALIDATION, TEST),
             zero_shot=True),
    _setting("mmlu_zeroshot_cot", "mmlu", "MMLU-CoT 0-shot", cot=True, splits=(VALIDATION, TEST), zero_shot=True),
    _setting("bbh_zeroshot_direct", "bbh", "BBH-Direct 0-shot", cot=False, zero_shot=True),
    _setting("bbh_zeroshot_cot", "bbh", "BBH-CoT 0-shot", cot=True, zero_shot=True),
)
SETTINGS = TABLE5_SETTINGS + ZERO_SHOT_SETTINGS
SETTINGS_BY_NAME = {s.name: s for s in SETTINGS}
COLUMNS = tuple(s.column for s in TABLE5_SETTINGS)  # Table 5's, in the paper's order
BENCHMARKS = ("mmlu", "bbh", "tydiqa", "mgsm")

HELDOUT_SUITE = "flan_heldout"
ZERO_SHOT_SUITE = "zero_shot"
# A suite is what `evaluate()` runs: all six Table 5 settings, one benchmark's Table 5 settings, the zero-shot
# settings (all, or one benchmark's), or one setting.
SUITES = {
    HELDOUT_SUITE: tuple(s.name for s in TABLE5_SETTINGS),
    **{b: tuple(s.name for s in TABLE5_SETTINGS if s.benchmark == b) for b in BENCHMARKS},
    ZERO_SHOT_SUITE: tuple(s.name for s in ZERO_SHOT_SETTINGS),
    **{f"{b}_{ZERO_SHOT_SUITE}": tuple(s.name for s in ZERO_SHOT_SETTINGS if s.benchmark == b)
       for b in ("mmlu", "bbh")},
    **{s.name: (s.name,) for s in SETTINGS},
}


def mixture(suite: str) -> str:
  """The seqio mixture registered for a suite."""
  return f"flanx_eval:suite:{suite}"
