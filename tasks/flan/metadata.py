"""Task name -> what it reads (.source, .family, .dataset, .fmt), filled by registry.py as it registers tasks.

Its own module so that what reads the metadata (partial mixtures, `flanx inspect`, `flanx data status`) does
not import the registry that imports it back.
"""

TASKS: dict = {}  # task name -> FormattedSource | ReleasedTask
