import numpy as np
import pytest

from hyenadna_kipoi import InputError, decode, decode_batch, encode, encode_batch
from hyenadna_kipoi.tokenizer import PAD, SEP, VOCAB, reverse_complement


def test_released_vocabulary():
    assert VOCAB == {"[CLS]": 0, "[SEP]": 1, "[BOS]": 2, "[MASK]": 3, "[PAD]": 4, "[RESERVED]": 5, "[UNK]": 6,
                     "A": 7, "C": 8, "G": 9, "T": 10, "N": 11}


def test_lowercase_and_iupac():
    assert encode("ACGTN").tolist() == [7, 8, 9, 10, 11]
    assert encode("acgtn").tolist() == [7, 8, 9, 10, 11]  # soft-masked bases keep their identity
    assert encode("RYSWKMBDHVryswkmbdhv").tolist() == [11] * 20


def test_unknown_character_names_position():
    with pytest.raises(InputError, match=r"'X' at position 4 .*in chr1"):
        encode("ACGXT", name="chr1")
    with pytest.raises(InputError, match="non-ASCII"):
        encode("ACGé")


def test_left_padding_and_sep():
    ids = encode_batch(["ACG", "A"], length=5, add_sep=True)
    assert ids.tolist() == [[PAD, 7, 8, 9, SEP], [PAD, PAD, PAD, 7, SEP]]
    assert encode_batch(["ACG", "A"]).tolist() == [[7, 8, 9], [PAD, PAD, 7]]
    with pytest.raises(InputError, match="more than the padded length 2"):
        encode_batch(["ACG"], length=2)


def test_decode_roundtrip():
    ids = encode_batch(["ACGTN", "GG"], length=6)
    assert decode_batch(ids) == ["ACGTN", "GG"]
    assert decode([7, 1, 8]) == "AC"


def test_reverse_complement():
    assert reverse_complement("AACGTn") == "nACGTT"


def test_large_input():
    seq = "ACGTacgtNR" * 1_000_000  # 10 Mb; throughput is measured in benchmarks/bench_tokenizer.py
    ids = encode(seq)
    assert ids.shape == (10_000_000,) and ids.dtype == np.int64
    assert np.bincount(ids, minlength=12)[7:].tolist() == [2_000_000] * 4 + [2_000_000]
