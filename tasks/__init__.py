"""flanx's SeqIO tasks and mixtures. Importing registers them; no file or network is touched until data is asked for."""

from tasks import demo  # noqa: F401  the built-in synthetic mixture used by the demo and the tests
from tasks import flan  # noqa: F401  the Flan 2022 finetuning collection
from tasks import evals  # noqa: F401  the held-out benchmarks
