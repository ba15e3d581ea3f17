"""The released, pre-rendered collection: its three public layouts, bad records, mixtures and errors."""

import itertools

import gin
import pytest
import seqio

import tasks  # noqa: F401  registers everything
from flanx import inspect, records, vocab
from flanx.errors import FlanxError
from tasks.flan import mixing, names, released
from tests.flan import collection_fixtures as fx

LENGTHS = {"inputs": 256, "targets": 64}


@pytest.fixture(autouse=True)
def byte_vocab():
  vocab.use(seqio.ByteVocabulary())


@pytest.fixture
def collection(tmp_path):
  """An empty collection directory that the released tasks read (gin collection_dir.path)."""
  gin.bind_parameter("collection_dir.path", str(tmp_path))
  return tmp_path


def read(task_name: str) -> list[dict]:
  ds = seqio.get_mixture_or_task(task_name).get_dataset(LENGTHS, split="train", shuffle=False, num_epochs=1)
  return [{k: v.decode() if isinstance(v, bytes) else v for k, v in row.items()} for row in ds.as_numpy_iterator()]


def source(submix: str, template_type: str) -> released.ReleasedSource:
  return released.ReleasedSource(submix, template_type)


def test_hugging_face_submix_shards_are_split_by_template_type(collection):
  fx.hf_submix(collection, "flan2021", per_type=3, shards=2)
  for tt in fx.TEMPLATE_TYPES:
    rows = list(source("flan2021", tt).records())
    assert sorted(r["inputs"] for r in rows) == sorted(f"flan2021 {tt} question {i}?" for i in range(3))
    assert {r["format"] for r in rows} == {tt} and {r["family"] for r in rows} == {"flan2021"}
    assert {r["task"] for r in rows} == {"flan2021_task_0", "flan2021_task_1"}
    assert sorted(r["template"] for r in rows) == [0, 1, 2]
  rows = read(names.released_task("flan2021", "fs_noopt"))  # through seqio: tokenized, EOS appended
  assert len(rows) == 3 and all(r["targets"][-1] == 1 for r in rows)


def test_open_orca_folders_with_underscore_columns(collection):
  fx.open_orca(collection, "flan", "flan2021", "zs_opt", n=4)  # Open-Orca spells Flan 2021 "flan"
  fx.open_orca(collection, "t0", "t0", "fs_noopt", n=2)
  rows = list(source("flan2021", "zs_opt").records())
  assert [r["inputs"] for r in rows] == [f"flan2021 zs_opt question {i}?" for i in range(4)]
  assert rows[1]["task"] == "flan2021_task_1" and rows[1]["template"] == 1
  assert len(read(names.released_task("t0", "fs_noopt"))) == 2
  assert not source("t0", "zs_opt").present()


@pytest.mark.parametrize("suffix", ["_train.jsonl.gz", "_train.jsonl", ".jsonl"])
def test_exported_jsonl_files(collection, suffix):
  fx.exported_jsonl(collection, "cot", "cot", "zs_opt", n=3, suffix=suffix)
  assert [r["targets"] for r in source("cot", "zs_opt").records()] == [f"cot answer {i}" for i in range(3)]
  rows = read(names.released_task("cot", "zs_opt"))
  assert [r["targets_pretokenized"] for r in rows] == [f"cot answer {i}" for i in range(3)]
  assert all(r["targets"][-1] == 1 for r in rows)  # tokenized, EOS appended


def test_exports_published_in_parts_are_read_in_order(collection):
  # SirNeural/flan_v2 publishes flan fs_opt as ..._train_part1.jsonl.gz, ..._part2...; part10 comes after part2.
  sizes = (2,) * 10 + (3,)
  fx.exported_parts(collection, "flan", "flan2021", "fs_opt", sizes)
  rows = list(source("flan2021", "fs_opt").records())
  assert [r["inputs"] for r in rows] == [f"flan2021 fs_opt question {i}?" for i in range(sum(sizes))]
  assert len(read(names.released_task("flan2021", "fs_opt"))) == sum(sizes)


def test_a_template_type_an_export_lacks_is_named(collection):
  for tt in ("zs_opt", "zs_noopt", "fs_noopt"):  # the export's t0 files: no fs_opt
    fx.exported_jsonl(collection, "t0", "t0", tt)
  with pytest.raises(FlanxError) as e:
    source("t0", "fs_opt").check()
  assert "\n" not in str(e.value)
  assert "has this submix's zs_opt, zs_noopt, fs_noopt but no fs_opt" in str(e.value)
  with pytest.raises(FlanxError, match=r"per family: .*t0 1 of 4"):
    seqio.get_mixture_or_task(names.released_submix("t0")).get_dataset(LENGTHS, split="train")


def test_per_template_files_win_over_whole_submix_shards(collection):
  fx.hf_submix(collection, "niv2", per_type=2)
  fx.exported_jsonl(collection, "niv2", "niv2", "zs_opt", n=5, suffix=".jsonl")
  files, by_record = source("niv2", "zs_opt").files()
  assert [f.name for f in files] == ["niv2_zs_opt.jsonl"] and not by_record
  assert len(list(source("niv2", "zs_opt").records())) == 5
  assert len(list(source("niv2", "fs_opt").records())) == 2  # no per-template file: the shards, filtered


def test_a_missing_submix_names_where_it_belongs(collection):
  with pytest.raises(FlanxError) as e:
    read(names.released_task("dialog", "zs_opt"))
  message = str(e.value)
  assert "released dialog submix, template type 'zs_opt' is missing" in message
  assert str(collection) in message and "dialog_submix_original/data/*.parquet" in message and "\n" not in message


def test_a_template_type_the_files_do_not_hold_is_one_clear_error(collection):
  rows = [fx.record("cot", "zs_noopt", i) for i in range(3)]
  fx.write_parquet(collection / "cot_submix_original/data/train-00000-of-00001.parquet", rows)
  with pytest.raises(FlanxError, match=r"no records in 1 file\(s\).*template types found: zs_noopt \(3\)"):
    list(source("cot", "zs_opt").records())


def bad_parquet(collection):
  rows = [fx.record("t0", "zs_opt", i) for i in range(3)]
  rows[1]["targets"] = None  # row 2: no target
  return fx.write_parquet(collection / "t0_submix_original/data/train-00000-of-00001.parquet", rows)


def bad_jsonl(collection):
  rows = [fx.record("t0", "zs_opt", 0), '{"inputs": "half a record', fx.record("t0", "zs_opt", 2)]
  return fx.write_jsonl(collection / "t0_zs_opt_train.jsonl.gz", rows)


@pytest.mark.parametrize("write,where,reason", [
    (bad_parquet, "row 2", "missing 'targets'"),
    (bad_jsonl, "2", "broken JSON"),
])
def test_a_malformed_record_under_both_policies(collection, capsys, write, where, reason):
  path = write(collection)
  gin.bind_parameter("records.BadRecordPolicy.mode", "strict")
  with pytest.raises(FlanxError) as e:
    list(source("t0", "zs_opt").records())
  assert f"{path}:{where}: malformed record: {reason}" in str(e.value)

  gin.bind_parameter("records.BadRecordPolicy.mode", "skip")
  before = records.skipped().get(str(path), 0)
  rows = list(source("t0", "zs_opt").records())
  assert [r["inputs"] for r in rows] == ["t0 zs_opt question 0?", "t0 zs_opt question 2?"]
  assert records.skipped()[str(path)] == before + 1
  assert f"skipped malformed record {path}:{where}" in capsys.readouterr().err


def test_a_record_without_template_type_cannot_be_placed(collection):
  rows = [fx.record("dialog", "zs_opt", 0), {"inputs": "q", "targets": "a"}]
  path = fx.write_parquet(collection / "dialog_submix_original/data/train-00000-of-00001.parquet", rows)
  with pytest.raises(FlanxError, match=f"{path}:row 2: malformed record: missing 'template_type'"):
    list(source("dialog", "zs_opt").records())


def test_a_corrupt_gzip_file_is_a_bad_record(collection):
  path = collection / "cot_fs_opt_train.jsonl.gz"
  path.write_bytes(b"\x1f\x8b\x08\x00 this is not deflate data")
  with pytest.raises(FlanxError, match="unreadable compressed data"):
    list(source("cot", "fs_opt").records())


def test_collection_directory_from_gin_env_and_data_dir(tmp_path, monkeypatch):
  monkeypatch.setenv(released.ENV_VAR, str(tmp_path / "from_env"))
  assert str(released.collection_dir()) == str(tmp_path / "from_env")
  gin.bind_parameter("collection_dir.path", str(tmp_path / "from_gin"))
  assert str(released.collection_dir()) == str(tmp_path / "from_gin")
  gin.clear_config()
  monkeypatch.delenv(released.ENV_VAR)
  monkeypatch.setenv("FLANX_DATA_DIR", str(tmp_path))
  assert str(released.collection_dir()) == str(tmp_path / "flan_collection")
  for wrong in ("3", "['a']", "True"):
    gin.parse_config(f"collection_dir.path = {wrong}")
    with pytest.raises(FlanxError, match="collection_dir.path=") as e:
      released.collection_dir()
    assert "\n" not in str(e.value)
  gin.clear_config()
  monkeypatch.delenv("FLANX_DATA_DIR")
  with pytest.raises(FlanxError, match="no released Flan collection directory: set FLANX_COLLECTION_DIR"):
    released.collection_dir()


def _submix_shares(mixture: str) -> dict[str, float]:
  shares = inspect.rates(mixture).groupby("family")["rate"].sum() * 100
  return {k: float(v) for k, v in shares.items()}


def test_mixture_at_the_public_code_rates():
  shares = _submix_shares(names.released_mixture())
  assert shares == pytest.approx({s: 100 * r for s, r in mixing.SUBMIX_RATES.items()})
  table = inspect.rates(names.released_mixture())
  assert set(table[table["family"] == "cot"]["format"]) == {"zs_opt", "fs_opt"}
  assert set(table[table["family"] == "t0"]["format"]) == set(names.TEMPLATE_TYPES)


@pytest.mark.parametrize("variant", names.PROPORTIONS)
def test_mixtures_at_proportions_a_and_b(variant):
  shares = _submix_shares(names.released_mixture(variant))
  want = mixing.PROPORTIONS[variant]
  total = sum(want.values())
  assert shares["flan2021"] + shares["dialog"] == pytest.approx(100 * want["muffin"] / total)
  assert shares["flan2021"] / shares["dialog"] == pytest.approx(40 / 3)
  for submix, family in (("t0", "t0sf"), ("niv2", "niv2"), ("cot", "cot")):
    assert shares[submix] == pytest.approx(100 * want[family] / total)


def test_submix_mixture_is_built_from_its_template_tasks(collection):
  fx.hf_submix(collection, "flan2021", per_type=2)
  ds = seqio.get_mixture_or_task(names.released_submix("flan2021")).get_dataset(
      LENGTHS, split="train", shuffle=True, seed=0, copy_pretokenized=True, passthrough_features=["format"])
  formats = [row["format"].decode() for row in itertools.islice(ds.as_numpy_iterator(), 80)]
  assert set(formats) == set(names.TEMPLATE_TYPES)  # equal rates: each quarter of the draws, roughly
  assert max(formats.count(tt) for tt in names.TEMPLATE_TYPES) < 40
