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
import ast
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
from hyenadna_kipoi.kipoi.expect import write_row_expectation
from hyenadna_kipoi.kipoi.export import EXPECT, export_model
from hyenadna_kipoi.kipoi.onehot import ids_to_onehot, onehot_to_ids
from hyenadna_kipoi.heads import Head, load_head, save_head
from hyenadna_kipoi.kipoi.predict import VARIANT_OUTPUTS, classifier_outputs, interval_outputs, variant_outputs
from hyenadna_kipoi.kipoi.render import group_rows, model_description
from hyenadna_kipoi.kipoi.samples import stack_intervals
from hyenadna_kipoi.kipoi.source import register_source
from hyenadna_kipoi.kipoi.weights import resolve_model
from hyenadna_kipoi.score import embed_sequences, score_vcf, sequence_loglik
from hyenadna_kipoi.tokenizer import N, encode_batch, reverse_complement

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[1]
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
REGIONS = (BED.replace("chr1\t100\t600", "chr1\t2000\t2500").replace("chr1\t29000\t29900", "chr1\t29000\t29400")
           .replace("chr2\t1000\t1300\n", "chr2\t1000\t1300\tpeak_c\t0\t+\n"))
BED_LABELS = ["peak_a", "peak_b", "chr2:1001-1300", "peak_d", "peak_e"]


# --------------------------------------------------------------------------- helpers


def kipoi_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hyenadna")
    register(parser.add_subparsers(dest="command", required=True))
    return parser


def describe(proc: subprocess.CompletedProcess) -> str:
    return f"exit {proc.returncode}\n--- stdout ---\n{proc.stdout[-3000:]}\n--- stderr ---\n{proc.stderr[-5000:]}"


def scaled_tiny(seed: int) -> HyenaDNA:
    """Random tiny-1k weights whose tied output layer reads the hidden states through ln_f x 0.05.

    That gives ~2 nats per base, like the release; plain random weights give ~80 (window logliks
    of -8e4 nats, whose float32 rounding alone exceeds 1e-4 in the difference of two of them).
    """
    torch.manual_seed(seed)
    net = HyenaDNA(PRESETS["tiny-1k"].config())
    with torch.no_grad():
        net.backbone.ln_f.weight.mul_(0.05)
    return net


class Kipoi:
    """A private HOME with the source registered, a file:// hub mirror and a project cache."""

    def __init__(self, root: Path):
        self.root = root
        home = root / "home"
        home.mkdir()
        self.config = home / ".kipoi" / "config.yaml"
        register_source(self.config)
        tiny = scaled_tiny(0)  # random weights of the released shape and of a pretrained model's output scale
        self.mirror = root / "mirror"  # a file:// copy of the hub
        self.tiny = save_model(tiny, self.mirror / TINY_HF, "hf")  # also a local model directory
        save_model(tiny, root / "cache" / "tiny-1k" / "hf", "hf")  # as `hyenadna fetch tiny-1k` leaves it
        self.env = dict(os.environ, HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"),
                        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", PYTHONDONTWRITEBYTECODE="1",
                        HYENADNA_OFFLINE="1", HYENADNA_CACHE=str(root / "cache"))
        self.env.pop("HYENADNA_HUB_URL", None)
        self.fasta = root / "genome.fa"  # pyfaidx writes the .fai beside it
        shutil.copy(DATA / "genomes" / "human_hg19_sample_segments.fa", self.fasta)
        self.bed = root / "intervals.bed"
        self.bed.write_text(BED)
        self.regions = root / "regions.bed"  # BED6 whose 1,024-base windows stay on the contigs (SeqIntervalDl)
        self.regions.write_text(REGIONS)
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


# --------------------------------------------------------------------------- the group (no kipoi import)


def test_models_tsv_has_three_models_per_preset_matching_presets():
    rows = [r for r in group_rows() if isinstance(r["preset"], str)]  # (rows of published project models have none)
    assert [r["model"] for r in rows] == [m for p in PRESETS for m in (p, f"{p}/loglik", f"{p}/variant-effect")]
    for row in rows:
        preset = PRESETS[row["preset"]]
        assert row["weights"] == f"https://huggingface.co/{preset.repo}-hf/resolve/main/model.safetensors"
        assert (row["d_model"], row["l_max"]) == (preset.d_model, preset.max_seq_len)
        assert row["window"] == min(preset.max_seq_len - 2, 32_768)
        assert row["task"] == row["model"].split("/")[1] if "/" in row["model"] else row["task"] == "embedding"
        assert isinstance(row["md5"], float) and math.isnan(row["md5"])  # empty: not knowable offline


def test_template_renders_each_task_with_its_schema_and_dataloader():
    rows = {r["model"]: r for r in group_rows()}
    d = model_description(rows["tiny-1k"])
    assert d["defined_as"] == "model.HyenaDNAModel"  # the thin model.py beside the template
    assert d["args"] == {"weights": rows["tiny-1k"]["weights"], "preset": "tiny-1k", "md5": "", "task": "embedding",
                         "device": "auto", "batch_size": 8, "dtype": "float32"}
    # the zoo's dataloader, every interval resized to the window; the packaged example as its example
    assert d["default_dataloader"] == {"defined_as": "kipoiseq.dataloaders.SeqIntervalDl", "default_args": {
        "intervals_file": "example/regions.bed", "fasta_file": "example/genome.fa", "auto_resize_len": 1024,
        "ignore_targets": True, "label_dtype": "str"}}
    assert d["schema"]["inputs"] == {"name": "seq", "shape": "(1024, 4)", "special_type": "DNASeq",
                                     "associated_metadata": "ranges", "doc": d["schema"]["inputs"]["doc"]}
    targets = d["schema"]["targets"]  # one array target with its column labels
    assert targets["shape"] == "(128,)" and targets["column_labels"] == [f"emb_{j}" for j in range(128)]

    d = model_description(rows["large-1m/loglik"])
    assert d["args"]["task"] == "loglik" and d["default_dataloader"]["default_args"]["auto_resize_len"] == 32768
    assert d["schema"]["inputs"]["shape"] == "(32768, 4)"
    assert {k: d["schema"]["targets"][k] for k in ("shape", "column_labels")} == {"shape": "(1,)",
                                                                                  "column_labels": ["loglik"]}

    d = model_description(rows["large-1m/variant-effect"])
    assert d["default_dataloader"] == {"defined_as": "dataloader.VariantDataset", "default_args": {"window": 32768}}
    assert set(d["schema"]["inputs"]) == {"ref", "alt"} and list(d["schema"]["targets"]) == ["llr", "llr_fwd", "llr_rc"]

    row = dict(rows["tiny-1k"], task="classifier", preset="", weights="model", md5="0" * 32, labels="neg;1",
               test_expect="file:///x.h5", test_expect_md5="0123", dataloader=".")
    d = model_description(row)
    assert d["default_dataloader"] == "." and list(d["schema"]["targets"]) == ["neg", "1"]
    assert d["test"]["expect"] == {"url": "file:///x.h5", "md5": "0123"} and d["args"]["md5"] == "0" * 32
    assert "hg38" not in d["info"]["trained_on"]


def test_group_folder_has_the_thin_modules_and_example_regions_fit_every_window():
    for name in ("model.py", "dataloader.py"):  # they import the package, nothing else
        body = ast.parse((GROUP_DIR / name).read_text()).body
        assert [type(node) for node in body] == [ast.Expr, ast.ImportFrom, ast.Assign], name  # docstring, import, __all__
        assert body[1].module.startswith("hyenadna_kipoi.kipoi.")
    lengths = dict(line.split("\t")[:2] for line in (EXAMPLE_DIR / "genome.fa.fai").read_text().splitlines())
    for row in group_rows():
        for line in (EXAMPLE_DIR / "regions.bed").read_text().splitlines():
            chrom, start, end = line.split("\t")[:3]
            centre = (int(start) + int(end)) // 2  # kipoiseq's resize_interval: the window must stay on the contig
            assert 0 <= centre - row["window"] // 2 and centre + row["window"] // 2 <= int(lengths[chrom]), row["model"]


def test_one_hot_rows_become_token_ids():
    ids = encode_batch(["ACGTNACGTT"])
    onehot = ids_to_onehot(ids)
    assert onehot.shape == (1, 10, 4) and onehot[0, 4].tolist() == [0.25] * 4
    assert np.array_equal(onehot_to_ids(onehot), ids)
    onehot[0, 0] = 0  # an IUPAC code in kipoiseq's one-hot: all zeros
    onehot[0, 1] = [1, 1, 0, 0]
    assert onehot_to_ids(onehot)[0, :2].tolist() == [N, N]
    with pytest.raises(InputError, match=r"\[batch, length, 4\]"):
        onehot_to_ids(ids)


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
    assert "registered kipoi source 'hyenadna'" in out and "21 models" in out and "HyenaDNA/tiny-1k/variant-effect" in out
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
    assert {"model.yaml", "dataloader.yaml", "model.py", "dataloader.py", "variant-effect/model.py", "README.md",
            "model/config.json", "model/model.safetensors",
            "example/genome.fa", "example/genome.fa.fai", "example/intervals.bed", "example/variants.vcf",
            str(EXPECT), "variant-effect/model.yaml", f"variant-effect/{EXPECT}", "loglik/model.yaml", "loglik/model.py",
            f"loglik/{EXPECT}", "loglik/example/regions.bed"} <= files
    md = yaml.safe_load((exported / "model.yaml").read_text())
    assert md["args"]["weights"] == "model" and md["args"]["task"] == "intervals" and md["default_dataloader"] == "."
    assert md["args"]["md5"] == file_digest(exported / "model" / "model.safetensors", "md5")
    assert md["test"]["expect"]["md5"] == file_digest(exported / EXPECT, "md5")
    ll = yaml.safe_load((exported / "loglik" / "model.yaml").read_text())  # the group's loglik model, as exported
    assert ll["args"]["weights"] == "../model" and ll["args"]["md5"] == md["args"]["md5"]
    assert ll["default_dataloader"]["defined_as"] == "kipoiseq.dataloaders.SeqIntervalDl"
    assert ll["schema"]["targets"]["column_labels"] == ["loglik"] and ll["test"]["precision_decimal"] == 3
    with h5py.File(exported / "loglik" / EXPECT) as f:
        assert f["inputs"].shape == (4, 1024, 4) and f["preds"].shape == (4, 1)
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


def project_pins() -> dict[str, str]:
    """``name -> version`` of every ``name==version`` in requirements*.txt, torch from the Makefile's TORCH_SPEC."""
    pins = {}
    for path in (REPO / "requirements.txt", REPO / "requirements-kipoi.txt"):
        for line in path.read_text().splitlines():
            if "==" in line and not line.startswith("#"):
                name, version = line.split("#")[0].strip().split("==")
                pins[name.lower()] = version
    spec = next(line for line in (REPO / "Makefile").read_text().splitlines() if line.startswith("TORCH_SPEC ?="))
    pins["torch"] = spec.split("==")[1].strip()
    return pins


def check_dependencies(deps: dict, where: str) -> None:
    """Every dependency pinned, to this package's version and to the versions this venv is built from."""
    pins = project_pins()
    assert f"hyenadna-kipoi=={hyenadna_kipoi.__version__}" in deps["pip"], where
    for dep in deps["pip"]:
        name, version = dep.split("==")  # an unpinned dependency fails here
        assert name == "hyenadna-kipoi" or pins[name.lower()] == version, f"{where}: {dep}, requirements pin {pins.get(name.lower())}"
    assert deps.get("conda", [f"python={sys.version_info[0]}.{sys.version_info[1]}"]) == [
        f"python={sys.version_info[0]}.{sys.version_info[1]}"], where


def test_dependencies_are_complete_and_pinned(exported):
    """An environment built from a model's or dataloader's `dependencies:` imports hyenadna_kipoi (their classes)."""
    for row in group_rows():
        deps = model_description(row)["dependencies"]
        check_dependencies(deps, row["model"])
        assert ("kipoiseq==0.7.1" in deps["pip"]) == (row["task"] in ("embedding", "loglik")), row["model"]
    for name in ("intervals.yaml", "variants.yaml"):
        check_dependencies(yaml.safe_load((DATALOADER_DIR / name).read_text())["dependencies"], name)
    for yml in ("model.yaml", "dataloader.yaml", "loglik/model.yaml", "variant-effect/model.yaml"):
        check_dependencies(yaml.safe_load((exported / yml).read_text())["dependencies"], yml)


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
    for model in (exported, exported / "loglik", exported / "variant-effect"):
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
    for model in ("HyenaDNA/tiny-1k", "HyenaDNA/tiny-1k/loglik", "HyenaDNA/tiny-1k/variant-effect"):
        out = kipoi_env.run("test", model, "--source", "hyenadna", HYENADNA_HUB_URL=kipoi_env.mirror.as_uri(),
                            HYENADNA_CACHE=str(cache))
        assert "Successfully ran test_predict" in out and "not compatible" not in out
    assert (cache / "tiny-1k" / "hf" / "model.safetensors").exists()
    assert not (kipoi_env.root / "home" / ".kipoi" / "models").exists()  # kipoi's git source was never touched
    assert sorted(p.relative_to(ZOO_DIR) for p in ZOO_DIR.rglob("*")) == kipoi_env.zoo_files  # package untouched


def resized_sequences(kipoi_env: Kipoi, width: int = 1024) -> list[str]:
    """The sequences of kipoi_env.regions as SeqIntervalDl gives them: centred on width bases, minus strand reversed."""
    genome = Genome(kipoi_env.fasta)
    seqs = []
    for iv in read_bed(kipoi_env.regions):
        start = (iv.start + iv.end) // 2 - width // 2
        seq = genome.fetch(iv.chrom, start, start + width).upper()
        seqs.append(reverse_complement(seq) if iv.strand == "-" else seq)
    genome.close()
    return seqs


@pytest.mark.slow
def test_a_row_with_its_expectation_passes_kipoi_test(kipoi_env, tmp_path, monkeypatch):
    """`hyenadna kipoi-expect`'s file for a row, with its md5s in models.tsv: `kipoi test` checks the predictions."""
    monkeypatch.setenv("HYENADNA_CACHE", str(kipoi_env.root / "cache"))  # the tiny-1k weights kipoi_env placed
    monkeypatch.setenv("HYENADNA_OFFLINE", "1")
    zoo = tmp_path / "zoo"
    shutil.copytree(ZOO_DIR, zoo)
    group = zoo / "HyenaDNA"
    rows = group_rows(group / "models.tsv")
    done = write_row_expectation(next(r for r in rows if r["model"] == "tiny-1k/loglik"), group)
    assert done.path == group / "downloaded" / "model_files" / "tiny-1k" / "loglik" / "test.expect.h5"
    assert done.weights_md5 == file_digest(kipoi_env.root / "cache" / "tiny-1k" / "hf" / "model.safetensors", "md5")
    with h5py.File(done.path) as f:
        assert f["inputs"].shape == (4, 1024, 4) and f["preds"].shape == (4, 1)
    with pytest.raises(ConfigError, match="variant-effect"):
        write_row_expectation(next(r for r in rows if r["model"] == "tiny-1k/variant-effect"), group)

    table = pd.read_csv(group / "models.tsv", sep="\t", comment="#", dtype=str, keep_default_na=False)
    row = table["model"] == "tiny-1k/loglik"
    table.loc[row, ["md5", "test_expect", "test_expect_md5"]] = [done.weights_md5, done.path.as_uri(), done.md5]
    table.to_csv(group / "models.tsv", sep="\t", index=False)
    register_source(kipoi_env.config, name="expected", zoo_dir=zoo)
    out = kipoi_env.run("test", "HyenaDNA/tiny-1k/loglik", "--source", "expected")
    assert "All predictions match" in out and "Successfully ran test_predict" in out
    with h5py.File(done.path, "r+") as f:  # the expectation is really checked
        f["preds"][0, 0] += 0.01
    table.loc[row, "test_expect_md5"] = file_digest(done.path, "md5")
    table.to_csv(group / "models.tsv", sep="\t", index=False)
    out = kipoi_env.run("test", "HyenaDNA/tiny-1k/loglik", "--source", "expected", ok=False)
    assert "don't match the expected predictions" in out


def test_kipoi_expect_command_names_the_rows(capsys):
    args = kipoi_parser().parse_args(["kipoi-expect", "HyenaDNA/tiny-9k"])
    with pytest.raises(ConfigError, match="no row 'HyenaDNA/tiny-9k'.*tiny-1k/loglik"):
        args.func(args)


@pytest.mark.slow
def test_kipoi_predict_with_the_zoo_dataloader_equals_hyenadna_embed_and_loglik(kipoi_env):
    """Default dataloader (kipoiseq's SeqIntervalDl, one-hot): the numbers of the project's own scoring code."""
    root = kipoi_env.root
    args = json.dumps({"intervals_file": str(kipoi_env.regions), "fasta_file": str(kipoi_env.fasta), "use_strand": True})
    for model, out in (("HyenaDNA/tiny-1k", "emb"), ("HyenaDNA/tiny-1k/loglik", "ll")):
        kipoi_env.run("predict", model, "--source", "hyenadna", "--dataloader_args", args, "--keep_metadata",
                      "--batch_size", "2", "--num_workers", "2", "-o", str(root / f"{out}.tsv"), str(root / f"{out}.h5"))
    model = load_model(kipoi_env.tiny)
    seqs = resized_sequences(kipoi_env)
    emb = embed_sequences(model, seqs, progress=False)
    loglik = np.array([s.loglik for s in sequence_loglik(model, seqs, progress=False)])

    meta = ["metadata/ranges/" + k for k in ("chr", "end", "id", "start", "strand")]
    table = tsv(root / "emb.tsv")
    assert sorted(table.columns) == sorted(meta + [f"preds/{j}" for j in range(128)])  # one array target
    assert table["metadata/ranges/strand"].tolist() == ["+", "-", "+", "+", "-"]
    assert (table["metadata/ranges/end"] - table["metadata/ranges/start"]).tolist() == [1024] * 5
    np.testing.assert_allclose(table[[f"preds/{j}" for j in range(128)]].to_numpy(), emb, rtol=1e-5, atol=1e-5)
    table = tsv(root / "ll.tsv")
    assert list(table.columns) == sorted(meta) + ["preds/0"]
    np.testing.assert_allclose(table["preds/0"], loglik, rtol=1e-6, atol=1e-4)
    with h5py.File(root / "ll.h5") as f:
        assert f["preds"].shape == (5, 1) and f["preds"].dtype == np.float64
        np.testing.assert_allclose(f["preds"][:, 0], loglik, rtol=1e-6, atol=1e-4)
    with h5py.File(root / "emb.h5") as f:
        np.testing.assert_allclose(f["preds"][()], emb, rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_kipoi_predict_with_the_interval_dataset_equals_hyenadna_embed_and_loglik(kipoi_env):
    """The project's IntervalDataset (intervals of any length, token ids) still drives the same models."""
    root = kipoi_env.root
    for model, out in (("HyenaDNA/tiny-1k", "intervals"), ("HyenaDNA/tiny-1k/loglik", "intervals_ll")):
        kipoi_env.run("predict", model, "--source", "hyenadna",
                      "--dataloader", "hyenadna_kipoi.kipoi.dataloaders.IntervalDataset", "--dataloader_args",
                      json.dumps({"intervals_file": str(kipoi_env.bed), "fasta_file": str(kipoi_env.fasta)}),
                      "--keep_metadata", "--batch_size", "2", "-o", str(root / f"{out}.tsv"))
    assert hyenadna(["embed", "-m", str(kipoi_env.tiny), "-f", str(kipoi_env.fasta), "--bed", str(kipoi_env.bed),
                     "-o", str(root / "emb.npz"), "-q"]) == 0
    assert hyenadna(["loglik", "-m", str(kipoi_env.tiny), "-f", str(kipoi_env.fasta), "--bed", str(kipoi_env.bed),
                     "-o", str(root / "ll.tsv"), "-q"]) == 0
    emb = np.load(root / "emb.npz")
    assert emb["names"].tolist() == BED_LABELS
    table = tsv(root / "intervals.tsv")
    assert table["metadata/ranges/id"].tolist() == BED_LABELS
    np.testing.assert_allclose(table[[f"preds/{j}" for j in range(128)]].to_numpy(), emb["embeddings"], rtol=1e-5,
                               atol=1e-5)
    np.testing.assert_allclose(tsv(root / "intervals_ll.tsv")["preds/0"], tsv(root / "ll.tsv")["loglik_nats"],
                               rtol=1e-6, atol=1e-4)


VARIANT_EFFECT_SCRIPT = """
import json, sys
import kipoi
import numpy as np
from kipoiseq import Interval
from kipoiseq.extractors import MultiSampleVCF, VariantSeqExtractor
from kipoiseq.transforms.functional import one_hot_dna

vcf_file, fasta_file, window = sys.argv[1], sys.argv[2], 1024
model = kipoi.get_model("HyenaDNA/tiny-1k/loglik", source="hyenadna")
extractor = VariantSeqExtractor(fasta_file=fasta_file)
contigs = set(extractor.ref_seq_extractor.fasta.keys())
keys, refs, alts = [], [], []
for variant in MultiSampleVCF(vcf_file):  # one Variant per ALT allele ('*' and N alleles skipped)
    start = variant.start - window // 2  # the window of `hyenadna score-variants`: W bases from POS-1-W//2
    if variant.chrom not in contigs or start < 0 or variant.alt.startswith("<"):
        continue
    interval = Interval(variant.chrom, start, start + window)
    ref = extractor.ref_seq_extractor.extract(interval)  # the REF sequence
    seq = extractor.extract(interval, [variant], anchor=interval.start)  # ALT applied, filled from the genome
    if len(ref) == len(seq) == window:
        keys.append([variant.chrom, variant.pos, variant.ref, variant.alt])
        refs.append(one_hot_dna(ref.upper()))
        alts.append(one_hot_dna(seq.upper()))
diff = model.predict_on_batch(np.stack(alts))[:, 0] - model.predict_on_batch(np.stack(refs))[:, 0]
print(json.dumps({"keys": keys, "diff": diff.tolist()}))
"""


@pytest.mark.slow
def test_variant_effect_the_zoo_way_equals_score_variants_llr_fwd(kipoi_env):
    """kipoiseq's VariantSeqExtractor -> one-hot REF/ALT -> HyenaDNA/tiny-1k/loglik: ALT - REF is llr_fwd."""
    proc = subprocess.run([sys.executable, "-c", VARIANT_EFFECT_SCRIPT, str(kipoi_env.vcf), str(kipoi_env.fasta)],
                          cwd=kipoi_env.root, env=kipoi_env.env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, describe(proc)
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    diff = {tuple(k): d for k, d in zip(got["keys"], got["diff"])}
    rows = score_vcf(load_model(kipoi_env.tiny), kipoi_env.fasta, kipoi_env.vcf, window=1024, progress=False).rows
    ok = [r for r in rows if r.status == "OK"]
    kinds = {(len(r.ref) > 1, len(r.alt) > 1) for r in ok}
    assert len(ok) >= 4 and {(False, False), (True, False), (False, True)} <= kinds  # SNVs, a deletion, an insertion
    missing = [r for r in ok if (r.chrom, r.pos, r.ref, r.alt) not in diff]
    assert not missing, f"not extracted by kipoiseq: {missing}"
    got_llr = np.array([diff[(r.chrom, r.pos, r.ref, r.alt)] for r in ok])
    want_llr = np.array([r.llr_fwd for r in ok])
    assert np.abs(want_llr).max() > 0.01  # the variants change the likelihood: the comparison means something
    np.testing.assert_allclose(got_llr, want_llr, rtol=0, atol=1e-4)


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
        model = kipoi.get_model("HyenaDNA/tiny-1k/loglik", source="hyenadna")
        pred = model.pipeline.predict({{"intervals_file": {str(kipoi_env.regions)!r}, "fasta_file": {str(kipoi_env.fasta)!r},
                                       "use_strand": True}}, batch_size=3)
        print(json.dumps({{"cls": type(model).__name__, "dl": model.default_dataloader.__name__,
                          "loglik": pred.tolist()}}))
    """)
    got = json.loads(kipoi_env.python(script).stdout.strip().splitlines()[-1])
    assert got["cls"] == "HyenaDNAModel" and got["dl"] == "OverriddenSeqIntervalDl"  # kipoiseq's, with default_args
    want = [[s.loglik] for s in sequence_loglik(load_model(kipoi_env.tiny), resized_sequences(kipoi_env), progress=False)]
    np.testing.assert_allclose(got["loglik"], want, rtol=1e-6, atol=1e-4)


KIPOI_BF16 = {"embedding": 2e-2, "loglik": 1.5, "llr": 0.3}  # bf16 bounds: relative, nats, nats (measured below)


def test_kipoi_model_dtype_bfloat16_is_close_and_float32_is_exact(kipoi_env):
    """Model arg ``dtype``: the default and float32 give :mod:`.kipoi.predict`'s numbers bit for bit; bfloat16 is
    close (measured on this test's tiny-1k-shaped model, torch 2.13 on an AMX CPU: embedding 2.4e-3 relative, loglik
    0.24 of ~1,300 nats, LLRs 0.056 nats); an unknown dtype is refused, naming the argument. kipoi is imported in a
    private-HOME subprocess, as everywhere in this file."""
    out = kipoi_env.root / "dtype.npz"
    script = textwrap.dedent(f"""
        import numpy as np
        from hyenadna_kipoi.errors import ConfigError
        from hyenadna_kipoi.kipoi.model import HyenaDNAModel
        rng = np.random.default_rng(0)
        ids = rng.integers(7, 11, (3, 300))
        alt = ids.copy()
        alt[:, 150] = 7 + (alt[:, 150] - 6) % 4  # a substitution in the middle
        got = {{}}
        for dtype in (None, "float32", "bfloat16"):
            args = {{}} if dtype is None else {{"dtype": dtype}}
            intervals = HyenaDNAModel(weights={str(kipoi_env.tiny)!r}, task="intervals", device="cpu", **args)
            variants = HyenaDNAModel(weights={str(kipoi_env.tiny)!r}, task="variant-effect", device="cpu", **args)
            outputs = {{**intervals.predict_on_batch(ids), **variants.predict_on_batch({{"ref": ids, "alt": alt}})}}
            got.update({{f"{{dtype}}/{{name}}": value for name, value in outputs.items()}})
        try:
            HyenaDNAModel(weights={str(kipoi_env.tiny)!r}, task="intervals", device="cpu", dtype="float16")
        except ConfigError as err:
            print(err)
        np.savez({str(out)!r}, ids=ids, alt=alt, **got)
    """)
    message = kipoi_env.python(script).stdout
    assert "unknown dtype 'float16' in the Kipoi model arguments; choose one of float32, bfloat16" in message
    got = dict(np.load(out))
    net = load_model(kipoi_env.tiny)
    want = {**interval_outputs(net, got["ids"]), **variant_outputs(net, got["ids"], got["alt"])}
    for name, value in want.items():
        for dtype in ("None", "float32"):
            assert np.array_equal(got[f"{dtype}/{name}"], value), f"{name}, dtype {dtype}"
        low = got[f"bfloat16/{name}"]
        assert not np.array_equal(low, value), f"{name}: bfloat16 did not run"
    emb = got["bfloat16/embedding"]
    rel = np.linalg.norm(emb - want["embedding"], axis=1) / np.linalg.norm(want["embedding"], axis=1)
    assert rel.max() <= KIPOI_BF16["embedding"], rel
    np.testing.assert_allclose(got["bfloat16/loglik"], want["loglik"], rtol=0, atol=KIPOI_BF16["loglik"])
    for name in VARIANT_OUTPUTS:
        np.testing.assert_allclose(got[f"bfloat16/{name}"], want[name], rtol=0, atol=KIPOI_BF16["llr"])


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
