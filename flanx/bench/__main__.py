import sys

from flanx import bench, cli

sys.exit(cli.run(bench.main, sys.argv[1:], prog="flanx bench"))
