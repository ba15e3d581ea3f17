"""Shared test set-up: 8 simulated CPU devices, and the real data directory when it is present."""

import os
import pathlib

# Must happen before jax is imported anywhere in the test process.
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import pytest  # noqa: E402

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
# The real data files live beside the checkout (../shared/data); FLANX_SHARED_DATA points elsewhere.
SHARED_DATA = pathlib.Path(os.environ.get("FLANX_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture
def shared_data() -> pathlib.Path:
  """The directory of real benchmark and Flan files; the test is skipped when it is absent."""
  if not SHARED_DATA.is_dir():
    pytest.skip(f"real data directory {SHARED_DATA} is not present")
  return SHARED_DATA
