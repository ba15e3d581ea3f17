"""The raw-source route covers the collection's task list: Muffin's 79 datasets, T0-SF's 193 prompts and
NIV2's task names as Super-Natural-Instructions spells them. Real-data checks skip when ../shared/data is absent."""

import csv
import json


from tasks.flan import muffin, niv2, readers, t0sf
from tasks.flan.niv2_catalog import NIV2_TASKS
from tasks.flan.sources import Source

MUFFIN_SOURCES = ("FLAN", "FLAN/T0", "Dialog", "Program Synthesis")


def collection_rows(shared_data) -> list[dict]:
  with open(shared_data / "flan_cot/flan_collection_info.csv", encoding="utf-8") as f:
    return list(csv.DictReader(f))


def split_lists(shared_data) -> list[str]:
  return [t for name in ("train", "test")
          for t in (shared_data / f"niv2/splits/default/{name}_tasks.txt").read_text().split()]


def test_every_muffin_dataset_is_read_or_says_why_not(shared_data):
  listed = {r["Dataset"] for r in collection_rows(shared_data) if r["Source"] in MUFFIN_SOURCES}
  assert len(listed) == 79
  ours = {s.dataset for s in muffin.sources() if not s.inverts}  # not the dialog sets' inversion tasks
  assert listed - ours == set(muffin.UNREADABLE)
  assert ours - listed == {"mbpp"}  # program synthesis that flanx adds (in the embedded collection too)
  assert all(len(reason) > 40 for reason in muffin.UNREADABLE.values())


def test_t0sf_reads_exactly_the_listed_prompts(shared_data):
  listed = [r["Specific Task Category"] for r in collection_rows(shared_data) if r["Source"] == "T0"]
  assert sorted(listed) == sorted(t0sf.PROMPTS)
  assert sum(len(t0sf.prompts_of(d)) for d in t0sf.DATASETS) == 193


def test_p3_reader_skips_prompts_outside_the_list(tmp_path):
  for prompt in ("quartz_answer_question_based_on", "quartz_answer_question_based_on_score_eval"):
    folder = tmp_path / "p3/data" / prompt
    folder.mkdir(parents=True)
    (folder / "train.jsonl").write_text(json.dumps(
        {"inputs_pretokenized": prompt, "targets_pretokenized": "yes", "answer_choices": ["yes", "no"]}) + "\n")
  reader = readers.P3(lambda: tmp_path, "quartz", t0sf.prompts_of("quartz"))
  assert [r["inputs"] for r in reader.records()] == ["quartz_answer_question_based_on"]
  assert len(list(readers.P3(lambda: tmp_path, "quartz").records())) == 2  # no list: every folder


def test_niv2_names_are_the_repository_spellings(shared_data):
  real = [t for t in split_lists(shared_data) if "mmmlu" not in t]
  assert len(real) == 756 + 119 - 57
  assert not [t for t in real if t not in NIV2_TASKS]  # all 818, hyphens and dots included
  spelled = [t for t in real if "-" in t or "." in t]
  assert len(spelled) == 22 and "task140_detoxifying-lms_classification_style" in spelled
  assert "task075_squad1.1_answer_generation" in NIV2_TASKS and "task075_squad1" not in NIV2_TASKS


def test_niv2_count_against_the_collection_list_and_the_paper(shared_data):
  listed = [r["Specific Task Category"] for r in collection_rows(shared_data) if r["Source"] == "NIv2"]
  assert len(listed) == len(NIV2_TASKS) == 1556
  assert sorted(listed) == sorted(readers.niv2_catalog_form(t) for t in NIV2_TASKS)
  assert niv2.kept(NIV2_TASKS) == list(NIV2_TASKS)  # the list already leaves out MMLU-derived tasks
  mmlu_derived = [t for t in split_lists(shared_data) if "mmmlu" in t]
  assert len(mmlu_derived) == 57 and not set(mmlu_derived) & set(NIV2_TASKS)


def test_a_niv2_task_file_is_found_under_its_real_name(tmp_path):
  tasks_dir = tmp_path / "niv2/tasks"
  tasks_dir.mkdir(parents=True)
  task = {"Definition": ["Answer."], "Positive Examples": [{"input": "a", "output": "b"}],
          "Instances": [{"id": "1", "input": "x", "output": ["y"]}]}
  (tasks_dir / "task141_odd-man-out_classification_category.json").write_text(json.dumps(task))
  (tasks_dir / "task141_something_else.json").write_text(json.dumps(task))
  for name in ("task141_odd-man-out_classification_category", "task141_odd_man_out_classification_category"):
    reader = readers.Niv2Json(lambda: tmp_path, name)
    assert reader.present() and [r["answer"] for r in reader.records()] == ["y"]
  assert not readers.Niv2Json(lambda: tmp_path, "task141_odd_man_out_other").present()
  source = Source("niv2", "task075_squad1.1_answer_generation", "niv2", readers.Niv2Json(lambda: tmp_path,
                  "task075_squad1.1_answer_generation"), 5)
  assert source.where().endswith("niv2/tasks/task075_squad1.1_answer_generation.json")
