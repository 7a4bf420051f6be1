"""The HyenaDNA Kipoi model group, its registration, dataloaders and exports.

The fast tests never import kipoi (it writes ``~/.kipoi`` on import). Everything that runs
kipoi goes through the real ``kipoi`` command line (or a Python script using
``kipoi.get_model``) in a subprocess whose HOME is private, offline (``HYENADNA_OFFLINE=1``),
with random weights of the tiny-1k shape in the project cache (as ``hyenadna fetch`` leaves
them) or served from a ``file://`` mirror of the hub. kipoi's own schema checks only warn, so every
output is checked here: columns, and values against the project's own ``hyenadna embed``,
``hyenadna loglik`` and ``score_vcf`` (what ``hyenadna score-variants`` runs).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
import yaml

import hyenadna_kipoi
from conftest import BUNDLED_FIXTURE, DATA
from hyenadna_kipoi import PRESETS, HyenaDNA, load_model, save_model
from hyenadna_kipoi.cli import main as hyenadna
from hyenadna_kipoi.data import Genome, read_bed
from hyenadna_kipoi.download import file_digest
from hyenadna_kipoi.errors import CheckpointError, ConfigError, DownloadError, InputError
from hyenadna_kipoi.kipoi import DATALOADER_DIR, EXAMPLE_DIR, GROUP_DIR, ZOO_DIR
from hyenadna_kipoi.kipoi.commands import register
from hyenadna_kipoi.kipoi.compat import restore_numpy_aliases
from hyenadna_kipoi.kipoi.export import EXPECT, export_model
from hyenadna_kipoi.heads import Head, load_head, save_head
from hyenadna_kipoi.kipoi.predict import classifier_outputs
from hyenadna_kipoi.kipoi.render import group_rows, model_description
from hyenadna_kipoi.kipoi.samples import stack_intervals
from hyenadna_kipoi.kipoi.source import register_source
from hyenadna_kipoi.kipoi.weights import resolve_model
from hyenadna_kipoi.score import embed_sequences, score_vcf, sequence_loglik
from hyenadna_kipoi.tokenizer import reverse_complement

BIN = Path(sys.executable).parent
FIXTURE = BUNDLED_FIXTURE / "original"  # d_model 64, l_max 1026
TINY_HF = Path("LongSafari") / "hyenadna-tiny-1k-seqlen-hf" / "resolve" / "main"
SPEC_VCF = DATA / "vcf" / "vcf42_spec_example.vcf"  # EDGE, REF_MISMATCH, multi-allelic, ALT "." records
BED = """\
chr1\t100\t600\tpeak_a\t0\t+
chr1\t5000\t5800\tpeak_b\t0\t-
chr2\t1000\t1300
chr2\t20000\t21000\tpeak_d\t0\t+
chr1\t29000\t29900\tpeak_e\t0\t-
"""
BED_LABELS = ["peak_a", "peak_b", "chr2:1001-1300", "peak_d", "peak_e"]


# --------------------------------------------------------------------------- helpers


def kipoi_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hyenadna")
    register(parser.add_subparsers(dest="command", required=True))
    return parser


def describe(proc: subprocess.CompletedProcess) -> str:
    return f"exit {proc.returncode}\n--- stdout ---\n{proc.stdout[-3000:]}\n--- stderr ---\n{proc.stderr[-5000:]}"


class Kipoi:
    """A private HOME with the source registered, a file:// hub mirror and a project cache."""

    def __init__(self, root: Path):
        self.root = root
        home = root / "home"
        home.mkdir()
        self.config = home / ".kipoi" / "config.yaml"
        register_source(self.config)
        torch.manual_seed(0)
        tiny = HyenaDNA(PRESETS["tiny-1k"].config())  # random weights of the released shape
        self.mirror = root / "mirror"  # a file:// copy of the hub
        self.tiny = save_model(tiny, self.mirror / TINY_HF, "hf")  # also a local model directory
        save_model(tiny, root / "cache" / "tiny-1k" / "hf", "hf")  # as `hyenadna fetch tiny-1k` leaves it
        self.env = dict(os.environ, HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"),
                        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", PYTHONDONTWRITEBYTECODE="1",
                        HYENADNA_OFFLINE="1", HYENADNA_CACHE=str(root / "cache"))
        self.env.pop("HYENADNA_HUB_URL", None)
        self.fasta = root / "genome.fa"  # pyfaidx writes the .fai beside it
        shutil.copy(DATA / "genomes" / "human_hg19_sample_segments.fa", self.fasta)
        self.bed = root / "regions.bed"
        self.bed.write_text(BED)
        self.vcf = root / "variants.vcf"
        self.vcf.write_text(SPEC_VCF.read_text() + self._scoreable_records())
        self.zoo_files = sorted(p.relative_to(ZOO_DIR) for p in ZOO_DIR.rglob("*"))

    def _scoreable_records(self) -> str:
        """Records away from the contig ends, REF read from the genome: SNV, multi-allelic, deletion, insertion, *."""
        genome = Genome(self.fasta)
        ref = lambda chrom, pos, n=1: genome.fetch(chrom, pos - 1, pos - 1 + n).upper()  # noqa: E731
        other = {"A": "C", "C": "G", "G": "T", "T": "A"}
        rows = [("chr1", 5000, "snv", ref("chr1", 5000), other[ref("chr1", 5000)]),
                ("chr1", 12000, "multi", ref("chr1", 12000), other[ref("chr1", 12000)] + ",*"),
                ("chr2", 15000, "del", ref("chr2", 15000, 3), ref("chr2", 15000)),
                ("chr2", 25000, "ins", ref("chr2", 25000), ref("chr2", 25000) + "TTAG"),
                ("chrUn", 10, "unknown", "A", "G")]
        genome.close()
        return "".join(f"{c}\t{p}\t{i}\t{r}\t{a}\t.\tPASS\t.\tGT\t0|1\t0|1\t0|1\n" for c, p, i, r, a in rows)

    def run(self, *args: str, cwd: Path | None = None, ok: bool = True, **env: str) -> str:
        """``kipoi ARGS`` (``env`` added to the environment); returns stdout + stderr (kipoi logs to stderr)."""
        proc = subprocess.run([str(BIN / "kipoi"), *args], cwd=cwd or self.root, env={**self.env, **env},
                              capture_output=True, text=True, timeout=300)
        assert (proc.returncode == 0) == ok, describe(proc)
        return proc.stdout + proc.stderr

    def python(self, script: str) -> subprocess.CompletedProcess:
        proc = subprocess.run([sys.executable, "-c", script], cwd=self.root, env=self.env,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, describe(proc)
        return proc


@pytest.fixture(scope="module")
def kipoi_env(tmp_path_factory) -> Kipoi:
    return Kipoi(tmp_path_factory.mktemp("kipoi"))


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    """The bundled parity model exported as a Kipoi model directory."""
    out = tmp_path_factory.mktemp("export") / "parity"
    export_model(FIXTURE, out)
    return out


def tsv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", keep_default_na=False, na_values=[""])


def embedding_columns(table: pd.DataFrame, d: int) -> np.ndarray:
    return table[[f"preds/embedding/{j}" for j in range(d)]].to_numpy()


# --------------------------------------------------------------------------- the group (no kipoi import)


def test_models_tsv_has_two_models_per_preset_matching_presets():
    rows = [r for r in group_rows() if isinstance(r["preset"], str)]  # (rows of published project models have none)
    assert [r["model"] for r in rows] == [m for p in PRESETS for m in (p, f"{p}/variant-effect")]
    for row in rows:
        preset = PRESETS[row["preset"]]
        assert row["weights"] == f"https://huggingface.co/{preset.repo}-hf/resolve/main/model.safetensors"
        assert (row["d_model"], row["l_max"]) == (preset.d_model, preset.max_seq_len)
        assert row["window"] == min(preset.max_seq_len - 2, 32_768)
        assert row["task"] == ("variant-effect" if row["model"].endswith("/variant-effect") else "intervals")
        assert isinstance(row["md5"], float) and math.isnan(row["md5"])  # empty: not knowable offline


def test_template_renders_each_task_with_its_schema_and_dataloader():
    rows = {r["model"]: r for r in group_rows()}
    d = model_description(rows["tiny-1k"])
    assert d["defined_as"] == "hyenadna_kipoi.kipoi.model.HyenaDNAModel"
    assert d["args"] == {"weights": rows["tiny-1k"]["weights"], "preset": "tiny-1k", "md5": "", "task": "intervals",
                         "device": "auto", "batch_size": 8}
    assert d["default_dataloader"] == {"defined_as": "hyenadna_kipoi.kipoi.dataloaders.IntervalDataset"}
    assert d["schema"]["targets"]["embedding"]["shape"] == "(128,)" and "loglik" in d["schema"]["targets"]
    assert "test" not in d  # no expected values for released weights offline

    d = model_description(rows["large-1m/variant-effect"])
    assert d["default_dataloader"] == {"defined_as": "hyenadna_kipoi.kipoi.dataloaders.VariantDataset",
                                       "default_args": {"window": 32768}}
    assert set(d["schema"]["inputs"]) == {"ref", "alt"} and list(d["schema"]["targets"]) == ["llr", "llr_fwd", "llr_rc"]

    row = dict(rows["tiny-1k"], task="classifier", preset="", weights="model", md5="0" * 32, labels="neg;1",
               test_expect="file:///x.h5", test_expect_md5="0123", dataloader=".")
    d = model_description(row)
    assert d["default_dataloader"] == "." and list(d["schema"]["targets"]) == ["neg", "1"]
    assert d["test"]["expect"] == {"url": "file:///x.h5", "md5": "0123"} and d["args"]["md5"] == "0" * 32
    assert "hg38" not in d["info"]["trained_on"]


def test_dataloader_descriptions_have_no_defaults_and_ship_their_examples():
    for name in ("intervals.yaml", "variants.yaml"):
        descr = yaml.safe_load((DATALOADER_DIR / name).read_text())
        for arg, spec in descr["args"].items():
            # a `default:` would override the model's default_dataloader.default_args (kipoi 0.8.6)
            assert "default" not in spec, f"{name}: {arg} has a default"
            if "example" in spec:
                assert (GROUP_DIR / spec["example"]).exists()
    assert (EXAMPLE_DIR / "genome.fa.fai").exists()  # shipped: nothing is written into the package


def test_register_source_is_idempotent_and_keeps_other_sources(tmp_path):
    config = tmp_path / ".kipoi" / "config.yaml"
    first = register_source(config)
    assert first.changed and first.previous is None
    sources = yaml.safe_load(config.read_text())["model_sources"]
    assert sources["hyenadna"] == {"type": "local", "local_path": str(ZOO_DIR)}
    assert sources["kipoi"]["type"] == "git" and "github-permalink" in sources  # kipoi's own defaults
    stamp = config.stat().st_mtime_ns
    again = register_source(config)
    assert not again.changed and config.stat().st_mtime_ns == stamp

    sources["hyenadna"]["local_path"] = "/old/install/zoo"
    sources["mine"] = {"type": "local", "local_path": str(tmp_path)}
    config.write_text(yaml.safe_dump({"model_sources": sources}))
    fixed = register_source(config)
    assert fixed.changed and fixed.previous["local_path"] == "/old/install/zoo"
    now = yaml.safe_load(config.read_text())["model_sources"]
    assert now["hyenadna"]["local_path"] == str(ZOO_DIR) and now["mine"]["local_path"] == str(tmp_path)

    config.write_text("model_sources: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        register_source(config)
    with pytest.raises(ConfigError, match="reserved"):
        register_source(tmp_path / "other.yaml", name="dir")


def test_kipoi_setup_command(tmp_path, capsys):
    args = kipoi_parser().parse_args(["kipoi-setup", "--config", str(tmp_path / "config.yaml")])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "registered kipoi source 'hyenadna'" in out and "14 models" in out and "HyenaDNA/tiny-1k/variant-effect" in out
    assert args.func(args) == 0
    assert "already registered" in capsys.readouterr().out


def test_numpy_aliases_for_kipoi_writers_are_restored(monkeypatch):
    monkeypatch.delattr(np, "string_", raising=False)
    monkeypatch.delattr(np, "unicode_", raising=False)
    assert restore_numpy_aliases() == ["string_", "unicode_"]
    assert np.string_ is np.bytes_ and np.unicode_ is np.str_
    assert restore_numpy_aliases() == []


def test_kipoi_finds_the_classes_by_attribute_access():
    """kipoi's load_obj imports only `hyenadna_kipoi` and then gets attributes (fresh interpreter)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    script = "import hyenadna_kipoi, sys; k = hyenadna_kipoi.kipoi; assert 'kipoi' not in sys.modules; print(k.GROUP)"
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "HyenaDNA", (
        "hyenadna_kipoi/__init__.py must expose the subpackage `kipoi` lazily (module __getattr__), since kipoi "
        "resolves `defined_as: hyenadna_kipoi.kipoi.model.HyenaDNAModel` by attribute access\n" + describe(proc))


# --------------------------------------------------------------------------- weights


def test_weights_from_a_directory_a_lone_file_and_with_md5(tmp_path):
    model, path = resolve_model(str(FIXTURE), base=tmp_path)
    assert path == FIXTURE and model.config.d_model == 64
    ckpt_md5 = file_digest(FIXTURE / "weights.ckpt", "md5")
    resolve_model("parity-a/original", md5=ckpt_md5, base=BUNDLED_FIXTURE.parent)  # relative to the yaml's folder
    with pytest.raises(DownloadError, match="md5 checksum mismatch"):
        resolve_model(str(FIXTURE), md5="0" * 32, base=tmp_path)

    torch.manual_seed(1)
    tiny = HyenaDNA(PRESETS["tiny-1k"].config())
    save_model(tiny, tmp_path / "hf", "hf")
    lone = tmp_path / "lone.safetensors"
    shutil.copy(tmp_path / "hf" / "model.safetensors", lone)
    loaded, _ = resolve_model(lone.as_uri(), preset="tiny-1k", base=tmp_path)
    ids = torch.randint(7, 11, (1, 50))
    with torch.no_grad():
        assert torch.equal(loaded(ids), tiny.eval()(ids))
    with pytest.raises(ConfigError, match="give `preset`"):
        resolve_model(str(lone), base=tmp_path)
    with pytest.raises(ConfigError, match="unknown preset"):
        resolve_model(str(lone), preset="huge-9g", base=tmp_path)
    with pytest.raises(CheckpointError, match="no such model directory"):
        resolve_model("missing", base=tmp_path)
    # a model this project trained, published as plain files (config.json beside the weights): no preset needed
    own = save_model(load_model(FIXTURE), tmp_path / "published")
    md5 = file_digest(own / "model.safetensors", "md5")
    model, path = resolve_model((own / "model.safetensors").as_uri(), md5=md5, base=tmp_path)
    assert path == own and model.config.d_model == 64
    with pytest.raises(DownloadError, match="HYENADNA_OFFLINE"):
        resolve_model("https://example.org/models/m1/model.safetensors", md5=md5, base=tmp_path)
    with pytest.raises(CheckpointError, match="HYENADNA_OFFLINE"):  # the hub URL goes through the project cache
        resolve_model("https://huggingface.co/LongSafari/hyenadna-large-1m-seqlen-hf/resolve/main/model.safetensors",
                      preset="large-1m", base=tmp_path)


# --------------------------------------------------------------------------- export (no kipoi import)


def test_export_writes_a_relocatable_kipoi_directory(exported, tmp_path):
    files = {str(p.relative_to(exported)) for p in exported.rglob("*") if p.is_file()}
    assert {"model.yaml", "dataloader.yaml", "README.md", "model/config.json", "model/model.safetensors",
            "example/genome.fa", "example/genome.fa.fai", "example/intervals.bed", "example/variants.vcf",
            str(EXPECT), "variant-effect/model.yaml", f"variant-effect/{EXPECT}"} <= files
    md = yaml.safe_load((exported / "model.yaml").read_text())
    assert md["args"]["weights"] == "model" and md["args"]["task"] == "intervals" and md["default_dataloader"] == "."
    assert md["args"]["md5"] == file_digest(exported / "model" / "model.safetensors", "md5")
    assert md["test"]["expect"]["md5"] == file_digest(exported / EXPECT, "md5")
    ve = yaml.safe_load((exported / "variant-effect" / "model.yaml").read_text())
    assert ve["args"]["weights"] == "../model" and ve["default_dataloader"]["default_args"] == {"window": 1024}
    assert yaml.safe_load((exported / "dataloader.yaml").read_text())["defined_as"].endswith("IntervalDataset")
    with h5py.File(exported / EXPECT) as f:
        assert f["inputs"].shape == (6, 512) and f["preds/embedding"].shape == (6, 64) and f["preds/loglik"].shape == (6,)
    with h5py.File(exported / "variant-effect" / EXPECT) as f:
        assert f["inputs/ref"].shape == (11, 1024) and np.isnan(f["preds/llr"][()]).sum() == 3
    assert not list(exported.parent.glob(".parity.*"))  # no temporary left behind

    with pytest.raises(InputError, match="exists; pass --force"):
        export_model(FIXTURE, exported)
    (tmp_path / "not-an-export").mkdir()
    with pytest.raises(InputError, match="not a Kipoi export"):
        export_model(FIXTURE, tmp_path / "not-an-export", force=True)


def test_dependencies_name_this_package_at_its_version(exported):
    """An environment built from a model's or dataloader's `dependencies:` imports hyenadna_kipoi (their classes)."""
    pin = f"hyenadna-kipoi=={hyenadna_kipoi.__version__}"
    for row in group_rows():
        assert pin in model_description(row)["dependencies"]["pip"], row["model"]
    for name in ("intervals.yaml", "variants.yaml"):
        assert pin in yaml.safe_load((DATALOADER_DIR / name).read_text())["dependencies"]["pip"], name
    for yml in ("model.yaml", "dataloader.yaml", "variant-effect/model.yaml"):
        assert pin in yaml.safe_load((exported / yml).read_text())["dependencies"]["pip"], yml


def test_export_command(tmp_path, capsys):
    out = tmp_path / "m"
    args = kipoi_parser().parse_args(["export-kipoi", "-m", str(FIXTURE), "-o", str(out), "-q"])
    assert args.func(args) == 0
    assert f"kipoi test {out} --source dir" in capsys.readouterr().out
    args = kipoi_parser().parse_args(["export-kipoi", "-m", str(FIXTURE), "-o", str(out), "-q", "--force"])
    assert args.func(args) == 0 and (out / "model.yaml").exists()


# --------------------------------------------------------------------------- the real kipoi CLI


@pytest.mark.slow
def test_kipoi_test_on_an_export_from_another_directory(kipoi_env, exported):
    # from another working directory: test.expect is found beside model.yaml
    for model in (exported, exported / "variant-effect"):
        out = kipoi_env.run("test", str(model), "--source", "dir")
        assert "All predictions match" in out and "Successfully ran test_predict" in out
    with h5py.File(exported / EXPECT) as f:  # the expectation is really checked
        wrong = {"inputs": f["inputs"][()], "embedding": f["preds/embedding"][()] + 0.01, "loglik": f["preds/loglik"][()]}
    with h5py.File(kipoi_env.root / "wrong.h5", "w") as f:
        f["inputs"], f["preds/embedding"], f["preds/loglik"] = wrong["inputs"], wrong["embedding"], wrong["loglik"]
    out = kipoi_env.run("test", str(exported), "--source", "dir", "--expect", "wrong.h5", ok=False)
    assert "don't match the expected predictions" in out


@pytest.mark.slow
def test_kipoi_test_on_preset_models_of_the_group(kipoi_env):
    # weights from a file:// hub mirror, fetched by the project's downloader into an empty project cache
    cache = kipoi_env.root / "fresh-cache"
    for model in ("HyenaDNA/tiny-1k", "HyenaDNA/tiny-1k/variant-effect"):
        out = kipoi_env.run("test", model, "--source", "hyenadna", HYENADNA_HUB_URL=kipoi_env.mirror.as_uri(),
                            HYENADNA_CACHE=str(cache))
        assert "Successfully ran test_predict" in out and "not compatible" not in out
    assert (cache / "tiny-1k" / "hf" / "model.safetensors").exists()
    assert not (kipoi_env.root / "home" / ".kipoi" / "models").exists()  # kipoi's git source was never touched
    assert sorted(p.relative_to(ZOO_DIR) for p in ZOO_DIR.rglob("*")) == kipoi_env.zoo_files  # package untouched


@pytest.mark.slow
def test_kipoi_predict_intervals_equals_hyenadna_embed_and_loglik(kipoi_env):
    root = kipoi_env.root
    kipoi_env.run("predict", "HyenaDNA/tiny-1k", "--source", "hyenadna", "--dataloader_args",
                  json.dumps({"intervals_file": str(kipoi_env.bed), "fasta_file": str(kipoi_env.fasta)}),
                  "--keep_metadata", "--batch_size", "2", "--num_workers", "2",
                  "-o", str(root / "intervals.tsv"), str(root / "intervals.h5"))
    assert hyenadna(["embed", "-m", str(kipoi_env.tiny), "-f", str(kipoi_env.fasta), "--bed", str(kipoi_env.bed),
                     "-o", str(root / "emb.npz"), "-q"]) == 0
    assert hyenadna(["loglik", "-m", str(kipoi_env.tiny), "-f", str(kipoi_env.fasta), "--bed", str(kipoi_env.bed),
                     "-o", str(root / "ll.tsv"), "-q"]) == 0
    emb = np.load(root / "emb.npz")
    loglik = tsv(root / "ll.tsv")["loglik_nats"].to_numpy()
    assert emb["names"].tolist() == BED_LABELS

    table = tsv(root / "intervals.tsv")
    meta = ["metadata/ranges/" + k for k in ("chr", "end", "id", "start", "strand")]
    assert list(table.columns) == sorted(meta + ["preds/loglik"] + [f"preds/embedding/{j}" for j in range(128)])
    assert table["metadata/ranges/id"].tolist() == BED_LABELS
    assert table["metadata/ranges/strand"].tolist() == ["+", "-", "+", "+", "-"]
    np.testing.assert_allclose(embedding_columns(table, 128), emb["embeddings"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(table["preds/loglik"], loglik, rtol=1e-6, atol=1e-4)

    with h5py.File(root / "intervals.h5") as f:
        assert f["preds/embedding"].shape == (5, 128) and f["preds/loglik"].dtype == np.float64
        np.testing.assert_allclose(f["preds/embedding"][()], emb["embeddings"], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(f["preds/loglik"][()], loglik, rtol=1e-6, atol=1e-4)
        assert [x.decode() if isinstance(x, bytes) else x for x in f["metadata/ranges/id"][()]] == BED_LABELS


@pytest.mark.slow
def test_kipoi_predict_variants_equals_score_variants(kipoi_env):
    root = kipoi_env.root
    kipoi_env.run("predict", "HyenaDNA/tiny-1k/variant-effect", "--source", "hyenadna", "--dataloader_args",
                  json.dumps({"vcf_file": str(kipoi_env.vcf), "fasta_file": str(kipoi_env.fasta)}),
                  "--keep_metadata", "--batch_size", "4", "-o", str(root / "variants.tsv"), str(root / "variants.h5"))
    want = score_vcf(load_model(kipoi_env.tiny), kipoi_env.fasta, kipoi_env.vcf, window=1024, progress=False).rows
    table = tsv(root / "variants.tsv")
    variant = ["metadata/variant/" + k for k in ("alt", "chr", "id", "pos", "ref")]
    ranges = ["metadata/ranges/" + k for k in ("chr", "end", "id", "start", "strand")]
    assert list(table.columns) == sorted(ranges + variant + ["metadata/status", "preds/llr", "preds/llr_fwd",
                                                             "preds/llr_rc"])
    assert len(table) == len(want) == 18
    got_keys = list(zip(table["metadata/variant/chr"], table["metadata/variant/pos"], table["metadata/variant/id"],
                        table["metadata/variant/ref"], table["metadata/variant/alt"], table["metadata/status"]))
    assert got_keys == [(r.chrom, r.pos, r.id, r.ref, r.alt, r.status) for r in want]
    assert set(table["metadata/status"]) == {"OK", "EDGE", "REF_MISMATCH", "SKIPPED_SYMBOLIC", "UNKNOWN_CONTIG"}
    with h5py.File(root / "variants.h5") as f:
        for name in ("llr", "llr_fwd", "llr_rc"):
            expected = np.array([getattr(r, name) for r in want])
            np.testing.assert_allclose(table[f"preds/{name}"].to_numpy(), expected, rtol=1e-6, atol=1e-4)
            np.testing.assert_allclose(f[f"preds/{name}"][()], expected, rtol=1e-6, atol=1e-4)  # NaN == NaN
        assert f["metadata/status"].shape == (18,)


@pytest.mark.slow
def test_get_model_from_python(kipoi_env):
    script = textwrap.dedent(f"""
        import json, kipoi
        model = kipoi.get_model("HyenaDNA/tiny-1k", source="hyenadna")
        pred = model.pipeline.predict({{"intervals_file": {str(kipoi_env.bed)!r}, "fasta_file": {str(kipoi_env.fasta)!r}}},
                                      batch_size=3)
        print(json.dumps({{"cls": type(model).__name__, "dl": model.default_dataloader.__name__,
                          "embedding": pred["embedding"].tolist(), "loglik": pred["loglik"].tolist()}}))
    """)
    got = json.loads(kipoi_env.python(script).stdout.strip().splitlines()[-1])
    assert got["cls"] == "HyenaDNAModel" and got["dl"] == "IntervalDataset"
    model = load_model(kipoi_env.tiny)
    genome = Genome(kipoi_env.fasta)
    seqs = [genome.fetch(iv.chrom, iv.start, iv.end) for iv in read_bed(kipoi_env.bed)]
    seqs = [reverse_complement(s) if iv.strand == "-" else s for s, iv in zip(seqs, read_bed(kipoi_env.bed))]
    np.testing.assert_allclose(got["embedding"], embed_sequences(model, seqs, progress=False), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got["loglik"], [s.loglik for s in sequence_loglik(model, seqs, progress=False)],
                               rtol=1e-6, atol=1e-4)


@pytest.mark.slow
def test_fine_tuned_classifier_exports_with_named_class_probabilities(kipoi_env, tmp_path):
    src = tmp_path / "finetuned"
    save_model(load_model(FIXTURE), src)
    torch.manual_seed(2)
    save_head(Head("classification", ["enhancer", "promoter", "0"], "mean", weight=torch.randn(3, 64), bias=torch.randn(3)), src)
    out = tmp_path / "classifier"
    done = export_model(src, out)
    assert done.task == "classifier" and done.models == [out]  # no variant-effect model for a classifier
    md = yaml.safe_load((out / "model.yaml").read_text())
    assert list(md["schema"]["targets"]) == ["enhancer", "promoter", "class_0"]
    assert "All predictions match" in kipoi_env.run("test", str(out), "--source", "dir")
    kipoi_env.run("predict", str(out), "--source", "dir", "--dataloader_args",
                  json.dumps({"intervals_file": str(kipoi_env.bed), "fasta_file": str(kipoi_env.fasta)}),
                  "-o", str(tmp_path / "classes.tsv"))
    table = tsv(tmp_path / "classes.tsv")
    assert sorted(table.columns) == ["preds/class_0", "preds/enhancer", "preds/promoter"]
    np.testing.assert_allclose(table.sum(axis=1), 1.0, atol=1e-5)
    head = load_head(src, 64)
    genome = Genome(kipoi_env.fasta)
    want = classifier_outputs(load_model(src), head, stack_intervals(genome, list(read_bed(kipoi_env.bed))))
    for column in head.columns:
        np.testing.assert_allclose(table[f"preds/{column}"], want[column], rtol=1e-5, atol=1e-6)
