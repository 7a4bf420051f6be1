"""Prefix embeddings in the backbone and the SoftPrompt module (tiny random models, CPU)."""

from __future__ import annotations

import pytest
import torch

from hyenadna_kipoi.errors import ConfigError, InputError
from hyenadna_kipoi.finetune.prompting import SoftPrompt
from hyenadna_kipoi.heads import label_token_ids
from hyenadna_kipoi.model import HyenaConfig, HyenaDNA
from hyenadna_kipoi.tokenizer import A, C, G, PAD, T, encode, encode_batch


def _model(l_max: int = 64) -> HyenaDNA:
    torch.manual_seed(0)
    return HyenaDNA(HyenaConfig(d_model=16, n_layer=2, max_seq_len=l_max, embed_dropout=0.0)).eval()


def _ids(*seqs: str) -> torch.Tensor:
    return torch.from_numpy(encode_batch(list(seqs)))


def _plain(model: HyenaDNA):
    model.fast_path = False
    return model


def test_prefix_of_token_embeddings_equals_running_the_tokens():
    model = _plain(_model())
    head, body = _ids("ACGTTGCA", "GGGTACCA"), _ids("TTACGA", "CAGTAC")
    emb = model.backbone.embeddings.word_embeddings.weight
    with torch.no_grad():
        expected = model.embed(torch.cat([head, body], dim=1))
        shared = model.embed(body[:1], prefix=emb[head[0]])  # [k, d] prefix
        per_row = model.embed(body, prefix=emb[head])  # [B, k, d] prefix
    assert per_row.shape == (2, 14, 16)
    torch.testing.assert_close(per_row, expected, rtol=0, atol=1e-6)
    torch.testing.assert_close(shared[0], expected[0], rtol=0, atol=1e-6)


def test_fast_path_with_prefix_equals_plain_path():
    model = _model()
    prompt = SoftPrompt.for_model(model, 9, init="normal", seed=3)
    ids = _ids("ACGTACGTACGTAA", "TTTTGGGGCCCCAA")
    with torch.no_grad():
        fast = model.embed(ids, prefix=prompt.prompt)
        logits_fast = model(ids, prefix=prompt.prompt)
    with torch.no_grad():
        plain = _plain(model).embed(ids, prefix=prompt.prompt)
    assert fast.shape == (2, 9 + 14, 16) and logits_fast.shape == (2, 23, 16)
    torch.testing.assert_close(fast, plain, rtol=1e-5, atol=1e-5)


def test_no_prefix_is_the_plain_call():
    model = _plain(_model())
    ids = _ids("ACGTAGCTAG")
    with torch.no_grad():
        torch.testing.assert_close(model.embed(ids, prefix=None), model.backbone(ids), rtol=0, atol=0)


def test_soft_prompt_hidden_returns_input_positions_of_the_prompted_run():
    model = _plain(_model())
    prompt = SoftPrompt.for_model(model, 5, seed=1)
    ids = _ids("ACGTACGTAC")
    with torch.no_grad():
        full = model.embed(ids, prefix=prompt.prompt)
        hidden = prompt.hidden(model, ids)
    assert hidden.shape == (1, 10, 16)
    torch.testing.assert_close(hidden, full[:, 5:], rtol=0, atol=0)


def test_left_padded_rows_run_unpadded_and_pad_positions_are_zero():
    model = _model()
    prompt = SoftPrompt.for_model(model, 4, seed=2)
    seqs = ["ACGTACGTAC", "GGTTAC", "TTAC", "GATTACAGAT"]
    batch = _ids(*seqs)
    assert int((batch[1] == PAD).sum()) == 4
    with torch.no_grad():
        hidden = prompt.hidden(model, batch)
        for row, seq in enumerate(seqs):
            alone = prompt.hidden(model, _ids(seq))[0]
            torch.testing.assert_close(hidden[row, 10 - len(seq):], alone, rtol=1e-5, atol=1e-6)
            assert torch.count_nonzero(hidden[row, :10 - len(seq)]) == 0


def test_gradient_reaches_only_the_prompt_when_the_backbone_is_frozen():
    model = _model().train()
    model.requires_grad_(False)
    prompt = SoftPrompt.for_model(model, 6, seed=0)
    ids = _ids("ACGTAC", "TTGACA")
    prompt.hidden(model, ids).pow(2).mean().backward()
    assert prompt.prompt.grad is not None and prompt.prompt.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.parameters())
    # and with a trainable backbone, the model gets gradients too
    model.requires_grad_(True)
    prompt.label_token_logits(model, ids, 2).sum().backward()
    assert model.backbone.embeddings.word_embeddings.weight.grad is not None


def test_prompt_longer_than_l_max_is_a_clear_error():
    model = _model(l_max=32)
    prompt = SoftPrompt.for_model(model, 25, seed=0)
    with pytest.raises(InputError, match=r"soft prompt of 25 positions \+ input of 8 tokens = 33 .* l_max of 32"):
        prompt.hidden(model, _ids("ACGTACGT"))
    with pytest.raises(InputError, match=r"33 positions \(25 prefix positions \+ 8 tokens\).*l_max of 32"):
        model.embed(_ids("ACGTACGT"), prefix=prompt.prompt)
    with pytest.raises(InputError, match="prefix must be"):
        model.embed(_ids("ACGT"), prefix=torch.zeros(3, 7))
    assert prompt.hidden(model, _ids("ACGTACG")).shape == (1, 7, 16)  # 25 + 7 = 32 fits


def test_label_token_logits_pick_the_nucleotide_rows_at_the_last_position():
    assert label_token_ids(2) == [A, C] and label_token_ids(4) == [A, C, G, T]
    with pytest.raises(ConfigError, match="1 to 4 classes"):
        label_token_ids(5)
    model = _plain(_model())
    prompt = SoftPrompt.for_model(model, 3, seed=4)
    ids = _ids("ACGTTGCA")
    with torch.no_grad():
        logits = model(ids, prefix=prompt.prompt)[:, -1]
        for n in (1, 2, 3, 4):
            torch.testing.assert_close(prompt.label_token_logits(model, ids, n), logits[:, [A, C, G, T][:n]])


def test_prompt_initialisations():
    model = _model()
    emb = model.backbone.embeddings.word_embeddings.weight
    vocab = SoftPrompt.for_model(model, 200, init="vocab", seed=7)
    assert vocab.prompt.shape == (200, 16) and vocab.prompt.requires_grad
    nucleotides = emb[[A, C, G, T]]
    # every row is an exact copy of one nucleotide embedding, and all four occur
    match = (vocab.prompt[:, None, :] == nucleotides[None]).all(-1)
    assert match.any(1).all() and match.any(0).all()
    torch.testing.assert_close(SoftPrompt.for_model(model, 200, seed=7).prompt, vocab.prompt)  # seeded
    normal = SoftPrompt(4000, 16, init="normal", seed=0)
    values = normal.prompt.detach()
    assert abs(float(values.std()) - 0.02) < 0.001 and abs(float(values.mean())) < 0.001
    copy = SoftPrompt.from_tensor(vocab.prompt.detach())
    torch.testing.assert_close(copy.prompt, vocab.prompt)
    assert copy.length == 200
    with pytest.raises(ConfigError, match="soft_prompt.init"):
        SoftPrompt(4, 16, init="zeros")
    with pytest.raises(ConfigError, match="positive"):
        SoftPrompt(0, 16)


def test_label_nucleotides_are_the_next_token_of_a_prompted_sequence():
    """A prompt equal to real token embeddings gives the logits of running those tokens."""
    model = _plain(_model())
    emb = model.backbone.embeddings.word_embeddings.weight
    head = torch.from_numpy(encode("GATTACA"))
    prompt = SoftPrompt.from_tensor(emb[head].detach())
    ids = _ids("CCGTA")
    with torch.no_grad():
        expected = model(torch.cat([head[None], ids], dim=1))[:, -1, [A, C, G, T]]
        torch.testing.assert_close(prompt.label_token_logits(model, ids, 4), expected, rtol=0, atol=1e-6)
