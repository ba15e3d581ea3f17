"""Evaluation tests: byte vocabulary, and the data directory pointed at the fixtures or the real files."""

import pathlib

import pytest
import seqio

from flanx import data_dir, vocab

# The same made-up fixtures `make demo` evaluates on (written by make_fixtures.py).
FIXTURES = pathlib.Path(__file__).resolve().parents[2] / "tasks" / "evals" / "fixtures"


@pytest.fixture(autouse=True)
def byte_vocabulary():
  vocab.use(seqio.ByteVocabulary())


@pytest.fixture
def use_data(monkeypatch):
  """use_data(path): makes `path` the data directory for this test."""
  data_dir.set_data_dir(None)

  def use(path):
    monkeypatch.setenv(data_dir.ENV_VAR, str(path))
    return pathlib.Path(path)
  return use


@pytest.fixture
def fixture_data(use_data):
  return use_data(FIXTURES)
