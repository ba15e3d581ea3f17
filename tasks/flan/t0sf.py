"""T0-SF: the T0 training datasets that Muffin does not already cover, read from P3's prompted records.

Each P3 prompt folder (`data/{dataset}_{prompt}`) is one template of the dataset. Sizes are the datasets'
train sizes as listed in the T0 paper's data card, rounded; most exceed the 20k cap anyway.
"""

from tasks.flan import readers
from tasks.flan.readers import Root
from tasks.flan.sources import Source

# P3 dataset prefix -> declared train size
DATASETS: dict[str, int] = {
    "adversarial_qa_dbert": 10_000, "adversarial_qa_dbidaf": 10_000, "adversarial_qa_droberta": 10_000,
    "amazon_polarity": 3_600_000, "app_reviews": 288_065, "cos_e_v1.11": 9_741, "dbpedia_14": 560_000,
    "dream": 6_116, "duorc_ParaphraseRC": 69_524, "duorc_SelfRC": 60_721, "kilt_tasks_hotpotqa": 88_869,
    "qasc": 8_134, "quail": 10_246, "quarel": 1_941, "quartz": 2_696, "quoref": 19_399, "race_high": 62_445,
    "race_middle": 25_421, "ropes": 10_924, "sciq": 11_679, "social_i_qa": 33_410, "web_questions": 3_778,
    "wiki_bio": 582_659, "wiki_hop_original": 43_738, "wiki_qa": 20_360, "wiqa": 29_808,
}

MINI = ("quartz", "wiki_qa", "social_i_qa")
MINI_SIZE = 8  # two prompt folders of four records each


def sources(root: Root = readers.data_root) -> list[Source]:
  return [Source("t0sf", d, "prompted", readers.P3(root, d), n) for d, n in DATASETS.items()]


def mini_sources(root: Root) -> list[Source]:
  return [Source("t0sf", d, "prompted", readers.P3(root, d), MINI_SIZE) for d in MINI]
