"""How well zero-shot scores separate constrained from less constrained positions of a derived variant VCF.

The VCF of ``hyenadna workflow derive-tasks`` labels each substitution with ``INFO/CLASS`` (``codon12``,
``codon3``, ``splice_dinucleotide``, ``intron_flank``) and ``INFO/GROUP`` (``constrained`` or
``less_constrained``). The score of a substitution is −LLR (bits or nats: an AUROC does not care), higher
meaning more damaging; it is compared with the same score from an order-``k`` Markov model fitted on the
pretraining windows: the change, alt minus ref, of ``log2 p`` of the substituted base and the ``k`` bases
after it, each given the ``k`` bases before it.

Rows: ``comparison`` (``constrained_vs_less``: every class; ``codon12_vs_codon3``;
``splice_dinucleotide_vs_intron_flank``), ``method`` (``hyenadna``, ``markov_k``), positives, negatives, AUROC.
Only records the model scored (status OK, an LLR) are used, for both methods.
"""

from __future__ import annotations

import os

import numpy as np

from ..data.annotation_tasks import PAIRS
from ..data.genome import Genome, read_bed
from ..errors import InputError
from ..io import atomic_open

# comparison -> (positive classes, negative classes): all pairs together, then each pair of derive-tasks
COMPARISONS = {"constrained_vs_less": (tuple(c for c, _ in PAIRS), tuple(o for _, o in PAIRS)),
               **{f"{c}_vs_{o}": ((c,), (o,)) for c, o in PAIRS}}


def read_classes(vcf: str | os.PathLike) -> dict[tuple[str, int, str, str], str]:
    """``(chrom, pos, ref, alt) -> INFO/CLASS`` of a plain-text VCF; records without CLASS are skipped."""
    out = {}
    with open(vcf) as handle:
        for line in handle:
            if line.startswith("#") or not line.strip():
                continue
            cols = line.rstrip("\n").split("\t")
            info = dict(kv.split("=", 1) for kv in cols[7].split(";") if "=" in kv)
            if "CLASS" in info:
                out[(cols[0], int(cols[1]), cols[3], cols[4])] = info["CLASS"]
    return out


def markov_llr(tables: np.ndarray, order: int, left: str, ref: str, alt: str, right: str) -> float:
    """alt − ref of the summed log2 p of the substituted base and the ``order`` bases after it
    (``left``/``right``: the ``order`` bases around the site); ``tables`` is ``[4**order, 4]`` log2 p."""
    from ..train.markov import to_codes

    def total(base: str) -> float:
        codes = to_codes(left + base + right)
        if (codes > 3).any():
            return float("nan")
        bits = 0.0
        for j in range(order, len(codes)):
            ctx = 0
            for c in codes[j - order:j]:
                ctx = ctx * 4 + int(c)
            bits += tables[ctx, codes[j]]
        return bits

    return total(alt) - total(ref)


def class_aurocs(scored_tsv: str | os.PathLike, vcf: str | os.PathLike, fasta: str | os.PathLike,
                 train_bed: str | os.PathLike, *, order: int = 5, max_train_bases: int = 4_000_000,
                 seed: int = 0) -> list[tuple[str, str, int, int, float]]:
    """AUROC rows (module docstring) for the scored TSV of ``hyenadna score-variants`` on ``vcf``."""
    import pandas as pd
    from sklearn.metrics import roc_auc_score

    from ..train.markov import MarkovBaselines, to_codes

    classes = read_classes(vcf)
    table = pd.read_csv(scored_tsv, sep="\t", na_values=["NA"], dtype={"#CHROM": str})
    table = table[table["llr"].notna()]
    rows = [(r["#CHROM"], int(r["POS"]), r["REF"], r["ALT"], float(r["llr"])) for _, r in table.iterrows()]
    rows = [(key, llr, classes[key]) for *k, llr in rows if (key := tuple(k)) in classes]
    if not rows:
        raise InputError(f"{scored_tsv}: no scored record carries an INFO/CLASS of {vcf}")
    with Genome(fasta) as genome:
        train = [genome.fetch(iv.chrom, iv.start, iv.end).upper() for iv in read_bed(train_bed)]
        picked, total = [], 0
        for i in np.random.default_rng(seed).permutation(len(train)):
            if total >= max_train_bases:
                break
            picked.append(to_codes(train[i]))
            total += len(train[i])
        tables = MarkovBaselines(order).fit(picked).log2_probs(order)
        markov = []
        for (chrom, pos, ref, alt), _, _ in rows:
            left = genome.fetch(chrom, pos - 1 - order, pos - 1, pad=True).upper()
            right = genome.fetch(chrom, pos, pos + order, pad=True).upper()
            markov.append(markov_llr(tables, order, left, ref, alt, right))
    out = []
    for name, (positive, negative) in COMPARISONS.items():
        for method, scores in (("hyenadna", [llr for _, llr, _ in rows]), (f"markov_{order}", markov)):
            pairs = [(-s, cls in positive) for s, (_, _, cls) in zip(scores, rows)
                     if cls in positive + negative and np.isfinite(s)]
            pos = sum(p for _, p in pairs)
            neg = len(pairs) - pos
            auc = float(roc_auc_score([p for _, p in pairs], [s for s, _ in pairs])) if pos and neg else float("nan")
            out.append((name, method, pos, neg, auc))
    return out


def write_class_aurocs(rows: list[tuple[str, str, int, int, float]], out: str | os.PathLike) -> None:
    with atomic_open(out) as handle:
        handle.write("comparison\tmethod\tpositives\tnegatives\tauroc\n")
        handle.writelines(f"{c}\t{m}\t{p}\t{n}\t{a:.4f}\n" for c, m, p, n, a in rows)
