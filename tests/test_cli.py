"""The `hyenadna` command line, in-process and once through the installed console script."""

import gzip
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import DATA, REPO
from hyenadna_kipoi import load_model
from hyenadna_kipoi.cli import main
from hyenadna_kipoi.data import read_fasta
from hyenadna_kipoi.score import embed_sequences, sequence_loglik

PEAKS = DATA / "peaks" / "set_a_test.fa"


def test_info_lists_presets_with_parameter_counts(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "tiny-1k " in out and "436,096" in out and "6,550,528" in out


def test_info_on_a_model_dir(fixture_model_dir, capsys):
    assert main(["info", str(fixture_model_dir)]) == 0
    out = capsys.readouterr().out
    assert '"layout": "original"' in out and '"d_model": 64' in out


def test_convert_then_load(fixture_model_dir, tmp_path):
    assert main(["convert", str(fixture_model_dir), str(tmp_path / "own")]) == 0
    assert (tmp_path / "own" / "model.safetensors").exists()
    assert main(["convert", str(tmp_path / "own"), str(tmp_path / "hf"), "--layout", "hf"]) == 0
    assert load_model(tmp_path / "hf").config.d_model == 64


@pytest.mark.parametrize("suffix", [".npy", ".npz", ".parquet", ".tsv"])
def test_embed_formats_match_the_api(fixture_model_dir, tmp_path, suffix):
    out = tmp_path / f"emb{suffix}"
    assert main(["embed", "-m", str(fixture_model_dir), "-f", str(PEAKS), "-o", str(out), "-q"]) == 0
    records = list(read_fasta(PEAKS))
    expected = embed_sequences(load_model(fixture_model_dir), [s for _, s in records], progress=False)
    if suffix == ".npy":
        got = np.load(out)
    elif suffix == ".npz":
        z = np.load(out)
        got = z["embeddings"]
        assert z["names"].tolist() == [n for n, _ in records]
    else:
        table = pd.read_parquet(out) if suffix == ".parquet" else pd.read_csv(out, sep="\t")
        assert table["name"].tolist() == [n for n, _ in records]
        got = table.drop(columns="name").to_numpy()
    assert got.shape == (100, 64)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_embedding_does_not_depend_on_the_batch(fixture_model_dir):
    model = load_model(fixture_model_dir)
    seqs = [s for _, s in read_fasta(PEAKS)][:6] + ["ACGT" * 10]
    together = embed_sequences(model, seqs, batch_size=7, progress=False)
    alone = np.stack([embed_sequences(model, [s], progress=False)[0] for s in seqs])
    np.testing.assert_allclose(together, alone, atol=1e-5, rtol=0)


def test_embed_bed_on_reference_with_strand(fixture_model_dir, tmp_path):
    fasta = tmp_path / "genome.fa"
    shutil.copy(DATA / "genomes" / "human_hg19_sample_segments.fa", fasta)  # pyfaidx writes its index beside it
    bed = tmp_path / "regions.bed"
    bed.write_text("track name=x\nchr1\t100\t300\tplus\t0\t+\n1\t100\t300\tminus\t0\t-\n")
    out = tmp_path / "emb.npz"
    assert main(["embed", "-m", str(fixture_model_dir), "-f", str(fasta), "--bed", str(bed), "-o", str(out),
                 "--pooling", "none", "-q"]) == 0
    z = np.load(out)
    assert z["names"].tolist() == ["plus", "minus"] and z["emb_0"].shape == (200, 64)
    assert not np.allclose(z["emb_0"], z["emb_1"])  # the minus interval is the reverse complement


def test_loglik_windows(fixture_model_dir, tmp_path):
    out = tmp_path / "ll.tsv"
    fasta = DATA / "genomes" / "lambda_phage.fa.gz"
    assert main(["loglik", "-m", str(fixture_model_dir), "-f", str(fasta), "--window", "1000", "-o", str(out), "-q"]) == 0
    table = pd.read_csv(out, sep="\t")
    assert table.columns.tolist() == ["name", "length", "n_scored", "loglik_nats", "bits_per_base", "perplexity"]
    assert table.loc[0, "length"] == 48502 and table.loc[0, "n_scored"] == 48502 - 49
    seq = next(iter(read_fasta(fasta)))[1]
    direct = sequence_loglik(load_model(fixture_model_dir), [seq], window=1000, progress=False)[0]
    assert table.loc[0, "loglik_nats"] == pytest.approx(direct.loglik, rel=1e-6)
    assert table.loc[0, "bits_per_base"] == pytest.approx(direct.bits_per_base, rel=1e-5)


def test_unknown_base_is_reported_with_record_and_position(fixture_model_dir, tmp_path, capsys):
    fasta = tmp_path / "bad.fa"
    fasta.write_text(">ok\nACGT\n>broken\nACGTXACGT\n")
    assert main(["embed", "-m", str(fixture_model_dir), "-f", str(fasta), "-o", str(tmp_path / "x.npy"), "-q"]) == 2
    err = capsys.readouterr().err
    assert "'X' at position 5" in err and "broken" in err
    assert not (tmp_path / "x.npy").exists()


def test_too_long_sequence_is_reported(fixture_model_dir, tmp_path, capsys):
    fasta = tmp_path / "long.fa"
    fasta.write_text(">long_one\n" + "A" * 2000 + "\n")
    assert main(["loglik", "-m", str(fixture_model_dir), "-f", str(fasta), "-o", str(tmp_path / "x.tsv"), "-q"]) == 2
    err = capsys.readouterr().err
    assert "long_one has 2000 bases, more than the model's l_max of 1026" in err


def test_missing_inputs_are_reported(fixture_model_dir, tmp_path, capsys):
    assert main(["embed", "-m", str(fixture_model_dir), "-f", str(tmp_path / "none.fa"), "-o", "x.npy"]) == 2
    assert "none.fa: no such FASTA file" in capsys.readouterr().err
    gz = tmp_path / "empty.fa.gz"
    with gzip.open(gz, "wt") as handle:
        handle.write("")
    assert main(["embed", "-m", str(fixture_model_dir), "-f", str(gz), "-o", "x.npy"]) == 2
    assert "no FASTA records" in capsys.readouterr().err


def test_demo_runs_on_the_embedded_config(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)  # the config's paths are relative to the repository root, like Snakemake's
    out = tmp_path / "demo"
    assert main(["demo", "--config", "config/config.yaml", "--out", str(out), "-q"]) == 0
    for name in ("model/model.safetensors", "embeddings.npz", "embeddings_pca.png", "loglik.tsv", "summary.md"):
        assert (out / name).exists(), name
    assert len(pd.read_csv(out / "loglik.tsv", sep="\t")) == 4


def test_console_script_prints_message_not_traceback(tmp_path):
    exe = Path(sys.executable).with_name("hyenadna")
    assert exe.exists(), "console script not installed (run `make install`)"
    result = subprocess.run([str(exe), "info", str(tmp_path / "missing")], capture_output=True, text=True)
    assert result.returncode == 2
    assert "no such model directory or preset" in result.stderr and "Traceback" not in result.stderr
    assert subprocess.run([str(exe), "--help"], capture_output=True, text=True).stdout.count("embed") >= 1


def test_outputs_get_the_usual_permissions(tmp_path):
    import os
    import stat

    from hyenadna_kipoi.io import atomic_open

    with atomic_open(tmp_path / "out.txt") as handle:
        handle.write("x")
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE((tmp_path / "out.txt").stat().st_mode) == 0o666 & ~mask


def test_auto_device_honours_hyenadna_device(monkeypatch):
    from hyenadna_kipoi.device import resolve_device

    monkeypatch.setenv("HYENADNA_DEVICE", "cpu")
    assert resolve_device("auto") == "cpu"
    assert resolve_device("cuda:1") == "cuda:1"  # an explicit choice wins
    monkeypatch.delenv("HYENADNA_DEVICE")
    assert resolve_device("auto") == ("cuda" if __import__("torch").cuda.is_available() else "cpu")
