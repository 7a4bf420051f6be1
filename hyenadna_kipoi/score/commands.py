"""The scoring subcommands ``embed``, ``loglik``, ``score-variants``, ``gather-variants`` and ``ism``: argument
parsing and calls into the scoring API, nothing more.

``hyenadna_kipoi.cli`` registers them with :func:`register`.
"""

from __future__ import annotations

import argparse
from typing import Callable

from ..cli_args import add_dtype, add_model_args
from ..device import resolve_device, resolve_devices
from ..errors import InputError

DEFAULT_CHUNK_SIZE = 10_000  # records per chunk of score-variants; the same as score.variants.DEFAULT_CHUNK_SIZE

EMBED_DESCRIPTION = ("Embed sequences. Output format from the extension: .npy (pooled [N, d]), .npz (names + "
                     "embeddings; per-token arrays with --pooling none), .parquet, .tsv.")

LOGLIK_DESCRIPTION = ("Per-sequence log-likelihood under the model (TSV: name, length, n_scored, loglik_nats, "
                      "bits_per_base, perplexity). Each window's first base has no context and is not scored.")

SCORE_DESCRIPTION = """\
Zero-shot variant-effect scores: for each (record, ALT allele) the log-likelihood
ratio llr = log P(ALT window) - log P(REF window) in nats, averaged over the forward
and reverse-complement strands. The REF window is the W genome bases with the first
REF base at index W//2; the ALT window has the same start, REF replaced by ALT, cut
or extended from the genome to W bases. Negative: the model finds ALT less likely.

status: OK; EDGE (window runs off the contig, padded with N, still scored);
REF_MISMATCH (VCF REF differs from the FASTA, not scored); UNKNOWN_CONTIG (contig
not in the FASTA, even as chr1<->1 / chrM<->MT); SKIPPED_SYMBOLIC (<DEL>, *,
breakends, '.'). Every ALT allele gets a row, in input order.

The VCF is streamed: --chunk-size records are read, scored (grouped by genome
region within the chunk) and written before the next are read, so memory does not
grow with the VCF. Outputs appear only when the whole VCF is scored. Unsorted input
gives the same rows; it only costs FASTA reads (regions are shared within a chunk).
A .vcf.gz output is tabix-indexed when its records are sorted.

Slices, so that one job scores part of a VCF (then `hyenadna gather-variants`):
--chunk K/N numbers the records 0 .. n-1 in file order (n counted in one streaming
pass) and scores records (K-1)*n//N to K*n//N - 1: the N slices are contiguous,
disjoint, cover every record and differ by at most one record (N > n: some are
empty). --regions chr:start-end[,...] scores the records whose CHROM is a region's
contig as written in the VCF and whose POS lies in it (1-based, both ends
included). Every slice keeps the VCF's header; any other non-record line goes with
the record before it, so a slice's outputs are exactly the matching rows and lines
of the whole run. The file is read from its start, so errors keep their line
numbers; records outside the slice are skipped unparsed (each pass, the count and
the slice, takes about 2 s per million records). A bgzipped VCF with a tabix index
is read through it instead, only the slice: --regions with a .tbi or .csi, and
--chunk with a .tbi, whose slices are then cut at N-1 positions where the index
says about k/N of the file lies before (records at one POS stay together; sizes
about equal, the finer the larger the file). Errors then name the record's
position, and '#' lines between records (tabix skips them) are not kept.
"""

GATHER_DESCRIPTION = """\
Merge the outputs of score-variants --chunk K/N jobs, given in slice order, into the
whole run's outputs: the TSV, the .vcf.gz and its .tbi are byte for byte those of
score-variants on the whole VCF. Every input is checked before anything is written;
a missing or broken chunk leaves no merged output.
"""

ISM_DESCRIPTION = """\
In-silico mutagenesis: the score-variants LLR of every single-base substitution at
every position of a region (chrom:start-end, 1-based, inclusive). Outputs: a TSV
(score-variants columns, one row per substitution), an NPZ (llr [L, 4], columns A C
G T, NaN at the reference base) and a PNG (logo of -mean LLR per position over a
heatmap of the substitutions).
"""


def _read_inputs(args: argparse.Namespace) -> tuple[list[str], list[str]]:
    """Names and sequences from --fasta, or from --bed intervals on --fasta (minus strand reverse-complemented)."""
    from ..data.sequences import read_sequences

    return read_sequences(None if args.bed else args.fasta, args.bed, args.fasta)


def _load(args: argparse.Namespace):
    from ..checkpoints import load_model

    return load_model(args.model, device=resolve_device(args.device), progress=not args.quiet)


def in_compute_dtype(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """``handler(args)`` inside ``fast_path.compute_dtype(args.dtype)``: the handler of a subcommand with
    :func:`~hyenadna_kipoi.cli_args.add_dtype` (here and ``hyenadna predict``)."""
    def run(args: argparse.Namespace) -> int:
        from ..fast_path import compute_dtype

        with compute_dtype(args.dtype):
            return handler(args)

    return run


def cmd_embed(args: argparse.Namespace) -> int:
    from .embeddings import embed_sequences
    from .outputs import write_embeddings

    names, seqs = _read_inputs(args)
    model = _load(args)
    emb = embed_sequences(model, seqs, pooling=args.pooling, names=names, batch_size=args.batch_size,
                          progress=not args.quiet)
    write_embeddings(args.out, names, emb)
    print(f"embedded {len(seqs)} sequence(s) ({args.pooling} pooling, d={model.config.d_model}) -> {args.out}")
    return 0


def cmd_loglik(args: argparse.Namespace) -> int:
    from .likelihood import sequence_loglik
    from .outputs import write_loglik

    names, seqs = _read_inputs(args)
    model = _load(args)
    scores = sequence_loglik(model, seqs, window=args.window, names=names, batch_size=args.batch_size,
                             progress=not args.quiet)
    write_loglik(args.out, names, seqs, scores)
    print(f"scored {len(seqs)} sequence(s) -> {args.out}")
    return 0


def _add_scoring_args(p: argparse.ArgumentParser) -> None:
    add_model_args(p, device_help="cpu, cuda, cuda:1, or several, e.g. cuda:0,cuda:1 (one process each) (default: "
                                  "cuda when present, else cpu)",
                   batch_size_default=None,
                   batch_size_help="windows per forward pass (default: 4,096 tokens' worth on a CPU, e.g. 4 windows "
                                   "of 1,024; 262,144 on a GPU)")
    p.add_argument("--fasta", "-f", required=True, help="reference FASTA (plain or bgzip; a .fai is made beside it)")
    p.add_argument("--window", "-w", type=int,
                   help="window length W in bases (default: the model's l_max - 2, at most 32,768)")
    p.add_argument("--workers", type=int, default=1,
                   help="processes to shard the genome regions over (default: 1); with --device cuda:0,cuda:1 "
                        "one per device")


def _load_for(args: argparse.Namespace):
    from ..checkpoints import load_model

    devices = resolve_devices(args.device)
    if args.workers < 1:
        raise InputError(f"--workers must be at least 1, got {args.workers}")
    if args.batch_size is not None and args.batch_size < 1:
        raise InputError(f"--batch-size must be at least 1, got {args.batch_size}")
    return load_model(args.model, device=devices[0], progress=not args.quiet), devices


def cmd_score_variants(args: argparse.Namespace) -> int:
    from .slices import parse_chunk, parse_regions
    from .variants import score_vcf

    if args.out_tsv is None and args.out_vcf is None:
        raise InputError("give --out-tsv and/or --out-vcf")
    if args.chunk_size < 1:
        raise InputError(f"--chunk-size must be at least 1, got {args.chunk_size}")
    chunk = parse_chunk(args.chunk) if args.chunk is not None else None
    regions = parse_regions(args.regions) if args.regions is not None else None
    model, devices = _load_for(args)
    result = score_vcf(model, args.fasta, args.vcf, out_tsv=args.out_tsv, out_vcf=args.out_vcf, window=args.window,
                       batch_size=args.batch_size, embedding_distance=args.embedding_distance, workers=args.workers,
                       devices=devices, model_name=args.model, progress=not args.quiet, chunk_size=args.chunk_size,
                       keep_rows=False, chunk=chunk, regions=regions)
    part = f" (chunk {chunk})" if chunk else f" (regions {args.regions})" if regions else ""
    print(f"scored {result.summary()}{part}")
    print("wrote " + ", ".join(str(p) for p in result.outputs))
    if args.out_vcf and str(args.out_vcf).endswith(".gz") and result.vcf_index is None:
        print(f"note: {args.out_vcf} is not tabix-indexed: its records are not sorted by position")
    return 0


def cmd_gather_variants(args: argparse.Namespace) -> int:
    from .gather import gather_variants

    result = gather_variants(args.tsv or (), args.vcf or (), out_tsv=args.out_tsv, out_vcf=args.out_vcf)
    print(f"gathered {result.summary()}")
    print("wrote " + ", ".join(str(p) for p in result.outputs))
    return 0


def cmd_ism(args: argparse.Namespace) -> int:
    from .ism import in_silico_mutagenesis, plot_ism, write_ism_npz, write_ism_tsv

    if not (args.out_tsv or args.out_npz or args.plot):
        raise InputError("give at least one of --out-tsv, --out-npz, --plot")
    model, devices = _load_for(args)
    result = in_silico_mutagenesis(model, args.fasta, args.region, window=args.window, batch_size=args.batch_size,
                                   workers=args.workers, devices=devices, progress=not args.quiet)
    written = [str(write(result, path)) for write, path in
               ((write_ism_tsv, args.out_tsv), (write_ism_npz, args.out_npz), (plot_ism, args.plot)) if path]
    n = len(result.ref)
    best = result.importance
    top = int(best.argmax()) if n else 0
    print(f"scored {len(result.rows)} substitutions at {n} positions of {result.chrom}:{result.start}-{result.end} "
          f"(W={result.window}); most constrained: {result.start + top} ({result.ref[top]}, mean LLR {-best[top]:.4f})")
    print("wrote " + ", ".join(written))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Register ``embed``, ``loglik``, ``score-variants``, ``gather-variants`` and ``ism`` on the ``hyenadna``
    subparsers."""
    p = sub.add_parser("embed", help="embed FASTA records or BED intervals (last hidden states)",
                       description=EMBED_DESCRIPTION)
    add_model_args(p)
    p.add_argument("--fasta", "-f", required=True, help="FASTA of sequences, or the reference FASTA with --bed")
    p.add_argument("--bed", help="BED intervals on --fasta (minus-strand intervals are reverse-complemented)")
    p.add_argument("--pooling", choices=("mean", "last", "none"), default="mean",
                   help="mean over positions, last position, or none (per-token, .npz only) (default: mean)")
    p.add_argument("--out", "-o", required=True, help="output file: .npy, .npz, .parquet or .tsv")
    add_dtype(p)
    p.set_defaults(func=in_compute_dtype(cmd_embed))

    p = sub.add_parser("loglik", help="log-likelihood and bits per base of FASTA records or BED intervals",
                       description=LOGLIK_DESCRIPTION)
    add_model_args(p)
    p.add_argument("--fasta", "-f", required=True, help="FASTA of sequences, or the reference FASTA with --bed")
    p.add_argument("--bed", help="BED intervals on --fasta")
    p.add_argument("--window", type=int, help="score long sequences in non-overlapping windows of this many bases "
                                              "(at most the model's l_max)")
    p.add_argument("--out", "-o", required=True, help="output TSV")
    add_dtype(p)
    p.set_defaults(func=in_compute_dtype(cmd_loglik))

    fmt = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser("score-variants", help="zero-shot log-likelihood-ratio scores of VCF variants",
                       description=SCORE_DESCRIPTION, formatter_class=fmt)
    _add_scoring_args(p)
    p.add_argument("--vcf", "-v", required=True, help="variants: VCF, VCF.gz or BCF")
    p.add_argument("--out-tsv", help="table: #CHROM POS ID REF ALT llr llr_fwd llr_rc status (NA where not scored)")
    p.add_argument("--out-vcf", help="the input VCF with INFO/HYENADNA_LLR added (.vcf, or .vcf.gz: bgzipped and "
                                     "tabix-indexed when its records are sorted)")
    p.add_argument("--embedding-distance", action="store_true",
                   help="also the cosine distance of mean-pooled REF and ALT embeddings (TSV column "
                        "embedding_distance, INFO/HYENADNA_EMBDIST)")
    p.add_argument("--chunk-size", type=int, default=DEFAULT_CHUNK_SIZE, metavar="N",
                   help="records read, scored and written at a time; memory holds one chunk (default: "
                        f"{DEFAULT_CHUNK_SIZE:,}). Larger chunks share more FASTA reads on unsorted input")
    part = p.add_mutually_exclusive_group()
    part.add_argument("--chunk", metavar="K/N",
                      help="score only the K-th of N slices of the records (equal counts in file order; see above)")
    part.add_argument("--regions", metavar="CHR:START-END[,...]",
                      help="score only the records with POS in these regions (1-based, inclusive)")
    add_dtype(p)
    p.set_defaults(func=in_compute_dtype(cmd_score_variants))

    p = sub.add_parser("gather-variants", help="merge score-variants --chunk outputs into the whole run's outputs",
                       description=GATHER_DESCRIPTION, formatter_class=fmt)
    p.add_argument("--tsv", nargs="+", metavar="CHUNK_TSV", help="the chunks' tables, in slice order")
    p.add_argument("--vcf", nargs="+", metavar="CHUNK_VCF", help="the chunks' annotated VCFs, in slice order")
    p.add_argument("--out-tsv", help="the merged table")
    p.add_argument("--out-vcf", help="the merged annotated VCF (.vcf, or .vcf.gz: bgzipped, tabix-indexed when sorted)")
    p.set_defaults(func=cmd_gather_variants)

    p = sub.add_parser("ism", help="in-silico mutagenesis: LLR of every substitution over a region",
                       description=ISM_DESCRIPTION, formatter_class=fmt)
    _add_scoring_args(p)
    p.add_argument("--region", "-r", required=True, help="chrom:start-end, 1-based inclusive, e.g. chr1:1001-1100")
    p.add_argument("--out-tsv", help="one row per substitution (score-variants columns)")
    p.add_argument("--out-npz", help="arrays: positions, ref, bases, llr/llr_fwd/llr_rc [L, 4]")
    p.add_argument("--plot", help="PNG: logo of -mean LLR per position over a heatmap of all substitutions")
    p.set_defaults(func=cmd_ism)
