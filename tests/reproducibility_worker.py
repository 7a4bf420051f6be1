"""One fresh process of the reproducibility stress test (tests/test_reproducibility.py).

    python reproducibility_worker.py MODEL_DIR EXPECTED_NPZ OUT_NPZ SEED

Perturbs the allocator (blocks of random sizes filled with junk, then freed, so reused memory
holds garbage), then computes hidden states and logits of the fixture's input on the fast
path (twice: filter spectra computed, then cached) and on the plain path, and saves them.
The thread count comes from HYENADNA_NUM_THREADS (hyenadna_kipoi.numerics).
"""

from __future__ import annotations

import sys

import numpy as np
import torch

from hyenadna_kipoi import load_model


def main(model_dir: str, expected: str, out: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    junk = [torch.full((int(rng.integers(1, 1 << 20)),), float(rng.choice([1e30, -7.5, np.nan])))
            for _ in range(int(rng.integers(0, 12)))]
    ids = torch.from_numpy(np.load(expected)["input_ids"])
    model = load_model(model_dir, device="cpu", dtype=torch.float32).eval()
    del junk[: len(junk) // 2]
    results = {}
    with torch.no_grad():
        for path in ("fast", "plain"):
            model.fast_path = path == "fast"
            results[f"{path}_hidden"] = model.embed(ids).numpy().copy()
            results[f"{path}_logits"] = model(ids).numpy().copy()
            results[f"{path}_hidden_again"] = model.embed(ids).numpy().copy()
    results["threads"] = np.array(torch.get_num_threads())
    np.savez(out, **results)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
