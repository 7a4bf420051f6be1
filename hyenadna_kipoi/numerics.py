"""Same input, same output: reproducible threading and math-library modes for this process.

Imported first by ``hyenadna_kipoi/__init__.py``, so it runs before torch is imported in a
fresh process. What it fixes, and why:

* **No dynamic thread teams.** With ``OMP_DYNAMIC``/``MKL_DYNAMIC`` on, the OpenMP runtime
  and MKL may hand a parallel region fewer threads than asked for, decided at run time
  (libgomp looks at the load average): the work is then split differently, and with it the
  rounding of every blocked or split reduction. Both are switched off (environment before
  the libraries start, and ``omp_set_dynamic(0)`` / ``mkl_set_dynamic(0)`` for a process that
  imported torch first).
* **MKL's conditional numerical reproducibility** (``MKL_CBWR=AUTO,STRICT``): MKL otherwise
  picks code paths by the alignment of the arrays it is given and may schedule work
  dynamically, which makes results vary from run to run at the last bits; STRICT makes them
  a function of the inputs, the CPU's instruction set and the thread count only. Measured
  here: no cost at the tiny shape (``COMPATIBLE`` would also fix the instruction set, at
  ~1.8x the time, so it is left to the user).
* **A fixed intra-op thread count** for torch: ``$HYENADNA_NUM_THREADS`` when set, else
  torch's own default (the number of cores), set once and not changed behind the user's back.

A user's own settings win: every variable is only set when absent.
"""

from __future__ import annotations

import ctypes
import os
import sys
import warnings

ENV_DEFAULTS = {"OMP_DYNAMIC": "FALSE", "MKL_DYNAMIC": "FALSE", "MKL_CBWR": "AUTO,STRICT"}
THREADS_ENV = "HYENADNA_NUM_THREADS"


def set_environment() -> None:
    """Put the reproducible defaults in the environment (only keys that are absent)."""
    for key, value in ENV_DEFAULTS.items():
        os.environ.setdefault(key, value)


def _loaded_library(fragment: str) -> ctypes.CDLL | None:
    """A shared library already mapped into this process whose path contains ``fragment``."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {parts[-1] for parts in (line.split() for line in maps)
                     if len(parts) >= 6 and fragment in os.path.basename(parts[-1])}
    except OSError:
        return None
    for path in sorted(paths):
        try:
            return ctypes.CDLL(path)
        except OSError:
            continue
    return None


def _switch_off_dynamic_teams() -> None:
    """``omp_set_dynamic(0)`` and ``mkl_set_dynamic(0)`` in the libraries torch brought in.

    MKL is linked into libtorch_cpu; its by-value C entry point is ``MKL_Set_Dynamic`` (the
    lower-case ``mkl_set_dynamic`` exported there is the Fortran one, which takes a pointer).
    """
    if not sys.platform.startswith("linux"):
        return
    for fragment, symbol in (("libgomp", "omp_set_dynamic"), ("libiomp", "omp_set_dynamic"),
                             ("libtorch_cpu", "MKL_Set_Dynamic")):
        lib = _loaded_library(fragment)
        fn = getattr(lib, symbol, None) if lib is not None else None
        if fn is not None:
            fn.argtypes = [ctypes.c_int]
            fn(0)


def configure() -> None:
    """Apply every setting above to this process (idempotent; called on package import)."""
    set_environment()
    import torch

    _switch_off_dynamic_teams()
    threads = os.environ.get(THREADS_ENV, "").strip()
    if threads:
        try:
            n = int(threads)
        except ValueError:
            n = 0
        if n < 1:  # a warning, not an error: this runs on import, where no CLI can catch it
            warnings.warn(f"{THREADS_ENV} must be a positive integer, got {threads!r}; using torch's "
                          f"{torch.get_num_threads()} threads", stacklevel=2)
        elif torch.get_num_threads() != n:
            torch.set_num_threads(n)
