"""bf16 inference (``--dtype bfloat16``) against fp32, in one run: speed and error, so a user can choose.

Within ``fast_path.compute_dtype("bfloat16")`` the projections and the MLP run in bf16 (autocast:
AMX/AVX512-BF16 on CPU, tensor cores on GPU) while the residual stream, the long convolutions,
the final LayerNorm, the LM head and the log-softmax stay fp32 (see ``hyenadna_kipoi/fast_path.py``).

1. Embeddings (``model.embed``, what ``hyenadna embed`` runs): tokens/s in fp32 and bf16 for the
   tiny (2×128) and small (4×256) shapes at 1k and 16k tokens, and the relative error of each
   sequence's last hidden states, ``||bf16 - fp32|| / ||fp32||`` over its ``[L, d]`` states (median
   and max over the sequences) and of its mean-pooled embedding (max).
2. Variant LLRs (``score_variants``, what ``hyenadna score-variants`` runs) on the synthetic genome
   and variant mix of ``bench_variants.py`` (70% SNVs, 25% indels, 5% multi-allelic) at W = 1,024
   (tiny): |bf16 - fp32| (median, max), Spearman correlation with fp32, variants/s of each.

fp32 and bf16 alternate in rounds (each round times both on the same inputs), so a change in the
machine's load hits both alike. Models have random weights whose tied output layer reads the
hidden states through ``ln_f`` × 0.05: about 1.4–2 nats per base like a trained model, where plain
random weights give ~80 and LLRs whose size (and bf16 error) no trained model has.

    python benchmarks/bench_bf16.py --out benchmarks/results/bf16_cpu.md
    python benchmarks/bench_bf16.py --device cuda --out benchmarks/results/bf16_gpu.md
"""

from __future__ import annotations

import argparse
import re
import shlex
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Callable

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_variants import make_variants, write_genome  # noqa: E402
from bench_variants_scale import spearman  # noqa: E402
from run_all import hardware  # noqa: E402

from hyenadna_kipoi import HyenaConfig, HyenaDNA  # noqa: E402
from hyenadna_kipoi.data import Genome  # noqa: E402
from hyenadna_kipoi.fast_path import compute_dtype  # noqa: E402
from hyenadna_kipoi.score import score_variants  # noqa: E402

SHAPES = {"tiny": (2, 128), "small": (4, 256)}  # name: (n_layer, d_model)
LENGTHS = {"1k": 1024, "16k": 16384}
TOKENS_PER_BATCH = 16384  # sequences per embed call: this many tokens' worth (1k: 16 sequences; 16k: 1)
DTYPES = ("float32", "bfloat16")
VARIANT_WINDOW = 1024
OUTPUT_SCALE = 0.05  # ln_f weight factor: ~1.4-2 nats per base, like a trained model


def trained_like(n_layer: int, d_model: int, l_max: int, device: str, seed: int = 0) -> HyenaDNA:
    """A random-weight model whose logits have a trained model's scale (ln_f × OUTPUT_SCALE)."""
    torch.manual_seed(seed)
    model = HyenaDNA(HyenaConfig(d_model=d_model, n_layer=n_layer, max_seq_len=l_max))
    with torch.no_grad():
        model.backbone.ln_f.weight.mul_(OUTPUT_SCALE)
    return model.to(device).eval()


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def alternate(run: Callable[[], object], device: str, rounds: int,
              warm_up: Callable[[], object] | None = None) -> tuple[dict[str, object], dict[str, float]]:
    """``run()`` under each dtype, alternating for ``rounds`` rounds after one warm-up each (``warm_up()``,
    default ``run()``): the first round's results and the summed seconds per dtype."""
    for dtype in DTYPES:  # warm-up: filter spectra cached, kernels and autocast paths compiled
        with compute_dtype(dtype):
            (warm_up or run)()
    results: dict[str, object] = {}
    seconds = dict.fromkeys(DTYPES, 0.0)
    for _ in range(rounds):
        for dtype in DTYPES:
            with compute_dtype(dtype):
                _sync(device)
                t0 = time.perf_counter()
                out = run()
                _sync(device)
                seconds[dtype] += time.perf_counter() - t0
            results.setdefault(dtype, out)
    return results, seconds


def relative_errors(low: torch.Tensor, ref: torch.Tensor) -> np.ndarray:
    """``||low_i - ref_i|| / ||ref_i||`` per sequence i of ``[B, ...]`` tensors (float64)."""
    diff = (low.double() - ref.double()).flatten(1).norm(dim=1)
    return (diff / ref.double().flatten(1).norm(dim=1)).cpu().numpy()


def embed_rows(device: str, rounds: int, lengths: list[str]) -> list[str]:
    lines = []
    for shape, (n_layer, d_model) in SHAPES.items():
        model = trained_like(n_layer, d_model, max(LENGTHS[n] for n in lengths) + 2, device)
        for name in lengths:
            L = LENGTHS[name]
            batch = max(1, TOKENS_PER_BATCH // L)
            gen = torch.Generator().manual_seed(L)
            ids = torch.randint(7, 11, (batch, L), generator=gen).to(device)  # A C G T

            def run() -> torch.Tensor:
                with torch.inference_mode():
                    return model.embed(ids)

            hidden, seconds = alternate(run, device, rounds)
            states = relative_errors(hidden["bfloat16"], hidden["float32"])
            pooled = relative_errors(hidden["bfloat16"].mean(dim=1), hidden["float32"].mean(dim=1))
            rate = {d: rounds * batch * L / seconds[d] for d in DTYPES}
            line = (f"| {shape} {n_layer}×{d_model} | {L:,} × {batch} | {rate['float32']:,.0f} | "
                    f"{rate['bfloat16']:,.0f} | {rate['bfloat16'] / rate['float32']:.2f}× | {np.median(states):.1e} / {states.max():.1e} "
                    f"| {pooled.max():.1e} |")
            print(line, flush=True)
            lines.append(line)
    return lines


def variant_rows(device: str, rounds: int, n_variants: int, batch_size: int | None) -> list[str]:
    model = trained_like(*SHAPES["tiny"], VARIANT_WINDOW + 2, device)
    with tempfile.TemporaryDirectory() as tmp:
        genome = Genome(write_genome(Path(tmp)))
        variants = make_variants(genome, n_variants, VARIANT_WINDOW)
        warm = make_variants(genome, 4, VARIANT_WINDOW, seed=3)

        def run(which: list = variants) -> np.ndarray:
            rows = score_variants(model, genome, which, window=VARIANT_WINDOW, batch_size=batch_size, progress=False)
            return np.array([r.llr for r in rows])

        llr, seconds = alternate(run, device, rounds, warm_up=lambda: run(warm))
        genome.close()
    ref, low = llr["float32"], llr["bfloat16"]
    err = np.abs(low - ref)
    rate = {d: rounds * len(ref) / seconds[d] for d in DTYPES}
    line = (f"| tiny 2×128, W = {VARIANT_WINDOW:,} | {len(ref)} | {rate['float32']:.1f} | {rate['bfloat16']:.1f} | "
            f"{rate['bfloat16'] / rate['float32']:.2f}× | {np.median(err):.1e} / {err.max():.1e} | "
            f"{np.median(np.abs(ref)):.2f} | {spearman(low, ref):.5f} |")
    print(line, flush=True)
    return [line]


def machine(device: str) -> str:
    """Hardware and versions (``run_all.hardware``) plus the CPU's bf16 flags and torch's threads."""
    flags = next((line.split(":", 1)[1].split() for line in open("/proc/cpuinfo") if line.startswith("flags")), [])
    bf16 = [f for f in flags if re.search(r"bf16|amx", f)]
    extra = [f"- bf16 CPU flags: {', '.join(bf16) or 'none'}; torch threads: {torch.get_num_threads()}; "
             f"device: {device}"]
    return hardware() + "\n" + "\n".join(extra)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rounds", type=int, default=3, help="alternating fp32/bf16 rounds of the embeddings "
                                                             "(default: 3)")
    parser.add_argument("--variant-rounds", type=int, default=2, help="the same for the variants (default: 2)")
    parser.add_argument("--lengths", default="1k,16k", help="embedding lengths: 1k, 16k (default: both)")
    parser.add_argument("--variants", type=int, default=48, help="ALT alleles scored per dtype and round (default: 48)")
    parser.add_argument("--batch-size", type=int, help="windows per forward in score_variants (default: auto)")
    parser.add_argument("--out", help="also write the tables (markdown) here")
    args = parser.parse_args()
    command = "python " + " ".join(shlex.quote(a) for a in sys.argv)
    header = ["# bf16 inference against fp32", "", f"{date.today().isoformat()}, `{command}`", "", machine(args.device),
              f"- load average at the start: {' '.join(open('/proc/loadavg').read().split()[:3])}"]
    print("\n".join(header), flush=True)
    table = ["", "## Embeddings (`model.embed`, `hyenadna embed --dtype`)", "",
             "| model | tokens × sequences | fp32 tokens/s | bf16 tokens/s | bf16 speed-up | "
             "rel. error of hidden states (median / max) | rel. error of mean embedding (max) |",
             "|---|---|---:|---:|---:|---:|---:|"]
    print("\n".join(table), flush=True)
    lines = header + table + embed_rows(args.device, args.rounds, args.lengths.split(","))
    table = ["", "## Variant LLRs (`score_variants`, `hyenadna score-variants --dtype`)", "",
             "| model | ALT alleles | fp32 variants/s | bf16 variants/s | bf16 speed-up | |Δllr| nats (median / max) "
             "| fp32 median |llr| | Spearman vs fp32 |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    print("\n".join(table), flush=True)
    lines += table + variant_rows(args.device, args.variant_rounds, args.variants, args.batch_size)
    lines.append(f"\nload average at the end: {' '.join(open('/proc/loadavg').read().split()[:3])}")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
