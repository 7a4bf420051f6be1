"""Variant scoring throughput: ``score_variants`` vs a naive one-variant-at-a-time loop, in one run.

naive: for each (record, ALT allele), fetch its two windows from the FASTA, then run the
plain model path on each window and strand separately (4 forwards of batch 1, the REF
windows recomputed for every ALT), under ``torch.no_grad``, summing ``log_likelihood``.

fast: :func:`hyenadna_kipoi.score.score_variants`: records in genome order, each region
read once, REF windows shared by a record's ALT alleles, batches of equal-length windows
on the fast inference path; optionally sharded over ``--workers`` processes.

Both score the same variants (70% SNVs, 25% indels of 1-10 bases, 5% multi-allelic) on
a synthetic random genome (speed does not depend on the bases) with random-weight models
of the released shapes: tiny-1k (2×128, W = 1,024) and small-32k (4×256, W = 32,768).
The naive loop scores a subset of the same variants (its rate is per variant), and
the two are timed in alternating rounds; their scores on the shared variants are compared.

    python benchmarks/bench_variants.py                       # both windows, CPU
    python benchmarks/bench_variants.py --windows 1k --workers 2
    python benchmarks/bench_variants.py --device cuda --out benchmarks/results/variants_gpu.md
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from hyenadna_kipoi import HyenaConfig, HyenaDNA
from hyenadna_kipoi.data import Genome
from hyenadna_kipoi.score import Variant, auto_batch_size, score_variants, variant_windows
from hyenadna_kipoi.tokenizer import encode, reverse_complement

# name: (n_layer, d_model, l_max, W, fast variants, naive variants)
CASES = {
    "1k": (2, 128, 1026, 1024, 256, 48),
    "32k": (4, 256, 32770, 32768, 12, 4),
}
CONTIG_LENGTH = 400_000
ROUNDS = 2


def write_genome(folder: Path, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    path = folder / "genome.fa"
    with open(path, "w") as out:
        for name in ("chrA", "chrB"):
            seq = "".join(rng.choice(list("ACGT"), CONTIG_LENGTH))
            out.write(f">{name}\n" + "\n".join(seq[i:i + 60] for i in range(0, len(seq), 60)) + "\n")
    return path


def make_variants(genome: Genome, n: int, window: int, seed: int = 1) -> list[Variant]:
    """``n`` ALT alleles' worth of records away from the contig ends, shuffled (the scorer sorts)."""
    rng = np.random.default_rng(seed)
    variants: list[Variant] = []
    alleles = 0
    while alleles < n:
        chrom = ("chrA", "chrB")[rng.integers(2)]
        pos = int(rng.integers(window, CONTIG_LENGTH - window))
        kind = rng.random()
        base = genome.fetch(chrom, pos - 1, pos)
        others = [b for b in "ACGT" if b != base]
        if kind < 0.70:
            ref, alts = base, (others[rng.integers(3)],)
        elif kind < 0.95:
            size = int(rng.integers(1, 11))
            if rng.random() < 0.5:
                ref, alts = genome.fetch(chrom, pos - 1, pos + size), (base,)
            else:
                ref, alts = base, (base + "".join(rng.choice(list("ACGT"), size)),)
        else:
            ref, alts = base, tuple(others[:2])
        variants.append(Variant(chrom, pos, ref, alts))
        alleles += len(alts)
    return variants


def naive_scores(model: HyenaDNA, genome: Genome, variants: list[Variant], window: int) -> list[float]:
    device = next(model.parameters()).device

    def ll(seq: str) -> float:
        ids = torch.from_numpy(encode(seq))[None].to(device)
        return float(model.log_likelihood(ids).double().sum())

    out = []
    model.fast_path = False
    with torch.no_grad():
        for v in variants:
            for alt in v.alts:
                ref_w, alt_w = variant_windows(genome, v.chrom, v.pos, v.ref, alt, window)
                fwd = ll(alt_w) - ll(ref_w)
                rc = ll(reverse_complement(alt_w)) - ll(reverse_complement(ref_w))
                out.append((fwd + rc) / 2)
    model.fast_path = True
    return out


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def run_case(name: str, genome_path: Path, device: str, workers: int, scale: int,
             batch_size: int | None) -> list[str]:
    n_layer, d_model, l_max, window, n_fast, n_naive = CASES[name]
    n_fast, n_naive = n_fast * scale, n_naive * scale
    torch.manual_seed(0)
    model = HyenaDNA(HyenaConfig(d_model=d_model, n_layer=n_layer, max_seq_len=l_max)).to(device).eval()
    genome = Genome(genome_path)
    batch = batch_size or auto_batch_size(model, window)
    naive_set = make_variants(genome, n_naive, window, seed=2)
    variants = naive_set + make_variants(genome, n_fast - n_naive, window)  # the naive set's scores are compared
    warm_up = make_variants(genome, batch, window, seed=3)  # a full batch: kernels compiled, spectra cached
    score_variants(model, genome, warm_up, window=window, batch_size=batch, progress=False)
    naive_scores(model, genome, warm_up[:1], window)

    def timed(fn):
        _sync(device)
        t0 = time.perf_counter()
        result = fn()
        _sync(device)
        return result, time.perf_counter() - t0

    # alternate the two in rounds, so that a change in the machine's load hits both alike
    naive, rows, t_naive, t_fast = [], [], 0.0, 0.0
    for r in range(ROUNDS):
        part, t = timed(lambda: naive_scores(model, genome, naive_set[r::ROUNDS], window))
        naive, t_naive = naive + part, t_naive + t
        part, t = timed(lambda: score_variants(model, genome, variants[r::ROUNDS], window=window, batch_size=batch,
                                               progress=False))
        rows, t_fast = rows + part, t_fast + t
    fast_llr = {(r.chrom, r.pos, r.ref, r.alt): r.llr for r in rows}
    naive_keys = [(v.chrom, v.pos, v.ref, alt) for r in range(ROUNDS) for v in naive_set[r::ROUNDS] for alt in v.alts]
    diff = max(abs(a - fast_llr[k]) for a, k in zip(naive, naive_keys))
    rate_naive, rate_fast = len(naive) / t_naive, len(rows) / t_fast
    label = f"{name} ({n_layer}×{d_model})"
    lines = [f"| {label} | naive loop | {len(naive)} | {t_naive:.1f} | {rate_naive:.2f} | 1.0× | |",
             f"| {label} | score_variants, batch {batch} | {len(rows)} | {t_fast:.1f} | {rate_fast:.2f} | "
             f"{rate_fast / rate_naive:.1f}× | {diff:.1e} |"]
    if workers > 1:  # process start-up (spawn, model copy) included
        order = [v for r in range(ROUNDS) for v in variants[r::ROUNDS]]
        sharded, t_sharded = timed(lambda: score_variants(model, genome, order, window=window, batch_size=batch,
                                                          workers=workers, progress=False))
        lines.append(f"| {label} | score_variants, {workers} processes | {len(sharded)} | {t_sharded:.1f} | "
                     f"{len(sharded) / t_sharded:.2f} | {len(sharded) / t_sharded / rate_naive:.1f}× | "
                     f"{max(abs(a.llr - b.llr) for a, b in zip(rows, sharded)):.1e} |")
    for line in lines:
        print(line, flush=True)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--windows", default="1k,32k", help="which cases: 1k, 32k (default: both)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--workers", type=int, default=1, help="also time score_variants sharded over N processes")
    parser.add_argument("--batch-size", type=int, help="windows per forward (default: auto_batch_size)")
    parser.add_argument("--scale", type=int, default=1, help="score this many times more variants (e.g. 8 on a GPU)")
    parser.add_argument("--out", help="also write the table (markdown) here")
    args = parser.parse_args()
    where = (torch.cuda.get_device_name() if args.device.startswith("cuda")
             else platform.processor() or platform.machine())
    header = [f"Variant scoring on {args.device} ({where}, {os.cpu_count()} CPU cores, torch {torch.__version__}, "
              f"{torch.get_num_threads()} threads). "
              "Rate = ALT alleles scored per second (each: REF and ALT windows, both strands). "
              "|Δllr| = largest difference from the naive loop on the variants both scored.", "",
              "| model (W) | method | variants | time (s) | variants/s | speed-up | max abs Δllr |",
              "|---|---|---:|---:|---:|---:|---:|"]
    print("\n".join(header), flush=True)
    lines = list(header)
    with tempfile.TemporaryDirectory() as tmp:
        genome = write_genome(Path(tmp))
        for name in args.windows.split(","):
            lines += run_case(name, genome, args.device, args.workers, args.scale, args.batch_size)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
