"""DATA_DIR resolves the same way for every command: --gin.DATA_DIR, then FLANX_DATA_DIR, then unset."""

import pytest

from flanx import cli, data_dir, vocab
from flanx.errors import FlanxError
from tests.helpers import gin_train


@pytest.fixture(autouse=True)
def no_installed_context():
  data_dir.install(None)
  yield
  data_dir.install(None)


def test_gin_macro_then_environment_then_unset(tmp_path, monkeypatch):
  import gin
  monkeypatch.setenv(data_dir.ENV_VAR, str(tmp_path / "env"))
  assert data_dir.resolve() == data_dir.DataContext(tmp_path / "env", data_dir.ENV_VAR)
  gin.parse_config([f"DATA_DIR = '{tmp_path / 'gin'}'"])
  assert data_dir.resolve() == data_dir.DataContext(tmp_path / "gin", "DATA_DIR")
  assert data_dir.resolve(str(tmp_path / "arg")).path == tmp_path / "arg"  # an entry point's --gin.DATA_DIR
  gin.clear_config()
  gin.parse_config(["DATA_DIR = None"])  # the run files' default: fall through to the environment
  assert data_dir.resolve().origin == data_dir.ENV_VAR
  monkeypatch.delenv(data_dir.ENV_VAR)
  assert data_dir.resolve() == data_dir.DataContext(None)


@pytest.mark.parametrize("value, message", [
    (5, r"DATA_DIR=5: give a directory path as a string \(got int\)"),
    (["/data"], r"give a directory path as a string \(got list\)"),
    ("", r"DATA_DIR='' is empty"),
    (True, r"DATA_DIR=True: give a directory path as a string \(got bool\)"),
])
def test_wrong_type_is_one_line(value, message):
  with pytest.raises(FlanxError, match=message):
    data_dir.resolve(value)


@pytest.mark.parametrize("arg, message", [
    ("--gin.DATA_DIR=5", r"--gin.DATA_DIR=5: give a directory path"),
    ("--gin.DATA_DIR=/data/flan", r"not a gin value; quote the path"),
    ("--gin.DATA_DIR=''", r"is empty"),
    ("--gin.DATA_DIR", r"needs a value"),
])
def test_argparse_commands_take_gin_data_dir_and_reject_bad_values(arg, message):
  with pytest.raises(FlanxError, match=message):
    data_dir.split_argv(["flanx_demo", arg])


def test_argparse_commands_take_a_quoted_gin_data_dir(tmp_path):
  assert data_dir.split_argv(["x", f"--gin.DATA_DIR='{tmp_path}'", "-n", "1"]) == (str(tmp_path), ["x", "-n", "1"])
  assert data_dir.split_argv(["x", "--gin.DATA_DIR=None"]) == (None, ["x"])


def test_install_for_command_installs_the_given_directory_and_vocabulary(tmp_path, monkeypatch):
  """The argparse commands' one set-up: --gin.DATA_DIR over FLANX_DATA_DIR, the --vocab choice active after."""
  monkeypatch.setenv(data_dir.ENV_VAR, str(tmp_path / "env"))
  context, which = vocab.install_for_command(None, "byte")
  assert (context.path, context.origin, which) == (tmp_path / "env", data_dir.ENV_VAR, "byte vocabulary")
  context, which = vocab.install_for_command(str(tmp_path), "auto")
  assert context.path == tmp_path and context.origin == "DATA_DIR" and data_dir.current() == context
  assert which.startswith("byte vocabulary (no SentencePiece vocabulary at") and vocab.active() is context.vocabulary
  with pytest.raises(FlanxError, match=rf"no SentencePiece vocabulary at {tmp_path}/vocab/spiece.model"):
    vocab.install_for_command(str(tmp_path), "sentencepiece")
  with pytest.raises(FlanxError, match=r"--vocab 'bytes': choose one of"):
    vocab.install_for_command(str(tmp_path), "bytes")


def test_missing_vocabulary_is_one_line_naming_the_path_never_a_download(tmp_path, monkeypatch):
  monkeypatch.delenv(data_dir.ENV_VAR, raising=False)
  unset = vocab.sentencepiece()  # a model built for its shapes only (bench train) needs no file
  with pytest.raises(FlanxError, match=r"no SentencePiece vocabulary: no data directory is set.*FLANX_DATA_DIR"):
    vocab.check(unset)
  with pytest.raises(FlanxError, match=r"no SentencePiece vocabulary: no data directory is set"):
    unset.encode("first use")
  data_dir.set_data_dir(tmp_path)
  with pytest.raises(FlanxError, match=rf"no SentencePiece vocabulary at {tmp_path}/vocab/spiece.model"):
    data_dir.install(data_dir.current().with_vocabulary(vocab.sentencepiece()))
  with pytest.raises(FlanxError, match=r"SentencePiece model /nowhere/x.model does not exist"):
    vocab.check(vocab.sentencepiece(path="/nowhere/x.model"))
  with pytest.raises(FlanxError, match=r"vocab.sentencepiece.path=5: give"):
    vocab.sentencepiece(path=5)


def test_vocabulary_comes_from_the_data_directory(shared_data):
  data_dir.set_data_dir(shared_data)
  assert vocab.sentencepiece().vocab_size == 32100


def test_auto_vocabulary_falls_back_to_bytes_and_says_so(tmp_path):
  chosen, which = vocab.for_command("auto", data_dir.DataContext(tmp_path, "DATA_DIR"))
  assert chosen.vocab_size == vocab.byte().vocab_size
  assert which.startswith("byte vocabulary (no SentencePiece vocabulary at") and str(tmp_path) in which
  with pytest.raises(FlanxError, match="no SentencePiece vocabulary at"):
    vocab.for_command("sentencepiece", data_dir.DataContext(tmp_path, "DATA_DIR"))


def test_readme_inspect_works_on_a_fresh_machine(monkeypatch, capsys):
  """No FLANX_DATA_DIR: `flanx inspect flan2022_mini` runs on the embedded collection with bytes."""
  monkeypatch.delenv(data_dir.ENV_VAR, raising=False)
  assert cli.main(["inspect", "flan2022_mini", "-n", "1"]) == 0
  out = capsys.readouterr().out
  assert "flanx inspect: byte vocabulary (no SentencePiece vocabulary: no data directory is set" in out
  assert "flan2022_mini:" in out and "\n--- " in out


def test_insisting_on_sentencepiece_without_it_is_one_line(monkeypatch, capsys):
  monkeypatch.delenv(data_dir.ENV_VAR, raising=False)
  assert cli.main(["inspect", "flan2022_mini", "--vocab", "sentencepiece"]) == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and err[0].startswith("flanx inspect: error: no SentencePiece vocabulary"), err


def test_data_status_takes_gin_data_dir(tmp_path, monkeypatch, capsys):
  monkeypatch.delenv(data_dir.ENV_VAR, raising=False)
  assert cli.main(["data", "status", f"--gin.DATA_DIR='{tmp_path / 'absent'}'"]) == 2
  assert f"data directory {tmp_path / 'absent'} does not exist (from DATA_DIR)" in capsys.readouterr().err
  assert cli.main(["data", "status", f"--gin.DATA_DIR='{tmp_path}'"]) == 0
  assert "present" in capsys.readouterr().out


def test_train_honours_gin_data_dir(tmp_path, monkeypatch):
  """--gin.DATA_DIR reaches training: the model's SentencePiece vocabulary is looked for there, and the run's
  tasks read from it."""
  monkeypatch.setenv(data_dir.ENV_VAR, str(tmp_path / "from-env"))
  given = tmp_path / "given"
  given.mkdir()
  with pytest.raises(FlanxError, match=rf"no SentencePiece vocabulary at {given}/vocab/spiece.model \(data "
                                       rf"directory from DATA_DIR\)"):
    gin_train(tmp_path / "run", f"DATA_DIR = '{given}'", "VOCABULARY = @vocab.sentencepiece()", "TRAIN_STEPS = 1")
  gin_train(tmp_path / "run", f"DATA_DIR = '{given}'", "TRAIN_STEPS = 1", "BATCH_SIZE = 8",
            "TASK_FEATURE_LENGTHS = {'inputs': 16, 'targets': 8}")
  assert data_dir.data_dir() == given


def test_train_rejects_a_wrongly_typed_data_dir(tmp_path):
  with pytest.raises(FlanxError, match=r"DATA_DIR=7: give a directory path as a string"):
    gin_train(tmp_path / "run", "DATA_DIR = 7", "TRAIN_STEPS = 1")

