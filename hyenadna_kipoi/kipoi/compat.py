"""Work-arounds for kipoi 0.8.6 on current libraries, applied when kipoi loads our classes.

kipoi's HDF5 writer compares dtypes with ``np.string_`` and ``np.unicode_``, which NumPy 2
removed (``AttributeError`` on the first string metadata column). This project pins NumPy 1.26,
but a user's environment may not: :func:`restore_numpy_aliases` puts the two names back
(as the NumPy 1 aliases ``np.bytes_`` and ``np.str_``) before any batch is written. It runs
on import of :mod:`hyenadna_kipoi.kipoi.model` and :mod:`hyenadna_kipoi.kipoi.dataloaders`,
which kipoi imports before it opens a writer.
"""

from __future__ import annotations

import numpy as np

_ALIASES = {"string_": "bytes_", "unicode_": "str_"}


def restore_numpy_aliases() -> list[str]:
    """Add the NumPy 1 aliases kipoi's writers use where they are missing; return the names added."""
    added = []
    for alias, target in _ALIASES.items():
        if alias not in np.__dict__:
            setattr(np, alias, getattr(np, target))
            added.append(alias)
    return added
