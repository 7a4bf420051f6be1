"""``python -m hyenadna_kipoi.train COMMAND ...``: the ``hyenadna`` CLI, for ``torchrun`` launches."""

import sys

from ..cli import main

sys.exit(main())
