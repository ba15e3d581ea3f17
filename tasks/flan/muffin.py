"""Muffin (Flan 2021 + dialog + program synthesis): TFDS datasets by name, and local release files.

Every dataset of the collection's task list (flan_collection_info.csv: sources FLAN, FLAN/T0, Dialog and
Program Synthesis, 79 datasets) is here, except the five that cannot be read from any public release
(`UNREADABLE`, with the reason). Field mappings live in `converters`. Sizes are the catalogues' train-split
sizes, rounded (docs/data.md); `CAP_OR_MORE` marks sets larger than Muffin's 30k cap, whose exact size does
not change their rate.
"""

import dataclasses

from tasks.flan import converters as c
from tasks.flan import readers
from tasks.flan.readers import Root
from tasks.flan.sources import Source

CAP_OR_MORE = 30_000


@dataclasses.dataclass(frozen=True)
class Entry:
  dataset: str  # the collection's name for it (flan_collection_info.csv)
  location: str  # TFDS name[/config] (with `split`), or a release file under the data directory
  task_type: str
  convert: c.Convert
  num_examples: int
  split: str = "train"


_TFDS = [
    Entry("anli_r1", "anli/r1", "nli", c.nli("context", "hypothesis", c.YES_MAYBE_NO), 16_946),
    Entry("anli_r2", "anli/r2", "nli", c.nli("context", "hypothesis", c.YES_MAYBE_NO), 45_460),
    Entry("anli_r3", "anli/r3", "nli", c.nli("context", "hypothesis", c.YES_MAYBE_NO), 100_459),
    Entry("snli", "snli", "nli", c.nli("premise", "hypothesis", c.YES_MAYBE_NO), 550_152),
    Entry("mnli", "multi_nli", "nli", c.nli("premise", "hypothesis", c.YES_MAYBE_NO), 392_702),
    Entry("rte", "super_glue/rte", "nli", c.nli("premise", "hypothesis", ("yes", "no")), 2_490),
    Entry("cb", "super_glue/cb", "nli", c.nli("premise", "hypothesis", ("yes", "no", "it is not possible to tell")),
          250),
    Entry("wnli", "glue/wnli", "nli", c.nli("sentence1", "sentence2", c.NO_YES), 635),
    Entry("wsc", "super_glue/wsc.fixed", "nli", c.wsc, 554),
    Entry("squad_v1", "squad/v1.1", "extractive_qa", c.squad, 87_599),
    Entry("squad_v2", "squad/v2.0", "extractive_qa", c.squad_v2, 130_319),
    Entry("drop", "drop", "extractive_qa", c.drop, 77_409),
    Entry("quac", "quac", "extractive_qa", c.quac, 83_568),
    Entry("coqa", "coqa", "extractive_qa", c.coqa, 7_199),
    Entry("natural_questions", "natural_questions_open", "closed_book_qa",
          c.closed_book("question", lambda r: c.first(r["answer"])), 87_925),
    Entry("trivia_qa", "trivia_qa/rc.nocontext", "closed_book_qa",
          c.closed_book("question", lambda r: r["answer"]["value"]), 138_384),
    Entry("math_dataset", "math_dataset/algebra__linear_1d", "math", c.math_dataset, CAP_OR_MORE),
    Entry("arc_challenge", "ai2_arc/ARC-Challenge", "mcqa", c.arc, 1_119),
    Entry("arc_easy", "ai2_arc/ARC-Easy", "mcqa", c.arc, 2_251),
    Entry("piqa", "piqa", "mcqa", c.choices("goal", lambda r: [r["sol1"], r["sol2"]], lambda r: r["label"]), 16_113),
    Entry("bool_q", "bool_q", "mcqa", c.choices(lambda r: f"{c.text(r['passage'])}\n\n{c.text(r['question'])}?",
                                                lambda r: ["no", "yes"], lambda r: int(r["answer"])), 9_427),
    Entry("cosmos_qa", "cosmos_qa", "mcqa",
          c.choices(lambda r: f"{c.text(r['context'])}\n\n{c.text(r['question'])}",
                    lambda r: [r[f"answer{i}"] for i in range(4)], lambda r: r["label"]),
          25_262),
    Entry("openbookqa", "openbookqa", "mcqa", c.openbookqa, 4_957),
    Entry("unified_qa_science_inst", "unified_qa/ai2_science_middle", "mcqa", c.unified_qa_science, 1_000),
    Entry("multirc", "super_glue/multirc", "answer_check", c.multirc, 27_243),
    Entry("qnli", "glue/qnli", "contains_answer", c.qnli, 104_743),
    Entry("xsum", "xsum", "summarization", c.summary("document", "summary"), 204_045),
    Entry("cnn_dailymail", "cnn_dailymail", "summarization", c.summary("article", "highlights"), 287_113),
    Entry("gigaword", "gigaword", "summarization", c.summary("document", "summary"), 3_803_957),
    Entry("multi_news", "multi_news", "summarization", c.summary("document", "summary"), 44_972),
    Entry("samsum", "samsum", "summarization", c.summary("dialogue", "summary"), 14_732),
    Entry("aeslc", "aeslc", "summarization", c.summary("email_body", "subject_line"), 14_436),
    Entry("newsroom", "newsroom", "summarization", c.summary("text", "summary"), CAP_OR_MORE),
    Entry("wiki_lingua_english_en", "gem/wiki_lingua_english_en", "summarization", c.summary("source", "target"),
          99_020),
    Entry("opinion_abstracts_idebate", "opinion_abstracts/idebate", "summarization", c.opinion_idebate, 2_259),
    Entry("opinion_abstracts_rotten_tomatoes", "opinion_abstracts/rotten_tomatoes", "summarization",
          c.opinion_rotten_tomatoes, 3_731),
    Entry("sst2", "glue/sst2", "sentiment", c.single("sentence", ("negative", "positive")), 67_349),
    Entry("imdb_reviews", "imdb_reviews", "sentiment", c.single("text", ("negative", "positive")), 25_000),
    Entry("yelp_polarity_reviews", "yelp_polarity_reviews", "sentiment", c.single("text", ("negative", "positive")),
          560_000),
    Entry("sentiment140", "sentiment140", "sentiment", c.sentiment140, 1_600_000),
    Entry("ag_news_subset", "ag_news_subset", "text_classification", c.ag_news, 120_000),
    Entry("trec", "trec", "text_classification", c.single("text", c.TREC_CLASSES, label="label-coarse"), 5_452),
    Entry("cola", "glue/cola", "acceptability",
          c.single("sentence", ("unacceptable", "acceptable"), as_field="sentence"), 8_551),
    Entry("glue_mrpc", "glue/mrpc", "paraphrase", c.pair("sentence1", "sentence2"), 3_668),
    Entry("glue_qqp", "glue/qqp", "paraphrase", c.pair("question1", "question2"), 363_846),
    Entry("paws_wiki", "paws_wiki", "paraphrase", c.pair("sentence1", "sentence2"), 49_401),
    Entry("stsb", "glue/stsb", "similarity", c.stsb, 5_749),
    Entry("wic", "super_glue/wic", "word_sense", c.wic, 5_428),
    Entry("winogrande", "winogrande", "coreference", c.winogrande, 40_398, split="train_xl"),
    Entry("record", "super_glue/record", "coreference", c.record, 100_730),
    Entry("definite_pronoun_resolution", "definite_pronoun_resolution", "pronoun_resolution",
          c.definite_pronoun_resolution, 1_322),
    Entry("copa", "super_glue/copa", "commonsense", c.copa, 400),
    Entry("hellaswag", "hellaswag", "commonsense", c.hellaswag, 39_905),
    # The 2016 set's labelled split is `validation` (the public Flan code trains on it too).
    Entry("story_cloze", "story_cloze/2016", "commonsense", c.story_cloze, 1_871, split="validation"),
    Entry("lambada", "lambada", "next_word", c.lambada, 2_662),
    Entry("common_gen", "gem/common_gen", "data_to_text", c.data_to_text(c.common_gen_data), 67_389),
    Entry("dart", "gem/dart", "data_to_text", c.data_to_text(c.dart_data), 62_659),
    Entry("e2e_nlg", "gem/e2e_nlg", "data_to_text", c.data_to_text(c.e2e_data), 33_525),
    Entry("web_nlg_en", "gem/web_nlg_en", "data_to_text", c.data_to_text(c.web_nlg_data), 35_426),
    # Three repair tasks made from disjoint thirds of ParaCrawl's English side.
    Entry("true_case", "para_crawl/enda", "text_repair", c.repair("capital letters", str.lower), CAP_OR_MORE,
          split="train[:33%]"),
    Entry("fix_punct", "para_crawl/enda", "text_repair", c.repair("punctuation", c.strip_punctuation), CAP_OR_MORE,
          split="train[33%:66%]"),
    Entry("word_segment", "para_crawl/enda", "text_repair", c.repair("spaces between words", c.strip_spaces),
          CAP_OR_MORE, split="train[66%:]"),
    Entry("para_crawl_enes", "para_crawl/enes", "translation", c.translation("en", "es"), CAP_OR_MORE),
    Entry("wmt14_enfr", "wmt14_translate/fr-en", "translation", c.translation("en", "fr"), CAP_OR_MORE),
    Entry("wiki_dialog", "wiki_dialog/OQ", "dialog", c.wiki_dialog, CAP_OR_MORE),
] + [
    Entry(f"wmt16_translate_{lang}en", f"wmt16_translate/{lang}-en", "translation", c.translation(lang), size)
    for lang, size in (("de", 4_548_885), ("cs", 997_712), ("fi", 2_073_394), ("ro", 610_320), ("ru", 1_516_162),
                       ("tr", 205_756))
]

# Dialog and code sets read from their release files under the data directory.
_FILES = [
    Entry("qrecc", "qrecc/qrecc_train.json", "dialog", c.qrecc, 63_501),
    Entry("task_master", "taskmaster/self-dialogs.json", "dialog", c.taskmaster, 7_708),
    Entry("mbpp", "mbpp/mbpp.jsonl", "program_synthesis", c.mbpp, 974),
]
# DeepMind CodeContests as its Hugging Face Parquet release (deepmind/code_contests, data/train-*.parquet).
_PARQUET = [
    Entry("dmcc_python", "code_contests/data/train-*.parquet", "program_synthesis", c.code_contests_python, 13_328),
]

# Datasets of the collection's task list that no public release lets us read, and why.
UNREADABLE: dict[str, str] = {
    "trivia_qa_wiki_missing": "a TriviaQA subset that the public Flan code names but never defines (no TFDS config, "
                              "no file, no filter); trivia_qa itself is read",
    **{f"dr_repair_{variant}": "DrRepair program repair, rendered by Flan with the code's errors given as "
                               f"{variant.replace('_', ' ')}: the public Flan code leaves DrRepair out (legal "
                               "constraints, says its README), so neither the data it used nor these renderings "
                               "are public"
       for variant in ("error_comments", "line_numbers", "no_errors", "plain_code")},
}

# The embedded collection: one dataset per task type, in the same feature names (JSON instead of TFDS records).
MINI = ("anli_r1", "piqa", "squad_v1", "natural_questions", "xsum", "wmt16_translate_deen", "sst2", "glue_mrpc",
        "winogrande", "copa", "qrecc", "mbpp")
MINI_SIZE = 4  # records per embedded file


def sources(root: Root = readers.data_root) -> list[Source]:
  tfds = [Source("muffin", e.dataset, e.task_type, readers.Tfds(root, e.location, e.convert, e.split), e.num_examples)
          for e in _TFDS]
  files = [Source("muffin", e.dataset, e.task_type, readers.JsonRecords(root, e.location, e.convert), e.num_examples)
           for e in _FILES]
  parquet = [Source("muffin", e.dataset, e.task_type, readers.ParquetRecords(root, e.location, e.convert),
                    e.num_examples)
             for e in _PARQUET]
  return with_dialog_inversions(tfds + files + parquet)


def with_dialog_inversions(sources_: list[Source]) -> list[Source]:
  """Each dialog dataset followed by its input-inversion task (the conversation written from the turn after it:
  the public collection's Dialog-II), mixed at INVERSION_RATE of the dataset's rate. Dialog is the one Muffin
  type whose inversions are separate tasks; the others invert as one of their own templates."""
  out = []
  for s in sources_:
    out.append(s)
    if s.task_type == "dialog":
      out.append(dataclasses.replace(s, dataset=f"{s.dataset}_input_inversion", task_type="dialog_inversion",
                                     inverts=s.dataset))
  return out


def mini_sources(root: Root) -> list[Source]:
  by_name = {s.dataset: s for s in sources()}
  return with_dialog_inversions([
      Source("muffin", d, by_name[d].task_type,
             readers.JsonRecords(root, f"muffin/{d}.jsonl", by_name[d].reader.convert), MINI_SIZE)
      for d in MINI
  ])
