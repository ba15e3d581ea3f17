import sys

from flanx import quiet

quiet.environment()  # before a benchmark imports tensorflow or jax: TensorFlow's first import is then a quiet one

from flanx import bench, cli  # noqa: E402  after quiet

sys.exit(cli.run(bench.main, sys.argv[1:], prog="flanx bench"))
