"""``hyenadna`` subcommands for genome data and pretraining: argument parsing and calls, nothing more.

``register(sub)`` registers ``download-genome``, ``intervals`` and ``pretrain`` on the
main parser's subparsers. Each takes the pretraining CONFIG (YAML), so the Snakemake
rules pass one file through every stage.
"""

from __future__ import annotations

import argparse

from ..cli_args import add_plain_path, add_quiet


def cmd_download_genome(args: argparse.Namespace) -> int:
    from ..data.genome import Genome
    from .config import load_config
    from .prepare import prepare_genome_from_config

    config = load_config(args.config)
    path = prepare_genome_from_config(config, progress=not args.quiet)
    with Genome(path) as genome:
        contigs = genome.contigs
    print(f"{path}: {len(contigs):,} contig(s), {sum(contigs.values()):,} bases, indexed")
    return 0


def cmd_intervals(args: argparse.Namespace) -> int:
    from .config import load_config
    from .prepare import prepare_genome_from_config, prepare_intervals

    config = load_config(args.config)
    fasta = prepare_genome_from_config(config, progress=not args.quiet)
    table = prepare_intervals(config, fasta, progress=not args.quiet, force=args.force)
    print(f"windows of {config['intervals']['window']:,} bases -> {config['intervals']['out']}\n{table}")
    return 0


def cmd_pretrain(args: argparse.Namespace) -> int:
    from .pretrain import pretrain

    pretrain(args.config, resume=args.resume, progress=False if args.quiet else None,
             fast_path=False if args.plain_path else None)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Register the data and pretraining subcommands on ``sub`` (from ``parser.add_subparsers``)."""
    p = sub.add_parser("download-genome", help="download, verify, decompress and index the genome of a pretrain config",
                       description="Fetch genome.fasta from genome.url when missing (https://, ftp://, file://; "
                                   "resumable; size/sha256/md5-checked; atomic), decompress plain gzip to "
                                   "genome.prepared, build the .fai index, and fetch intervals.regions.url.")
    p.add_argument("config", help="pretraining config YAML (e.g. config/pretrain-demo.yaml)")
    add_quiet(p)
    p.set_defaults(func=cmd_download_genome)

    p = sub.add_parser("intervals", help="sample fixed-length training windows per split (pybedtools)",
                       description="Write {split}.bed (chrom, start, end, split) and summary.tsv (windows, bases, "
                                   "GC, N fraction) to intervals.out: splits from chromosome lists or a regions BED "
                                   "with a split column, assembly gaps and a blacklist removed.")
    p.add_argument("config", help="pretraining config YAML")
    p.add_argument("--force", action="store_true", help="rebuild even when the BEDs match the settings")
    add_quiet(p)
    p.set_defaults(func=cmd_intervals)

    p = sub.add_parser("pretrain", help="next-nucleotide pretraining on a genome (resumable; torchrun for DDP)",
                       description="Pretrain HyenaDNA as configured in CONFIG (schema: "
                                   "hyenadna_kipoi/schemas/pretrain.schema.yaml). Multi-GPU/multi-node: "
                                   "torchrun --nproc-per-node N $(which hyenadna) pretrain CONFIG.")
    p.add_argument("config", help="pretraining config YAML (e.g. config/pretrain-demo.yaml)")
    p.add_argument("--resume", action="store_true",
                   help="continue from the newest checkpoint in out_dir (starts fresh when there is none)")
    add_plain_path(p)
    add_quiet(p, help="no progress bar")
    p.set_defaults(func=cmd_pretrain)
