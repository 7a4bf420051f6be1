"""Fine-tuning tasks and a variant VCF derived, deterministically, from a GFF3 annotation and its genome.

``derive_tasks(gff, fasta, regions, out, settings, seed)`` writes, in the project's standard
fine-tuning layouts (``config/README.md``, "Input layouts"):

* ``promoters/`` (``genomic_benchmarks``: ``{split}/{promoter,non_promoter}/*.txt``): windows of
  ``upstream + downstream`` bases around each distinct transcript TSS (strand-aware, read 5'→3'
  on the transcript's strand, the TSS at index ``upstream``), and as many non-promoter windows drawn
  from the same position block, at least ``min_tss_distance`` bases from every annotated TSS (the
  GenomicBenchmarks promoter task's shape);
* ``splice_sites/{train,valid,test}.csv`` (``nucleotide_transformer``: ``name,sequence,label``):
  ``length``-base windows centred on donor and acceptor boundaries (index ``length // 2`` is the
  first base after the boundary, on the transcript's strand: donors read ``GT`` there, acceptors
  ``AG`` just before it), and ``neither`` windows inside the same transcripts at least
  ``min_site_distance`` bases from every boundary, as many as the mean of the two (the Nucleotide
  Transformer splice task's shape);
* ``biotype/{split}/{class}.fa`` (``fasta_per_class``): each gene's sequence from its 5' end, at
  most ``max_length`` bases, classes ``protein_coding``, ``lncRNA``, ``pseudogene``, ``small_RNA``
  grouped from ``gene_biotype`` (for embeddings and a linear probe);
* ``variants.vcf`` (VCF 4.2): one substitution at sampled positions of four classes, ``INFO/CLASS``
  ``codon12`` (codon positions 1-2), ``codon3``, ``splice_dinucleotide`` (the GT and AG of canonical
  introns), ``intron_flank`` (intron bases ``flank[0]``…``flank[1] - 1`` from either end), and
  ``INFO/GROUP`` ``constrained`` (codon12, splice_dinucleotide) or ``less_constrained``; by default
  (``match: ref_alt``) each less-constrained class holds exactly the REF→ALT changes of its
  constrained class (codon3 of codon12, intron_flank of splice_dinucleotide), so composition cannot
  separate them;
* ``summary.tsv``: ``task split label count``.

Splits come from position blocks (:class:`.blocks.Blocks`): a window lies wholly inside one block
or is dropped. Windows holding a non-ACGT base are dropped. All sampling uses ``numpy`` generators
seeded by ``seed``; iteration follows contig and position order, so two runs write identical bytes.
"""

from __future__ import annotations

import bisect
import os
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..io import atomic_dir
from ..tokenizer import reverse_complement
from .annotation import Annotation, Transcript, load_annotation
from .blocks import SPLITS, Blocks
from .genome import Genome

BIOTYPE_CLASSES = {
    "protein_coding": ("protein_coding",),
    "lncRNA": ("lncRNA", "antisense_RNA"),
    "pseudogene": ("pseudogene", "transcribed_pseudogene"),
    "small_RNA": ("tRNA", "miRNA", "snRNA", "snoRNA"),
}
DEFAULTS: dict[str, dict[str, Any]] = {
    "promoters": {"upstream": 200, "downstream": 50, "min_tss_distance": 2000, "transcript_types": ["mRNA"]},
    "splice_sites": {"length": 400, "min_site_distance": 50, "transcript_types": ["mRNA"]},
    "biotype": {"max_length": 2048, "min_length": 50, "max_per_class": None},
    "variants": {"splits": ["test"], "per_class": 500, "flank": [10, 20], "match": "ref_alt"},
}
PAIRS = (("codon12", "codon3"), ("splice_dinucleotide", "intron_flank"))  # (constrained, less constrained)
CONSTRAINED = tuple(constrained for constrained, _ in PAIRS)
MATCHES = ("ref_alt", "none")  # variants.match
Record = tuple[str, str, str]  # (name, sequence, label)
_ACGT = set("ACGT")


def resolve_settings(settings: dict[str, Any], source: str = "--settings") -> dict[str, dict[str, Any]]:
    """``settings`` (task -> overrides, a task left out is not derived) with the defaults filled in;
    an unknown task or key is a :class:`ConfigError` naming it and the allowed ones."""
    out = {}
    for task, block in settings.items():
        if task not in DEFAULTS:
            raise ConfigError(f"{source}: unknown task {task!r} (allowed: {', '.join(DEFAULTS)})")
        block = block or {}
        unknown = sorted(set(block) - set(DEFAULTS[task]))
        if unknown:
            raise ConfigError(f"{source}: {task}.{unknown[0]}: unknown key (allowed: {', '.join(DEFAULTS[task])})")
        out[task] = {**DEFAULTS[task], **block}
    if "variants" in out and out["variants"]["match"] not in MATCHES:
        raise ConfigError(f"{source}: variants.match: {out['variants']['match']!r} is not one of "
                          f"{', '.join(MATCHES)}")
    return out


class _Source:
    """The genome, its blocks and the transcripts on its contigs, read once."""

    def __init__(self, ann: Annotation, genome: Genome, blocks: Blocks):
        self.ann, self.genome, self.blocks = ann, genome, blocks
        self.order = {name: i for i, name in enumerate(genome.contigs)}
        self.chrom = {seqid: genome.resolve(seqid) for seqid in {t.seqid for t in ann.transcripts.values()}
                      | {g.seqid for g in ann.genes.values()}}

    def transcripts(self, types: list[str] | None = None, biotypes: tuple[str, ...] | None = None) -> list[Transcript]:
        found = [t for t in self.ann.transcripts_of(tuple(types) if types else None, biotypes) if self.chrom[t.seqid]]
        return sorted(found, key=lambda t: (self.order[self.chrom[t.seqid]], t.start, t.end, t.strand, t.id))

    def window(self, chrom: str, start: int, end: int, strand: str) -> tuple[str | None, str]:
        """(split or None, oriented upper-case sequence or '' when it holds a non-ACGT base)."""
        split = self.blocks.split_of(chrom, start, end)
        if split is None:
            return None, ""
        seq = self.genome.fetch(chrom, start, end).upper()
        if not set(seq) <= _ACGT:
            return split, ""
        return split, reverse_complement(seq) if strand == "-" else seq


def _near(sorted_positions: list[int], start: int, end: int, distance: int) -> bool:
    """Whether a position lies within ``distance`` bases of ``[start, end)``."""
    i = bisect.bisect_left(sorted_positions, start - distance)
    return i < len(sorted_positions) and sorted_positions[i] < end + distance


def _oriented(start: int, end: int, strand: str, anchor_in_window: int, length: int) -> tuple[int, int]:
    """Genomic ``[s, s + length)`` whose oriented index ``anchor_in_window`` is the boundary-based anchor.

    ``start`` is the anchor's genomic coordinate on ``+``; on ``-`` the window is mirrored."""
    if strand == "+":
        return start - anchor_in_window, start - anchor_in_window + length
    return end + anchor_in_window - length, end + anchor_in_window


def derive_promoters(src: _Source, cfg: dict[str, Any], seed: int) -> dict[str, list[Record]]:
    """Promoter and matched non-promoter windows per split (see the module docstring)."""
    up, down = cfg["upstream"], cfg["downstream"]
    length = up + down
    rng = np.random.default_rng([seed, 1])
    tss_by_chrom: dict[str, set[int]] = defaultdict(set)
    for tx in src.transcripts():  # every annotated TSS, of any transcript type, keeps negatives away
        tss_by_chrom[src.chrom[tx.seqid]].add(tx.tss)
    tss_sorted = {chrom: sorted(v) for chrom, v in tss_by_chrom.items()}
    seen: set[tuple[str, int, str]] = set()
    out: dict[str, list[Record]] = {s: [] for s in SPLITS}
    taken: dict[str, list[int]] = defaultdict(list)  # starts of chosen negative windows
    split_blocks = {s: [b for b in src.blocks.of_split(s) if b[2] - b[1] > length] for s in SPLITS}
    for tx in src.transcripts(cfg["transcript_types"]):
        chrom = src.chrom[tx.seqid]
        key = (chrom, tx.tss, tx.strand)
        if key in seen:
            continue
        seen.add(key)
        start = tx.tss - up if tx.strand == "+" else tx.tss - down + 1
        split, seq = src.window(chrom, start, start + length, tx.strand)
        if not seq:
            continue
        out[split].append((f"{chrom}_{tx.tss + 1}_{'plus' if tx.strand == '+' else 'minus'}", seq, "promoter"))
        block = src.blocks.block_of(chrom, start, start + length)
        same_split = split_blocks[split]
        for attempt in range(400):  # from the promoter's block; after 200 misses from any block of its split
            nchrom, b0, b1 = (chrom, block[0], block[1]) if attempt < 200 else \
                same_split[int(rng.integers(len(same_split)))]
            s = int(rng.integers(b0, b1 - length + 1))
            strand = "+" if rng.random() < 0.5 else "-"
            if _near(tss_sorted.get(nchrom, []), s, s + length, cfg["min_tss_distance"]):
                continue
            if _near(taken[nchrom], s, s + 1, length):  # no overlap with another negative
                continue
            nsplit, nseq = src.window(nchrom, s, s + length, strand)
            if not nseq:
                continue
            bisect.insort(taken[nchrom], s)
            out[nsplit].append((f"{nchrom}_{s + 1}_{'plus' if strand == '+' else 'minus'}", nseq, "non_promoter"))
            break
    return out


def splice_boundaries(tx: Transcript) -> list[tuple[int, str]]:
    """``(boundary, 'donor'|'acceptor')`` of every intron of ``tx`` (module docstring of :mod:`.annotation`)."""
    out = []
    for s, e in tx.introns():
        out += [(s, "donor"), (e, "acceptor")] if tx.strand == "+" else [(e, "donor"), (s, "acceptor")]
    return out


def derive_splice_sites(src: _Source, cfg: dict[str, Any], seed: int) -> dict[str, list[Record]]:
    """Donor, acceptor and neither windows per split (see the module docstring)."""
    length, half = cfg["length"], cfg["length"] // 2
    rng = np.random.default_rng([seed, 2])
    txs = [t for t in src.transcripts(cfg["transcript_types"]) if len(t.exons) > 1]
    kinds: dict[tuple[str, str, int], set[str]] = defaultdict(set)
    all_boundaries: dict[str, set[int]] = defaultdict(set)
    for tx in src.transcripts():
        for b, _ in splice_boundaries(tx):
            all_boundaries[src.chrom[tx.seqid]].add(b)
    for tx in txs:
        for b, kind in splice_boundaries(tx):
            kinds[(src.chrom[tx.seqid], tx.strand, b)].add(kind)
    out: dict[str, list[Record]] = {s: [] for s in SPLITS}
    for (chrom, strand, b), found in sorted(kinds.items(), key=lambda kv: (src.order[kv[0][0]], kv[0][2], kv[0][1])):
        if len(found) != 1:  # a donor of one transcript and an acceptor of another: ambiguous
            continue
        start = b - half if strand == "+" else b - (length - half)
        split, seq = src.window(chrom, start, start + length, strand)
        if seq:
            out[split].append((f"{chrom}_{b}_{'plus' if strand == '+' else 'minus'}", seq, found.pop()))
    boundaries = {chrom: sorted(v) for chrom, v in all_boundaries.items()}
    want = {s: round(len(out[s]) / 2) for s in SPLITS}
    if not txs or not any(want.values()):
        return out
    cumulative = np.cumsum([t.end - t.start for t in txs], dtype=float)  # pick transcripts by length
    chosen: set[tuple[str, int, str]] = set()
    have = dict.fromkeys(SPLITS, 0)
    for _attempt in range(200 * sum(want.values()) + 1000):
        if all(have[s] >= want[s] for s in SPLITS):
            break
        tx = txs[min(int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right")), len(txs) - 1)]
        chrom = src.chrom[tx.seqid]
        pos = int(rng.integers(tx.start, tx.end))
        if _near(boundaries.get(chrom, []), pos, pos + 1, cfg["min_site_distance"]):
            continue
        start = pos - half if tx.strand == "+" else pos + 1 - (length - half)
        key = (chrom, start, tx.strand)
        if key in chosen:
            continue
        split, seq = src.window(chrom, start, start + length, tx.strand)
        if not seq or have[split] >= want[split]:
            continue
        chosen.add(key)
        have[split] += 1
        out[split].append((f"{chrom}_{pos}_{'plus' if tx.strand == '+' else 'minus'}", seq, "neither"))
    return out


def derive_biotype(src: _Source, cfg: dict[str, Any], seed: int) -> dict[str, list[Record]]:
    """Gene sequences (5' end, at most ``max_length`` bases) per split, labelled by biotype class."""
    group = {biotype: name for name, members in BIOTYPE_CLASSES.items() for biotype in members}
    out: dict[str, list[Record]] = {s: [] for s in SPLITS}
    genes = [g for g in src.ann.genes.values() if g.biotype in group and src.chrom.get(g.seqid)]
    genes.sort(key=lambda g: (src.order[src.chrom[g.seqid]], g.start, g.end, g.id))
    for g in genes:
        if g.end - g.start < cfg["min_length"]:
            continue
        chrom = src.chrom[g.seqid]
        start, end = (g.start, min(g.end, g.start + cfg["max_length"])) if g.strand != "-" else \
            (max(g.start, g.end - cfg["max_length"]), g.end)
        split, seq = src.window(chrom, start, end, g.strand)
        if seq:
            out[split].append((f"{g.id}|{chrom}:{start + 1}-{end}({g.strand})", seq, group[g.biotype]))
    cap = cfg["max_per_class"]
    if cap is not None:
        rng = np.random.default_rng([seed, 3])
        for split in SPLITS:
            keep = []
            for label in BIOTYPE_CLASSES:
                idx = [i for i, r in enumerate(out[split]) if r[2] == label]
                keep += idx if len(idx) <= cap else rng.choice(idx, cap, replace=False).tolist()
            out[split] = [out[split][i] for i in sorted(keep)]
    return out


def variant_sites(src: _Source, cfg: dict[str, Any]) -> dict[tuple[str, int], tuple[str, str]]:
    """``(chrom, 0-based position) -> (class, transcript id)`` of every candidate site.

    One protein-coding mRNA per gene (the longest CDS; ties: smallest id) gives the codon
    positions and, from its canonical (GT…AG) introns, the splice dinucleotides and intron flanks.
    Intronic classes skip positions inside any annotated exon; a position claimed by two classes
    is dropped."""
    held = [(c, s, e) for split in cfg["splits"] for c, s, e in src.blocks.of_split(split)]
    best: dict[str, Transcript] = {}
    for tx in src.transcripts(["mRNA"], ("protein_coding",)):
        chrom = src.chrom[tx.seqid]
        if not any(c == chrom and s < tx.end and tx.start < e for c, s, e in held):
            continue  # only the positions of the splits asked for are used; claims elsewhere cannot conflict
        other = best.get(tx.gene)
        if tx.cds and (other is None or (-tx.cds_length(), tx.id) < (-other.cds_length(), other.id)):
            best[tx.gene] = tx
    exonic: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for tx in src.transcripts():
        exonic[src.chrom[tx.seqid]] += tx.exons
    merged: dict[str, tuple[list[int], list[int]]] = {}
    for chrom, rows in exonic.items():
        starts: list[int] = []
        ends: list[int] = []
        for s, e in sorted(rows):
            if starts and s <= ends[-1]:
                ends[-1] = max(ends[-1], e)
            else:
                starts.append(s)
                ends.append(e)
        merged[chrom] = (starts, ends)

    def in_exon(chrom: str, pos: int) -> bool:
        starts, ends = merged.get(chrom, ([], []))
        i = bisect.bisect_right(starts, pos) - 1
        return i >= 0 and pos < ends[i]

    claims: dict[tuple[str, int], set[tuple[str, str]]] = defaultdict(set)
    f0, f1 = cfg["flank"]
    for gene in sorted(best):
        tx = best[gene]
        chrom = src.chrom[tx.seqid]
        for pos, codon in tx.codon_positions():
            claims[(chrom, pos)].add(("codon3" if codon == 3 else "codon12", tx.id))
        for s, e in tx.introns():
            if e - s < 2 * f1 + 4:
                continue
            seq = src.genome.fetch(chrom, s, e).upper()
            oriented = seq if tx.strand == "+" else reverse_complement(seq)
            if not (oriented.startswith("GT") and oriented.endswith("AG")):
                continue
            sites = [(p, "splice_dinucleotide") for p in (s, s + 1, e - 2, e - 1)]
            sites += [(p, "intron_flank") for k in range(f0, f1) for p in (s + k, e - 1 - k)]
            for p, cls in sites:
                if not in_exon(chrom, p):
                    claims[(chrom, p)].add((cls, tx.id))
    return {key: next(iter(found)) for key, found in claims.items() if len(found) == 1}


def derive_variants(src: _Source, cfg: dict[str, Any], seed: int) -> list[tuple[str, int, str, str, str, str]]:
    """VCF records ``(chrom, 1-based pos, ref, alt, class, transcript)``, sorted by position.

    At most ``per_class`` constrained sites per pair are drawn, each with a random ALT. With ``match:
    ref_alt`` (the default) every one gets a partner of the pair's less-constrained class with the same
    REF base, given the same ALT, so the two classes hold the same REF→ALT changes and a score cannot
    separate them by base composition alone (intron flanks are AT-rich; a language model's log-likelihood
    ratio depends strongly on the change itself); a constrained site whose REF base has no partner left
    is dropped. ``match: none`` draws both classes independently (``per_class`` each)."""
    rng = np.random.default_rng([seed, 4])
    by_class: dict[str, list[tuple[str, int, str, str]]] = defaultdict(list)
    for (chrom, pos), (cls, tid) in variant_sites(src, cfg).items():
        if src.blocks.split_of(chrom, pos, pos + 1) in cfg["splits"]:
            ref = src.genome.fetch(chrom, pos, pos + 1).upper()
            if ref in _ACGT:
                by_class[cls].append((chrom, pos, tid, ref))
    for sites in by_class.values():
        sites.sort(key=lambda r: (src.order[r[0]], r[1]))

    def draw(sites: list[tuple[str, int, str, str]]) -> list[tuple[str, int, str, str]]:
        if len(sites) <= cfg["per_class"]:
            return sites
        return [sites[i] for i in sorted(rng.choice(len(sites), cfg["per_class"], replace=False))]

    def with_alt(site: tuple[str, int, str, str], cls: str, alt: str | None = None) -> tuple[str, int, str, str, str, str]:
        chrom, pos, tid, ref = site
        if alt is None:
            alts = [b for b in "ACGT" if b != ref]
            alt = alts[int(rng.integers(3))]
        return chrom, pos + 1, ref, alt, cls, tid

    records = []
    for constrained, other in PAIRS:
        if cfg["match"] == "none":
            records += [with_alt(site, constrained) for site in draw(by_class[constrained])]
            records += [with_alt(site, other) for site in draw(by_class[other])]
            continue
        partners: dict[str, list[tuple[str, int, str, str]]] = defaultdict(list)
        for site in by_class[other]:
            partners[site[3]].append(site)
        for site in draw(by_class[constrained]):
            pool = partners[site[3]]
            if not pool:
                continue
            record = with_alt(site, constrained)
            records.append(record)
            records.append(with_alt(pool.pop(int(rng.integers(len(pool)))), other, alt=record[3]))
    return sorted(records, key=lambda r: (src.order[r[0]], r[1]))


def _write_genomic_benchmarks(folder: Path, records: dict[str, list[Record]]) -> None:
    for split, rows in records.items():
        for i, (name, seq, label) in enumerate(rows):
            path = folder / split / label / f"{i:06d}_{name}.txt"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(seq + "\n")


def _write_nucleotide_transformer(folder: Path, records: dict[str, list[Record]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for split, rows in records.items():
        with open(folder / f"{split}.csv", "w") as handle:
            handle.write("name,sequence,label\n")
            handle.writelines(f"{name},{seq},{label}\n" for name, seq, label in rows)


def _write_fasta_per_class(folder: Path, records: dict[str, list[Record]]) -> None:
    for split, rows in records.items():
        (folder / split).mkdir(parents=True, exist_ok=True)
        for label in BIOTYPE_CLASSES:
            with open(folder / split / f"{label}.fa", "w") as handle:
                handle.writelines(f">{name}\n{seq}\n" for name, seq, lab in rows if lab == label)


def _write_vcf(path: Path, records: list[tuple[str, int, str, str, str, str]], genome: Genome, source: str) -> None:
    with open(path, "w") as handle:
        handle.write("##fileformat=VCFv4.2\n##source=hyenadna workflow derive-tasks\n")
        handle.write(f"##reference={source}\n")
        handle.writelines(f"##contig=<ID={name},length={length}>\n" for name, length in genome.contigs.items())
        handle.write('##INFO=<ID=CLASS,Number=1,Type=String,Description="codon12, codon3, splice_dinucleotide '
                     'or intron_flank">\n')
        handle.write('##INFO=<ID=GROUP,Number=1,Type=String,Description="constrained (codon12, '
                     'splice_dinucleotide) or less_constrained (codon3, intron_flank)">\n')
        handle.write('##INFO=<ID=TX,Number=1,Type=String,Description="transcript the class comes from">\n')
        handle.write("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
        for chrom, pos, ref, alt, cls, tid in records:
            group = "constrained" if cls in CONSTRAINED else "less_constrained"
            handle.write(f"{chrom}\t{pos}\t.\t{ref}\t{alt}\t.\t.\tCLASS={cls};GROUP={group};TX={tid}\n")


def derive_tasks(gff: str | os.PathLike, fasta: str | os.PathLike, regions: str | os.PathLike,
                 out: str | os.PathLike, settings: dict[str, Any], *, seed: int = 0) -> dict[str, Counter]:
    """Derive the tasks ``settings`` names into the folder ``out`` (replaced atomically).

    Returns task -> Counter of ``(split, label)``; the same counts go to ``out/summary.tsv``."""
    cfg = resolve_settings(settings)
    ann = load_annotation(gff)
    counts: dict[str, Counter] = {}
    with Genome(fasta) as genome, atomic_dir(out) as tmp:
        src = _Source(ann, genome, Blocks(regions, genome))
        writers = {"promoters": (derive_promoters, _write_genomic_benchmarks),
                   "splice_sites": (derive_splice_sites, _write_nucleotide_transformer),
                   "biotype": (derive_biotype, _write_fasta_per_class)}
        for task, (derive, write) in writers.items():
            if task in cfg:
                records = derive(src, cfg[task], seed)
                write(tmp / task, records)
                counts[task] = Counter((split, r[2]) for split, rows in records.items() for r in rows)
        if "variants" in cfg:
            variants = derive_variants(src, cfg["variants"], seed)
            _write_vcf(tmp / "variants.vcf", variants, genome, str(fasta))
            counts["variants"] = Counter(("+".join(cfg["variants"]["splits"]), r[4]) for r in variants)
        with open(tmp / "summary.tsv", "w") as handle:
            handle.write("task\tsplit\tlabel\tcount\n")
            for task, counter in counts.items():
                handle.writelines(f"{task}\t{split}\t{label}\t{n}\n" for (split, label), n in sorted(counter.items()))
    return counts
