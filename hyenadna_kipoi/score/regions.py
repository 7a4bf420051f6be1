"""Scoring the variant records of genome regions in one process: the rule, the statuses, batched LLRs.

The rule, for a record at 1-based ``POS`` and window length ``W``:

* REF window: the ``W`` genome bases from 0-based ``POS - 1 - W // 2``, so the first
  REF base sits at index ``W // 2``;
* ALT window: the same start, REF replaced by ALT, then cut (or extended from the
  genome after REF) to exactly ``W`` bases;
* bases outside the contig are ``N``; such alleles are still scored, with status ``EDGE``;
* ``LL(s) = sum_{t=1}^{W-1} log softmax(logits[t-1])[s_t]`` (no special tokens, float64 sum);
* ``llr_fwd = LL(alt) - LL(ref)``, ``llr_rc`` the same on both windows reverse-complemented,
  ``llr = (llr_fwd + llr_rc) / 2``.

Statuses, checked in this order: ``UNKNOWN_CONTIG`` (contig nor its ``chr``/``MT`` alias
in the FASTA), ``REF_MISMATCH`` (REF differs from the FASTA, case-insensitively),
``SKIPPED_SYMBOLIC`` (``<DEL>``, ``*``, breakends, ``.``), then ``EDGE`` or ``OK``. Only
``EDGE`` and ``OK`` rows carry scores. A record whose ALT is ``.`` gives one row with
ALT ``.`` and status ``SKIPPED_SYMBOLIC``, so that every record is accounted for.

Records are grouped into regions of the FASTA read at once (:func:`group_by_region`); a
record's REF windows are computed once for all its ALT alleles (identical windows anywhere in
a batch are computed once), and on the fast path an ALT window runs only from its first base
that differs from the REF window (:mod:`.shared_prefix`). :func:`score_regions` is the worker of
:func:`.variants.score_variants` and of each process of :mod:`.sharding`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np
from tqdm.auto import tqdm

from ..data import Genome
from ..errors import InputError
from ..model import HyenaDNA
from ..tokenizer import reverse_complement
from . import shared_prefix
from .embeddings import embed_sequences
from .likelihood import sequence_loglik
from .vcf_io import Variant, is_symbolic

STATUSES = ("OK", "EDGE", "REF_MISMATCH", "UNKNOWN_CONTIG", "SKIPPED_SYMBOLIC")
SCORED = ("OK", "EDGE")
MAX_DEFAULT_WINDOW = 32_768
REGION_SPAN = 1 << 20  # records whose windows start within ~1 Mb share one FASTA read
# Tokens per forward pass when no batch size is given. On a CPU one 1k window already keeps the
# cores busy, and batches past a few thousand tokens only spill the caches (2-4 windows of 1k
# were fastest here); a GPU needs far more work per call to be busy.
BATCH_TOKENS = {"cpu": 1 << 12, "cuda": 1 << 18}


@dataclass(slots=True)
class AlleleScore:
    """One output row: a (record, ALT allele) pair. Scores are NaN unless ``status`` is OK or EDGE.

    ``llr*`` in nats; ``embedding_distance`` is the cosine distance of the mean-pooled
    REF and ALT window embeddings (forward strand), when requested.
    """

    chrom: str
    pos: int
    id: str
    ref: str
    alt: str
    status: str
    llr: float = math.nan
    llr_fwd: float = math.nan
    llr_rc: float = math.nan
    embedding_distance: float = math.nan

    def tsv_row(self, embedding: bool = False) -> tuple:
        row = (self.chrom, self.pos, self.id, self.ref, self.alt, self.llr, self.llr_fwd, self.llr_rc, self.status)
        return row + (self.embedding_distance,) if embedding else row


@dataclass
class WindowScores:
    """Scores of N (REF window, ALT window) pairs: arrays [N], float64, nats."""

    llr: np.ndarray
    llr_fwd: np.ndarray
    llr_rc: np.ndarray
    embedding_distance: np.ndarray | None = None


# --------------------------------------------------------------------------- the rule


def default_window(model: HyenaDNA) -> int:
    """The model's ``l_max - 2`` (room the release kept for special tokens), at most 32,768."""
    return min(model.l_max - 2, MAX_DEFAULT_WINDOW)


def check_window(model: HyenaDNA, window: int | None) -> int:
    """``window`` (or the default) after checking it fits the model."""
    window = default_window(model) if window is None else int(window)
    if not 2 <= window <= model.l_max:
        raise InputError(f"--window must lie in 2..{model.l_max} (the model's l_max), got {window}")
    return window


def auto_batch_size(model: HyenaDNA, window: int) -> int:
    """Windows per forward pass for the model's device: :data:`BATCH_TOKENS` // ``window``, at least 1."""
    device = next(model.parameters()).device.type
    return max(1, BATCH_TOKENS.get(device, BATCH_TOKENS["cpu"]) // window)


def _alt_genome_end(pos0: int, ref: str, alt: str, window: int) -> int:
    """End (exclusive, 0-based) of the genome bases that follow REF in the ALT window; pos0 + len(REF) if none."""
    return pos0 + len(ref) + max(0, window - window // 2 - len(alt))


def _windows_from(seq: str, offset: int, pos0: int, ref: str, alt: str, window: int) -> tuple[str, str]:
    """REF and ALT windows cut from ``seq``, the genome (N-padded) from 0-based ``offset`` on."""
    start = pos0 - window // 2 - offset
    after = pos0 + len(ref) - offset
    ref_window = seq[start:start + window]
    alt_window = (seq[start:pos0 - offset] + alt + seq[after:_alt_genome_end(pos0, ref, alt, window) - offset])
    return ref_window, alt_window[:window]


def variant_windows(genome: Genome, chrom: str, pos: int, ref: str, alt: str, window: int) -> tuple[str, str]:
    """The REF and ALT windows (each ``window`` bases) of one allele; outside the contig: ``N``."""
    pos0 = pos - 1
    start = pos0 - window // 2
    end = max(start + window, _alt_genome_end(pos0, ref, alt, window))
    return _windows_from(genome.fetch(chrom, start, end, pad=True), start, pos0, ref, alt, window)


def window_llrs(model: HyenaDNA, ref_windows: Sequence[str], alt_windows: Sequence[str], *,
                batch_size: int | None = None, embedding_distance: bool = False,
                names: Sequence[str] | None = None) -> WindowScores:
    """LLR of each (REF window, ALT window) pair, on both strands; see the module docstring.

    A window that occurs several times (a REF shared by ALT alleles) is computed once. On the
    fast inference path an ALT window runs only from the first base where it differs from its REF
    (:mod:`.shared_prefix`: exact, the model is causal); otherwise every window runs whole.
    ``batch_size``: windows per forward pass (default: :func:`auto_batch_size`). ``names``
    label the pairs in error messages.
    """
    batch_size = batch_size or auto_batch_size(model, max(map(len, ref_windows), default=1))
    rc_refs = [reverse_complement(s) for s in ref_windows]
    rc_alts = [reverse_complement(s) for s in alt_windows]
    rc_names = [f"{n} (reverse complement)" for n in names] if names else None
    if shared_prefix.supported(model, ref_windows, alt_windows):
        fwd = shared_prefix.pair_llrs(model, ref_windows, alt_windows, batch_size=batch_size, names=names)
        rc = shared_prefix.pair_llrs(model, rc_refs, rc_alts, batch_size=batch_size, names=rc_names)
    else:
        fwd = _whole_window_llrs(model, ref_windows, alt_windows, batch_size, names)
        rc = _whole_window_llrs(model, rc_refs, rc_alts, batch_size, rc_names)
    scores = WindowScores((fwd + rc) / 2, fwd, rc)
    if embedding_distance:
        scores.embedding_distance = _embedding_distance(model, ref_windows, alt_windows, batch_size, names)
    return scores


def _distinct(ref_windows: Sequence[str], alt_windows: Sequence[str],
              names: Sequence[str] | None) -> tuple[list[str], list[str], np.ndarray, np.ndarray]:
    """The distinct windows of the pairs with a label each, and each pair's REF and ALT index into them."""
    unique: dict[str, int] = {}
    labels: list[str] = []
    for i, (ref, alt) in enumerate(zip(ref_windows, alt_windows)):
        for kind, seq in (("REF", ref), ("ALT", alt)):
            if seq not in unique:
                unique[seq] = len(unique)
                labels.append(f"the {kind} window of {names[i] if names else f'pair #{i + 1}'}")
    ref_i = np.array([unique[s] for s in ref_windows], dtype=np.int64)
    alt_i = np.array([unique[s] for s in alt_windows], dtype=np.int64)
    return list(unique), labels, ref_i, alt_i


def _whole_window_llrs(model: HyenaDNA, ref_windows: Sequence[str], alt_windows: Sequence[str], batch_size: int,
                       names: Sequence[str] | None) -> np.ndarray:
    """``LL(alt) - LL(ref)`` of each pair (one strand) from whole-window forwards, [N] float64 nats."""
    seqs, labels, ref_i, alt_i = _distinct(ref_windows, alt_windows, names)
    loglik = np.array([s.loglik for s in sequence_loglik(model, seqs, names=labels, batch_size=batch_size,
                                                         progress=False)])
    return loglik[alt_i] - loglik[ref_i]


def _embedding_distance(model: HyenaDNA, ref_windows: Sequence[str], alt_windows: Sequence[str], batch_size: int,
                        names: Sequence[str] | None) -> np.ndarray:
    """Cosine distance of the mean-pooled REF and ALT window embeddings (forward strand), [N] float64."""
    seqs, labels, ref_i, alt_i = _distinct(ref_windows, alt_windows, names)
    emb = embed_sequences(model, seqs, pooling="mean", names=labels, batch_size=batch_size,
                          progress=False).astype(np.float64)
    unit = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
    return 1.0 - np.einsum("nd,nd->n", unit[ref_i], unit[alt_i])


# --------------------------------------------------------------------------- scoring many records


@dataclass
class _Pending:
    """Window pairs waiting for one batched model call, with the rows they fill."""

    refs: list[str] = field(default_factory=list)
    alts: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    rows: list[AlleleScore] = field(default_factory=list)


def _span(variant: Variant, window: int) -> tuple[int, int]:
    """0-based [start, end) of the genome a record needs: its windows and its REF."""
    pos0 = variant.pos - 1
    start = pos0 - window // 2
    ends = [start + window, pos0 + len(variant.ref)]
    ends += [_alt_genome_end(pos0, variant.ref, a, window) for a in variant.alts if not is_symbolic(a)]
    return start, max(ends)


def group_by_region(variants: Sequence[Variant], indices: Sequence[int], contig: dict[int, str],
                    window: int) -> Iterable[tuple[str, int, int, list[int]]]:
    """Groups of records (sorted by contig, position) that one FASTA read covers: (contig, start, end, indices)."""
    order = sorted(indices, key=lambda i: (contig[i], variants[i].pos))
    group: list[int] = []
    name, g0, g1 = "", 0, 0
    for i in order:
        s, e = _span(variants[i], window)
        if group and (contig[i] != name or s - g0 > REGION_SPAN):
            yield name, g0, g1, group
            group = []
        if not group:
            name, g0, g1 = contig[i], s, e
        group.append(i)
        g1 = max(g1, e)
    if group:
        yield name, g0, g1, group


def _statuses(v: Variant, genome_ref: str | None, contig_length: int, window: int) -> list[str]:
    """Status of each ALT of a record (one for ALT ``.``), checked in the module docstring's order.

    ``genome_ref``: the FASTA bases under REF (None: the contig is not in the FASTA).
    """
    alts = v.alts or (".",)
    if genome_ref is None:
        return ["UNKNOWN_CONTIG"] * len(alts)
    if genome_ref.upper() != v.ref.upper():
        return ["REF_MISMATCH"] * len(alts)
    pos0 = v.pos - 1
    start = pos0 - window // 2
    return ["SKIPPED_SYMBOLIC" if is_symbolic(alt) else "EDGE" if start < 0 or max(
        start + window, _alt_genome_end(pos0, v.ref, alt, window)) > contig_length else "OK" for alt in alts]


def allele_statuses(genome: Genome, variants: Sequence[Variant], window: int) -> list[list[str]]:
    """The status of every ALT allele of each record (one entry for ALT ``.``), without scoring.

    The statuses :func:`.variants.score_variants` gives; for data loaders that build windows one
    allele at a time (:func:`variant_windows`).
    """
    lengths = genome.contigs
    out = []
    for v in variants:
        name = genome.resolve(v.chrom)
        pos0 = v.pos - 1
        ref = None if name is None else genome.fetch(name, pos0, pos0 + len(v.ref), pad=True)
        out.append(_statuses(v, ref, lengths.get(name, 0), window))
    return out


def _rows(v: Variant, statuses: Sequence[str]) -> list[AlleleScore]:
    return [AlleleScore(v.chrom, v.pos, v.id, v.ref, alt, status) for alt, status in zip(v.alts or (".",), statuses)]


def unknown_contig_rows(v: Variant) -> list[AlleleScore]:
    """The rows of a record whose contig (nor its alias) is not in the FASTA: status ``UNKNOWN_CONTIG``."""
    return _rows(v, _statuses(v, None, 0, 0))


def _flush(model: HyenaDNA, pending: _Pending, batch_size: int, embedding: bool, bar: tqdm | None) -> _Pending:
    """Score the pending pairs into their rows; returns an empty :class:`_Pending`."""
    if pending.rows:
        scores = window_llrs(model, pending.refs, pending.alts, batch_size=batch_size, embedding_distance=embedding,
                             names=pending.names)
        for j, row in enumerate(pending.rows):
            row.llr, row.llr_fwd, row.llr_rc = float(scores.llr[j]), float(scores.llr_fwd[j]), float(scores.llr_rc[j])
            if scores.embedding_distance is not None:
                row.embedding_distance = float(scores.embedding_distance[j])
        if bar is not None:
            bar.update(len(pending.rows))
    return _Pending()


def _check_and_queue(v: Variant, seq: str, offset: int, contig_length: int, window: int,
                     pending: _Pending) -> list[AlleleScore]:
    """The rows of one record; the windows of its scoreable alleles go to ``pending``.

    ``seq`` is the genome (N-padded) from 0-based ``offset`` on, covering the record's span.
    """
    pos0 = v.pos - 1
    rows = _rows(v, _statuses(v, seq[pos0 - offset:pos0 - offset + len(v.ref)], contig_length, window))
    for row in rows:
        if row.status in SCORED:
            ref_window, alt_window = _windows_from(seq, offset, pos0, v.ref, row.alt, window)
            pending.refs.append(ref_window)
            pending.alts.append(alt_window)
            pending.names.append(f"{v.chrom}:{v.pos} {v.ref}>{row.alt}" + (f" ({v.where})" if v.where else ""))
            pending.rows.append(row)
    return rows


def score_regions(model: HyenaDNA, genome: Genome, variants: Sequence[Variant], indices: Sequence[int],
                  contig: dict[int, str], window: int, *, batch_size: int | None = None,
                  embedding_distance: bool = False,
                  bar: tqdm | None = None) -> dict[int, list[AlleleScore]]:
    """Rows of the records ``indices`` (all on contigs of ``genome``; ``contig[i]`` its FASTA name).

    The worker of :func:`.variants.score_variants` and of each shard process: reads each region
    once, checks REF, builds the windows and scores them in batches of about
    ``4 * batch_size`` allele pairs.
    """
    lengths = genome.contigs
    batch_size = batch_size or auto_batch_size(model, window)  # here, so each shard uses its own device's
    flush_at = max(4 * batch_size, 32)
    out: dict[int, list[AlleleScore]] = {}
    pending = _Pending()
    for name, g0, g1, group in group_by_region(variants, indices, contig, window):
        seq = genome.fetch(name, g0, g1, pad=True)
        for i in group:
            out[i] = rows = _check_and_queue(variants[i], seq, g0, lengths[name], window, pending)
            if bar is not None:
                bar.update(sum(r.status not in SCORED for r in rows))
            if len(pending.rows) >= flush_at:
                pending = _flush(model, pending, batch_size, embedding_distance, bar)
    _flush(model, pending, batch_size, embedding_distance, bar)
    return out
