"""Bad input: one FlanxError line each."""

import shutil

import pytest
import seqio

from flanx import data_dir
from flanx.errors import FlanxError
from flanx.evaluation import evaluator
from tasks.evals import names, registry, suites
from tests.evaluation.conftest import FIXTURES


def _load(setting):
  return registry.examples(names.SETTINGS_BY_NAME[setting], names.VALIDATION)


def _one_line(e):
  assert "\n" not in str(e.value)
  return str(e.value)


def test_no_data_dir(monkeypatch):
  data_dir.set_data_dir(None)
  monkeypatch.delenv(data_dir.ENV_VAR, raising=False)
  with pytest.raises(FlanxError, match="no data directory") as e:
    _load("mgsm")
  _one_line(e)


def test_missing_data_dir(use_data, tmp_path):
  use_data(tmp_path / "nowhere")
  with pytest.raises(FlanxError, match="does not exist") as e:
    _load("bbh_cot")
  _one_line(e)


def test_missing_file(use_data, tmp_path):
  shutil.copytree(FIXTURES / "bbh", tmp_path / "bbh")
  (tmp_path / "bbh" / "cot-prompts" / "snarks.txt").unlink()
  use_data(tmp_path)
  with pytest.raises(FlanxError, match=r"missing data file .*snarks\.txt \(BBH snarks exemplars\)") as e:
    _load("bbh_direct")
  _one_line(e)


def test_malformed_csv_row_names_file_and_line(use_data, tmp_path):
  shutil.copytree(FIXTURES / "mmlu", tmp_path / "mmlu")
  p = tmp_path / "mmlu" / "data" / "val" / "anatomy_val.csv"
  p.write_text(p.read_text() + "a question,1,2,3,D\n")
  use_data(tmp_path)
  with pytest.raises(FlanxError, match=r"anatomy_val\.csv:3: malformed row: expected 6 fields, found 5") as e:
    _load("mmlu_direct")
  _one_line(e)


def test_bad_answer_letter_and_bad_number(use_data, tmp_path):
  shutil.copytree(FIXTURES, tmp_path / "d")
  (tmp_path / "d" / "mmlu" / "data" / "val" / "virology_val.csv").write_text("q,1,2,3,4,E\n")
  (tmp_path / "d" / "mgsm" / "mgsm_fr.tsv").write_text("ok\t3\nq?\tseven\n")
  use_data(tmp_path / "d")
  with pytest.raises(FlanxError, match=r"virology_val\.csv:1: .*'E' is not one of"):
    _load("mmlu_direct")
  with pytest.raises(FlanxError, match=r"mgsm_fr\.tsv:2: .*'seven' is not a number"):
    _load("mgsm")


def test_malformed_json(use_data, tmp_path):
  shutil.copytree(FIXTURES / "tydiqa", tmp_path / "tydiqa")
  (tmp_path / "tydiqa" / "tydiqa-goldp-v1.1-dev.json").write_text('{"data": [\n{"paragraphs": [}')
  use_data(tmp_path)
  with pytest.raises(FlanxError, match=r"dev\.json:2: malformed JSON"):
    _load("tydiqa")


def test_unknown_suite_suggests():
  with pytest.raises(FlanxError,
                     match=r"unknown evaluation suite or benchmark 'flan_heldot' \(did you mean 'flan_heldout'") as e:
    suites.get("flan_heldot")
  _one_line(e)
  with pytest.raises(FlanxError, match="did you mean 'mgsm'"):
    suites.get("msgm")
  for wrong in (None, 5, ["mmlu"]):
    with pytest.raises(FlanxError, match="must be a name such as 'flan_heldout', got") as e:
      suites.get(wrong)
    _one_line(e)


def test_missing_file_asked_for_by_name_is_the_one_line_error(use_data, tmp_path):
  shutil.copytree(FIXTURES / "mmlu", tmp_path / "mmlu")
  use_data(tmp_path)
  with pytest.raises(FlanxError, match=r"missing data file .*bbh.* \(BBH .* exemplars\)") as e:
    evaluator.evaluate(suites.get("bbh"), lambda ds: [], step=0, model_dir=str(tmp_path / "run"),
                       vocabulary=seqio.ByteVocabulary(), progress=False)
  _one_line(e)
  assert not (tmp_path / "run").exists()  # nothing half-written


def test_a_vocabulary_other_than_the_tasks_is_one_line(fixture_data, tmp_path):
  """The evaluator takes the vocabulary as an argument; one the tasks do not encode with would misread every output."""
  with pytest.raises(FlanxError, match=r"the evaluator was given .* but the tasks encode with .*data_dir.install") as e:
    evaluator.evaluate(suites.get("mgsm"), lambda ds: [], step=0, model_dir=str(tmp_path / "run"),
                       vocabulary=seqio.ByteVocabulary(extra_ids=7), progress=False)
  _one_line(e)
  assert not (tmp_path / "run").exists()


def test_eval_lengths_take_none_for_each_settings_own():
  from flanx import eval as eval_cli

  def check(**kwargs):
    eval_cli.check(eval_cli.EvalConfig(model=None, checkpoint_path="runs/x", **kwargs))

  check()  # the defaults: every length None
  check(feature_lengths={"inputs": 512, "targets": None}, max_input_length=2048)
  for kwargs, message in [
      ({"feature_lengths": {"inputs": 0, "targets": None}}, r"EVAL_FEATURE_LENGTHS\['inputs'\]=0 must be at least 1"),
      ({"feature_lengths": {"inputs": None}}, r"EVAL_FEATURE_LENGTHS=\{'inputs': None\} has no 'targets'"),
      ({"feature_lengths": 2048}, r"EVAL_FEATURE_LENGTHS=2048 must be a dict"),
      ({"max_input_length": 1}, r"EVAL_MAX_INPUT_LENGTH=1 must be at least 2"),
  ]:
    with pytest.raises(FlanxError, match=message):
      check(**kwargs)
