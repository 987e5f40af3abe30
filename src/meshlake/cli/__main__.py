"""``python -m meshlake.cli``: the ``meshlake`` command."""

from meshlake.cli import main

main()
