import sys

# `python -m flanx.bench`: through the `flanx` command, as `python -m flanx.eval` is (quiet start-up, and its
# stdout errors, `| head` included, end as one line or quietly instead of a traceback).
from flanx import cli

sys.exit(cli.main(["bench", *sys.argv[1:]]))
