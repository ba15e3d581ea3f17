import sys

from flanx import quiet

quiet.environment()  # before bench imports tensorflow or jax
quiet.import_tensorflow()

from flanx import bench, cli  # noqa: E402  after quiet: tensorflow's import noise must be silenced first

sys.exit(cli.run(bench.main, sys.argv[1:], prog="flanx bench"))
