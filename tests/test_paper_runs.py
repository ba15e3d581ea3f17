"""The paper's run files (gin/runs/flan_t5_*.gin, flan_palm_*.gin): what they require and how they select
checkpoints. Parsing only; nothing is trained."""

import gin
import pytest

from flanx import gin_config
from flanx.errors import FlanxError
from tests.pod.test_plan import PAPER_RUNS


@pytest.mark.parametrize("run", PAPER_RUNS)
def test_a_paper_run_without_its_starting_checkpoint_is_one_error_line(run):
  with pytest.raises(FlanxError) as e:
    gin_config.parse([f"runs/{run}.gin"], ["MODEL_DIR='/tmp/x'"])
  message = str(e.value)
  assert "\n" not in message
  assert message.startswith("INITIAL_CHECKPOINT_PATH is required: a paper run starts from a pretrained checkpoint")
  assert "--gin.INITIAL_CHECKPOINT_PATH=None to train from random initialisation on purpose" in message


def test_a_paper_run_trains_from_scratch_only_when_told_to():
  gin_config.parse(["runs/flan_t5_small.gin"], ["MODEL_DIR='/tmp/x'", "INITIAL_CHECKPOINT_PATH=None"])
  assert gin.query_parameter("%INITIAL_CHECKPOINT_PATH") is None
  gin_config.parse(["runs/flan_t5_small.gin"], ["MODEL_DIR='/tmp/x'", "INITIAL_CHECKPOINT_PATH='/ckpt/checkpoint_0'"])
  assert gin.query_parameter("%INITIAL_CHECKPOINT_PATH") == "/ckpt/checkpoint_0"


def test_other_run_files_still_default_to_no_starting_checkpoint():
  gin_config.parse(["runs/finetune.gin", "models/t5_1_1/tiny.gin"], ["MODEL_DIR='/tmp/x'",
                                                                      "MIXTURE_OR_TASK_NAME='flanx_demo'"])
  assert gin.query_parameter("%INITIAL_CHECKPOINT_PATH") is None
