"""Variant scoring at scale: peak memory against VCF size, and speed against a naive loop, in one run.

Every ``hyenadna score-variants`` run here is a fresh process (``python -c`` calling the CLI's
``main``), timed from start to exit (interpreter start, imports and model load included) and
reporting its own peak RSS (``VmHWM`` of ``/proc/self/status``, so every size is measured on its
own). Inputs are synthetic, sorted VCFs of SNVs (one ALT each, at distinct random
positions) on the bundled *C. diphtheriae* genome (2.46 Mb, ``data/genomes``), scored with
random-weight models (tiny shape: 2 layers × 128, l_max 1,026).

1. Speed at W = 1,024: ``--speed-variants`` SNVs through score-variants in fp32 and in bf16
   (``--dtype bfloat16``), against a naive loop in this process over the plain reference model
   (model.py, the released architecture): for each allele its two windows and four batch-1
   forwards (REF, ALT, both strands), model load excluded. The three alternate in rounds so
   that a change in the machine's load hits all alike. Scores are compared: fp32 and naive on
   the variants both scored, bf16 against fp32 (largest difference and Spearman correlation).
2. Memory: 10^4, 10^5 and 10^6 SNVs with a micro model (1 layer × 16) at a 4-base window
   (``--memory-window``, batches of 2,048 windows), so that 10^6 variants score in minutes on a
   2-core CPU; memory flatness is a property of the streaming (one chunk of records and its
   windows held at a time), not of the model or the window.

    python benchmarks/bench_variants_scale.py --out benchmarks/results/variants_scale_cpu.md
"""

from __future__ import annotations

import argparse
import gzip
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_variants import naive_scores  # noqa: E402

from hyenadna_kipoi import HyenaConfig, HyenaDNA  # noqa: E402
from hyenadna_kipoi.checkpoints import save_model  # noqa: E402
from hyenadna_kipoi.data import Genome  # noqa: E402
from hyenadna_kipoi.score import Variant  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
GENOME = REPO / "data" / "genomes" / "c_diphtheriae_NCTC11397.fa.gz"
# The child reports VmHWM, its own peak RSS: ru_maxrss would also count the parent's pages at the fork
# (Linux carries the pre-exec high-water mark over exec), i.e. this process's memory, not the CLI's.
CHILD = ("import re, sys; from hyenadna_kipoi.cli import main; rc = main(sys.argv[1:]); "
         "print('MAXRSS_KB', re.search(r'VmHWM:\\s*(\\d+)', open('/proc/self/status').read()).group(1)); "
         "sys.exit(rc)")
ROUNDS = 2


def plain_fasta(folder: Path) -> tuple[Path, str]:
    """The bundled genome as plain FASTA in ``folder`` (a .fai is made beside it on first use), and its sequence."""
    with gzip.open(GENOME, "rt") as f:
        lines = f.read().splitlines()
    name = lines[0][1:].split()[0]
    seq = "".join(lines[1:]).upper()
    path = folder / "genome.fa"
    path.write_text(f">{name}\n" + "\n".join(seq[i:i + 60] for i in range(0, len(seq), 60)) + "\n")
    return path, name


def write_snv_vcf(path: Path, chrom: str, seq: str, n: int, margin: int, seed: int) -> list[Variant]:
    """``n`` SNVs at distinct random positions at least ``margin`` bases from the contig ends, sorted."""
    rng = np.random.default_rng(seed)
    pos = np.sort(rng.choice(np.arange(margin + 1, len(seq) - margin), size=n, replace=False))
    shift = rng.integers(1, 4, size=n)
    out = []
    with open(path, "w") as f:
        f.write(f"##fileformat=VCFv4.2\n##contig=<ID={chrom},length={len(seq)}>\n"
                "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
        for p, s in zip(pos.tolist(), shift.tolist()):
            ref = seq[p - 1]
            alt = "ACGT"[("ACGT".index(ref) + s) % 4] if ref in "ACGT" else "A"
            f.write(f"{chrom}\t{p}\t.\t{ref}\t{alt}\t.\t.\t.\n")
            out.append(Variant(chrom, p, ref, (alt,)))
    return out


def run_cli(args: list[str]) -> tuple[float, float, int, str]:
    """(wall s, scoring s from the summary line, peak RSS KiB, stdout) of one fresh score-variants process."""
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True, text=True, cwd=REPO)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"score-variants failed ({done.returncode}): {done.stderr[-2000:]}")
    rss = int(re.search(r"MAXRSS_KB (\d+)", done.stdout).group(1))
    scoring = float(re.search(r"\) in ([\d.]+) s", done.stdout).group(1))
    return wall, scoring, rss, done.stdout


def llr_column(tsv: Path) -> np.ndarray:
    return np.loadtxt(tsv, usecols=5, skiprows=1, ndmin=1)


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def memory_rows(tmp: Path, fasta: Path, chrom: str, seq: str, model_dir: Path, sizes: list[int],
                window: int, batch: int) -> list[str]:
    lines = []
    base_rss = None
    for n in sizes:
        vcf = tmp / f"snv_{n}.vcf"
        write_snv_vcf(vcf, chrom, seq, n, window, seed=n)  # its records are not kept here
        wall, scoring, rss, _ = run_cli(["score-variants", "-m", str(model_dir), "-f", str(fasta), "-v", str(vcf),
                                         "-w", str(window), "--batch-size", str(batch), "-q",
                                         "--out-vcf", str(tmp / f"out_{n}.vcf.gz")])
        base_rss = base_rss or rss
        line = (f"| {n:,} SNVs | micro 1×16, W = {window}, batch {batch}, fp32 | {rss / 1024:.0f} | {(rss - base_rss) / 1024:+.0f} | "
                f"{wall:.0f} | {n / wall:,.0f} |")
        print(line, flush=True)
        lines.append(line)
        vcf.unlink()
    return lines


def speed_rows(tmp: Path, fasta: Path, chrom: str, seq: str, model: HyenaDNA, model_dir: Path, n: int,
               n_naive: int) -> list[str]:
    window = 1024
    variants = write_snv_vcf(tmp / "speed.vcf", chrom, seq, n, window, seed=7)
    genome = Genome(fasta)
    naive_set = variants[::max(1, n // n_naive)][:n_naive]
    naive_scores(model, genome, naive_set[:1], window)  # warm-up
    t = {"naive": 0.0, "float32": 0.0, "bfloat16": 0.0}
    scoring = {"float32": 0.0, "bfloat16": 0.0}
    naive: list[float] = []
    for r in range(ROUNDS):  # alternate: naive part, fp32 process, bf16 process
        t0 = time.perf_counter()
        naive += naive_scores(model, genome, naive_set[r::ROUNDS], window)
        t["naive"] += time.perf_counter() - t0
        for dtype in ("float32", "bfloat16"):
            wall, sc, _, _ = run_cli(["score-variants", "-m", str(model_dir), "-f", str(fasta), "-v",
                                      str(tmp / "speed.vcf"), "-w", str(window), "-q", "--dtype", dtype,
                                      "--out-tsv", str(tmp / f"speed_{dtype}.tsv")])
            t[dtype] += wall
            scoring[dtype] += sc
    llr = {d: llr_column(tmp / f"speed_{d}.tsv") for d in ("float32", "bfloat16")}
    index = {v.pos: i for i, v in enumerate(variants)}
    naive_order = [v for r in range(ROUNDS) for v in naive_set[r::ROUNDS]]
    d_naive = max(abs(a - llr["float32"][index[v.pos]]) for a, v in zip(naive, naive_order))
    d_bf16 = float(np.abs(llr["bfloat16"] - llr["float32"]).max())
    rho = spearman(llr["bfloat16"], llr["float32"])
    rate_naive = len(naive) / t["naive"]
    lines = [f"| naive loop, plain model, 4 batch-1 forwards per allele (model load excluded) | {len(naive)} | "
             f"{t['naive']:.1f} | {rate_naive:.1f} | 1.0× | | |"]
    for dtype in ("float32", "bfloat16"):
        runs = ROUNDS * n
        rate, rate_scoring = runs / t[dtype], runs / scoring[dtype]
        diff = f"{d_naive:.1e} (vs naive)" if dtype == "float32" else f"{d_bf16:.3f} (vs fp32), Spearman {rho:.4f}"
        lines.append(f"| score-variants --dtype {dtype}, whole process ({ROUNDS} runs) | {runs} | {t[dtype]:.1f} | "
                     f"{rate:.1f} | **{rate / rate_naive:.1f}×** | {rate_scoring:.1f} ({rate_scoring / rate_naive:.1f}×) "
                     f"| {diff} |")
    for line in lines:
        print(line, flush=True)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000", help="VCF sizes for the memory rows")
    parser.add_argument("--memory-window", type=int, default=4, help="window of the memory rows (default: 4)")
    parser.add_argument("--memory-batch", type=int, default=2048, help="windows per forward in the memory rows")
    parser.add_argument("--speed-variants", type=int, default=100, help="SNVs per score-variants run at W = 1,024")
    parser.add_argument("--naive-variants", type=int, default=16, help="SNVs of the naive loop (its rate is per "
                                                                       "variant)")
    parser.add_argument("--skip", choices=("memory", "speed"), help="leave one part out")
    parser.add_argument("--out", help="also write the tables (markdown) here")
    args = parser.parse_args()
    where = platform.processor() or platform.machine()
    header = ["# Variant scoring at scale (CPU)", "",
              f"{date.today().isoformat()}, `python benchmarks/bench_variants_scale.py` on {where} with "
              f"{os.cpu_count()} CPU cores, torch {torch.__version__} ({torch.get_num_threads()} threads), Python "
              f"{platform.python_version()}. Synthetic sorted VCFs of SNVs on the bundled C. diphtheriae genome, "
              "random-weight models. Each score-variants run is a fresh process, "
              "timed from start to exit (imports and model load included)."]
    lines = list(header)
    torch.manual_seed(0)
    model = HyenaDNA(HyenaConfig(d_model=128, n_layer=2, max_seq_len=1026)).eval()
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        fasta, chrom = plain_fasta(tmp)
        seq = "".join(fasta.read_text().splitlines()[1:])
        model_dir = save_model(model, tmp / "tiny")
        micro_dir = save_model(HyenaDNA(HyenaConfig(d_model=16, n_layer=1, max_seq_len=1026)).eval(), tmp / "micro")
        if args.skip != "speed":
            table = ["", "## Speed at W = 1,024 (tiny 2×128)", "",
                     "| method | variants | time (s) | variants/s | vs naive | scoring only: variants/s | "
                     "max abs Δllr |", "|---|---:|---:|---:|---:|---:|---|"]
            print("\n".join(table), flush=True)
            lines += table + speed_rows(tmp, fasta, chrom, seq, model, model_dir, args.speed_variants,
                                        args.naive_variants)
            save(args.out, lines)
        if args.skip != "memory":
            table = ["", "## Peak memory against VCF size", "",
                     "| VCF | model, window, dtype | peak RSS (MiB) | vs first row (MiB) | wall (s) | variants/s |",
                     "|---|---|---:|---:|---:|---:|"]
            print("\n".join(table), flush=True)
            lines += table + memory_rows(tmp, fasta, chrom, seq, micro_dir, [int(s) for s in args.sizes.split(",")],
                                         args.memory_window, args.memory_batch)
            save(args.out, lines)


def save(out: str | None, lines: list[str]) -> None:
    """The tables so far (markdown), when ``--out`` is given: a part's rows survive a later part's failure."""
    if out:
        Path(out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
