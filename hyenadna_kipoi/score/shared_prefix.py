"""LLRs of (REF, ALT) window pairs that skip the work their shared prefix would repeat.

The rule is ``LL(alt) - LL(ref)``, ``LL(s) = sum_{t=1}^{W-1} log p(s_t | s_<t)``. The model is
causal, so when the two windows agree on their first ``p`` tokens every activation of rows
``< p`` is the same in both, and so is every term ``t < p`` (same context, same target): they
cancel. What is left is

    llr = sum_{t=p}^{W-1} [log p_alt(t) - log p_ref(t)],

where term ``t = p`` reads row ``p - 1``, still shared (only its target differs). So the REF
window runs whole, keeping each layer's input residual and long-convolution input
(:func:`~hyenadna_kipoi.fast_path.fast_backbone` ``keep=``), and the ALT window runs only on
rows ``p..W-1`` (:func:`~hyenadna_kipoi.fast_path.fast_backbone_suffix`), whose long
convolution reads the REF's rows before ``p``. Nothing is approximated: the ALT's rows are
computed from exactly the inputs a whole forward would give them; only float32 rounding
differs from a whole forward (the order of the FFT's sums). Batches are formed so that this
rounding never depends on the other alleles in a batch: REF windows of one length and one
first needed row, ALT windows of one start.

Reverse-complemented, an SNV or a substitution keeps its *tail* (the bases after the change),
which becomes the shared prefix of the two reverse-complemented windows, so the same code
serves both strands: it takes the longest common prefix of whatever pair it is given. An
indel shifts the ALT window's tail, so on the reverse strand the shared prefix is short and the
ALT window runs (almost) whole.

The REF window's terms before ``p`` are not needed either, so its last layer's out-projection
and MLP (and the final LayerNorm and LM head) run only from row ``p - 1`` (``first_row=``); the
earlier rows of every other layer still run, as the long convolutions read them. A REF window
shared by several ALT alleles (a record's ALTs, records at one position) runs once. For a
central SNV on the 2-layer tiny model one allele costs about 2.6 window passes of
position-wise work instead of 4.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Sequence

import numpy as np
import torch

from .. import fast_path
from ..errors import InputError
from ..model import HyenaDNA
from ..tokenizer import encode


def supported(model: HyenaDNA, refs: Sequence[str], alts: Sequence[str]) -> bool:
    """True when :func:`pair_llrs` applies: the fast inference path, and each pair of equal length."""
    return (model.fast_path and not model.training and fast_path.supports(model.backbone)
            and all(len(r) == len(a) for r, a in zip(refs, alts)))


def _common_prefix(a: np.ndarray, b: np.ndarray) -> int:
    """Index of the first token where equal-length ``a`` and ``b`` differ; their length when they do not."""
    diff = np.flatnonzero(a != b)
    return int(diff[0]) if diff.size else len(a)


def _encode_all(seqs: Sequence[str], names: Sequence[str], model: HyenaDNA) -> list[np.ndarray]:
    out = []
    for seq, name in zip(seqs, names):
        if len(seq) > model.l_max:
            raise InputError(f"{name} has {len(seq)} bases, more than the model's l_max of {model.l_max}")
        if len(seq) < 2:
            raise InputError(f"{name} has {len(seq)} bases; a window needs at least 2")
        out.append(encode(seq, name=name))
    return out


def pair_llrs(model: HyenaDNA, refs: Sequence[str], alts: Sequence[str], *, batch_size: int,
              names: Sequence[str] | None = None) -> np.ndarray:
    """``LL(alts[i]) - LL(refs[i])`` in nats for each pair (one strand), float64 [N].

    Each distinct REF window runs once, in batches of ``batch_size`` (grouped by length and by the
    first row its ALT windows need), followed by the distinct ALT windows that continue it
    (grouped by shared-prefix length, batches of at most ``batch_size``). ``names`` label errors.
    """
    label = [names[i] if names else f"pair #{i + 1}" for i in range(len(refs))]
    ref_index: dict[str, int] = {}  # distinct REF window -> its run
    ref_seqs, ref_labels = [], []
    for i, seq in enumerate(refs):
        if seq not in ref_index:
            ref_index[seq] = len(ref_seqs)
            ref_seqs.append(seq)
            ref_labels.append(f"the REF window of {label[i]}")
    alt_index: dict[tuple[str, int], int] = {}  # (ALT window, its REF's run) -> distinct ALT run
    alt_seqs, alt_labels = [], []
    for i, (seq, ref) in enumerate(zip(alts, refs)):
        if (seq, ref_index[ref]) not in alt_index:
            alt_index[seq, ref_index[ref]] = len(alt_seqs)
            alt_seqs.append(seq)
            alt_labels.append(f"the ALT window of {label[i]}")
    ref_ids = _encode_all(ref_seqs, ref_labels, model)
    alt_ids = _encode_all(alt_seqs, alt_labels, model)
    parent = np.array([r for _, r in alt_index], dtype=np.int64)
    start = np.array([_common_prefix(a, ref_ids[r]) for a, r in zip(alt_ids, parent)], dtype=np.int64)
    alt_ll = np.zeros(len(alt_ids))  # per distinct ALT: LL(alt) - LL(ref), summed over the terms t >= start
    children: dict[int, list[int]] = defaultdict(list)
    for j, r in enumerate(parent):
        if start[j] < len(alt_ids[j]):  # an ALT window equal to its REF has llr 0
            children[int(r)].append(j)
    device = next(model.parameters()).device
    # REF windows run in batches of one length and one first needed row, ALT windows in batches of one
    # start: an allele's numbers then depend only on its own windows, never on the other alleles in its
    # batch, so a VCF scored whole, in slices or in another batch size gives the same rows.
    groups: dict[tuple[int, int], list[int]] = defaultdict(list)
    for r, kids in children.items():
        groups[len(ref_ids[r]), max(int(start[kids].min()), 1) - 1].append(r)
    with torch.inference_mode():
        for (_, r0), group in sorted(groups.items()):
            for b0 in range(0, len(group), batch_size):
                batch = group[b0:b0 + batch_size]
                _run_batch(model, batch, r0, ref_ids, alt_ids, parent, start, children, alt_ll, batch_size, device)
    key_of_pair = [alt_index[(a, ref_index[r])] for a, r in zip(alts, refs)]
    return alt_ll[key_of_pair]


def _run_batch(model: HyenaDNA, batch: list[int], r0: int, ref_ids: list[np.ndarray], alt_ids: list[np.ndarray],
               parent: np.ndarray, start: np.ndarray, children: dict[int, list[int]], alt_ll: np.ndarray,
               batch_size: int, device: torch.device) -> None:
    """One batch of REF windows, then the ALT windows that continue them, by start; fills ``alt_ll``.

    Only terms ``t >= r0 + 1`` are needed, ``r0 + 1`` being the smallest first differing row of
    each REF's ALT windows (at least 1; the same for every REF of the batch), so the REF runs need
    final hidden rows ``r0..`` only.
    """
    todo = sorted((j for r in batch for j in children[r]), key=lambda j: (start[j], j))
    ids = torch.from_numpy(np.stack([ref_ids[r] for r in batch])).to(device)
    keep: list[tuple[torch.Tensor, torch.Tensor]] = []
    hidden = fast_path.fast_backbone(model.backbone, ids, keep=keep, first_row=r0)  # rows r0..W-1
    ref_ll = model.log_likelihood_of_hidden(hidden, ids[:, r0:]).double()  # [b, W-1-r0]: term t at t-1-r0
    tail = torch.flip(torch.cumsum(torch.flip(ref_ll, [1]), 1), [1]).cpu().numpy()  # sum_{t' >= t} at t-1-r0
    row_of = {r: i for i, r in enumerate(batch)}
    parts: dict[int, list[int]] = defaultdict(list)  # start -> ALT windows
    for j in todo:
        parts[int(start[j])].append(j)
    for s, same in parts.items():
        for a0 in range(0, len(same), batch_size):
            _alt_part(model, same[a0:a0 + batch_size], s, r0, hidden, keep, tail, row_of, alt_ids, parent, alt_ll,
                      device)


def _alt_part(model: HyenaDNA, part: list[int], s: int, r0: int, hidden: torch.Tensor,
              keep: list[tuple[torch.Tensor, torch.Tensor]], tail: np.ndarray, row_of: dict[int, int],
              alt_ids: list[np.ndarray], parent: np.ndarray, alt_ll: np.ndarray, device: torch.device) -> None:
    """ALT windows that all first differ from their REF at row ``s``: rows ``s..W-1`` from the REF's earlier rows."""
    a_ids = torch.from_numpy(np.stack([alt_ids[j] for j in part])).to(device)
    rows = torch.tensor([row_of[int(parent[j])] for j in part], device=device)
    suffix = fast_path.fast_backbone_suffix(model.backbone, a_ids, s, keep, rows)  # rows s..W-1
    if s == 0:
        h, t_ids, t0 = suffix, a_ids, 1  # terms t = 1..W-1
    else:  # row s-1 is the REF's; terms t = s..W-1
        h, t_ids, t0 = torch.cat([hidden[rows, s - 1 - r0:s - r0], suffix], 1), a_ids[:, s - 1:], s
    ll = model.log_likelihood_of_hidden(h, t_ids).double().cpu().numpy()  # ll[:, t - t0]
    t = max(s, 1)  # the first term that can differ
    for k, j in enumerate(part):
        alt_ll[j] = ll[k, t - t0:].sum() - tail[row_of[int(parent[j])], t - 1 - r0]
