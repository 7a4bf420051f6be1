"""Character tokenizer with the released HyenaDNA vocabulary, vectorised with numpy.

Ids are those of the release: [CLS]=0, [SEP]=1, [BOS]=2, [MASK]=3, [PAD]=4,
[RESERVED]=5, [UNK]=6, A=7, C=8, G=9, T=10, N=11 (the embedding has 16 rows,
12 padded up to a multiple of 8). Two deliberate differences from the release:
lowercase (soft-masked) bases get the ids of their uppercase letters, and IUPAC
ambiguity codes map to N. Any other character is an error that names its position.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from .errors import InputError

CLS, SEP, BOS, MASK, PAD, RESERVED, UNK = 0, 1, 2, 3, 4, 5, 6
A, C, G, T, N = 7, 8, 9, 10, 11
SPECIAL_TOKENS = ("[CLS]", "[SEP]", "[BOS]", "[MASK]", "[PAD]", "[RESERVED]", "[UNK]")
VOCAB: dict[str, int] = {tok: i for i, tok in enumerate(SPECIAL_TOKENS)} | {"A": A, "C": C, "G": G, "T": T, "N": N}
VOCAB_SIZE = 12
IUPAC_AMBIGUOUS = "RYSWKMBDHVU"  # U (RNA) has no id of its own in the release either

_INVALID = np.int16(-1)
_ENCODE = np.full(256, _INVALID, dtype=np.int16)
for _letter, _id in (("A", A), ("C", C), ("G", G), ("T", T), ("N", N)):
    _ENCODE[ord(_letter)] = _ENCODE[ord(_letter.lower())] = _id
for _letter in IUPAC_AMBIGUOUS:
    _ENCODE[ord(_letter)] = _ENCODE[ord(_letter.lower())] = N

_DECODE = np.array(list("?" * 16), dtype="<U1")
_DECODE[[A, C, G, T, N]] = list("ACGTN")
_SPECIAL_IDS = frozenset(range(len(SPECIAL_TOKENS)))


def _as_bytes(seq: str | bytes) -> np.ndarray:
    if isinstance(seq, str):
        try:
            seq = seq.encode("ascii")
        except UnicodeEncodeError as err:
            raise InputError(
                f"sequence holds a non-ASCII character {seq[err.start]!r} at position {err.start + 1} (1-based); "
                "only DNA letters ACGTN, IUPAC codes and their lowercase forms are allowed"
            ) from None
    return np.frombuffer(seq, dtype=np.uint8)


def encode(seq: str | bytes, *, add_sep: bool = False, name: str | None = None) -> np.ndarray:
    """Token ids of one DNA sequence, ``[L]`` (``[L+1]`` with ``add_sep``), dtype int64.

    Raises :class:`InputError` naming the first bad character and its 1-based position
    (and ``name``, e.g. a FASTA record, when given).
    """
    raw = _as_bytes(seq)
    ids = _ENCODE[raw]
    bad = np.flatnonzero(ids == _INVALID)
    if bad.size:
        pos = int(bad[0])
        where = f" in {name}" if name else ""
        raise InputError(
            f"unknown character {chr(raw[pos])!r} at position {pos + 1} (1-based){where}; "
            f"{bad.size} invalid character(s) in total. Allowed: ACGTN, IUPAC ambiguity codes "
            f"({IUPAC_AMBIGUOUS}), lowercase accepted"
        )
    out = ids.astype(np.int64)
    if add_sep:
        out = np.append(out, SEP)
    return out


def encode_batch(
    seqs: Sequence[str | bytes],
    *,
    length: int | None = None,
    add_sep: bool = False,
    names: Sequence[str] | None = None,
) -> np.ndarray:
    """Token ids of many sequences, left-padded with [PAD] to ``length``: ``[B, length]`` int64.

    ``length`` defaults to the longest encoded sequence. A sequence longer than
    ``length`` is an error (nothing is truncated silently).
    """
    encoded = [encode(s, add_sep=add_sep, name=names[i] if names else f"sequence #{i + 1}") for i, s in enumerate(seqs)]
    longest = max((len(e) for e in encoded), default=0)
    width = longest if length is None else int(length)
    if longest > width:
        i = next(i for i, e in enumerate(encoded) if len(e) > width)
        label = names[i] if names else f"sequence #{i + 1}"
        raise InputError(f"{label} has {len(encoded[i])} tokens, more than the padded length {width}")
    out = np.full((len(encoded), width), PAD, dtype=np.int64)
    for row, ids in enumerate(encoded):
        if len(ids):
            out[row, width - len(ids):] = ids
    return out


def decode(ids: Iterable[int] | np.ndarray, *, skip_special: bool = True) -> str:
    """DNA string of a row of token ids; special tokens are dropped (or shown as ``?``)."""
    arr = np.asarray(ids, dtype=np.int64)
    if skip_special:
        arr = arr[arr >= A]
    if arr.size and (arr.min() < 0 or arr.max() >= len(_DECODE)):
        raise InputError(f"token id out of range 0..{len(_DECODE) - 1}: {int(arr.max() if arr.max() >= len(_DECODE) else arr.min())}")
    return "".join(_DECODE[arr].tolist())


def decode_batch(ids: np.ndarray, *, skip_special: bool = True) -> list[str]:
    """DNA strings of a ``[B, L]`` array of token ids (padding removed)."""
    return [decode(row, skip_special=skip_special) for row in np.asarray(ids)]


_COMPLEMENT = str.maketrans("ACGTNacgtnRYSWKMBDHVUrymkbdhvu", "TGCANtgcanYRSWMKVHDBAyrkmvhdba")


def reverse_complement(seq: str) -> str:
    """Reverse complement of a DNA string; case and IUPAC codes are kept (S, W map to themselves)."""
    return seq.translate(_COMPLEMENT)[::-1]
