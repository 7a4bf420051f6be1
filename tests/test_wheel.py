"""The wheel on its own: built, installed into a fresh venv outside the repository, used from elsewhere.

A lab runs ``pip install hyenadna_kipoi-X.Y.Z-py3-none-any.whl`` into its own environment, with
no checkout anywhere. Here: the wheel is built from a copy of the sources (``pip wheel
--no-build-isolation``: no download), installed with ``pip install --no-deps --no-index`` into a
venv in tmp_path, and the dependencies come from this project's ``.venv`` through a ``.pth`` line
that appends its site-packages *after* the new venv's. A plain path line in a ``.pth`` file does
not run the ``.pth`` files of the folder it adds, so the editable install of ``hyenadna_kipoi`` in
``.venv`` (its ``__editable__`` finder) stays off: every import of the package comes from the wheel
(checked). Every command runs with a working directory outside the repository, on copies of
its inputs, and its outputs are compared with what the checkout computes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import yaml

import hyenadna_kipoi
from conftest import BUNDLED_FIXTURE, DATA, REPO
from hyenadna_kipoi.data import read_fasta
from hyenadna_kipoi.kipoi.export import EXPECT

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
SOURCES = ("pyproject.toml", "README.md", "hyenadna_kipoi")  # what `pip wheel .` reads
JUNK = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist")
GENOME = DATA / "genomes" / "human_hg19_sample_segments.fa"
W = 256


def describe(proc: subprocess.CompletedProcess) -> str:
    return f"exit {proc.returncode}\n--- stdout ---\n{proc.stdout[-3000:]}\n--- stderr ---\n{proc.stderr[-5000:]}"


class Installed:
    """A venv in ``root`` with only the wheel installed, its dependencies borrowed from ``.venv``."""

    def __init__(self, root: Path):
        self.root = root
        self.venv = root / "venv"
        self.python = self.venv / "bin" / "python"
        self.work = root / "work"  # the working directory of every command: outside the repository
        home = root / "home"
        for folder in (self.work, home):
            folder.mkdir()
        self.env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
        self.env.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"), PYTHONDONTWRITEBYTECODE="1",
                        PATH=f"{self.venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}", PIP_NO_CACHE_DIR="1",
                        HYENADNA_OFFLINE="1", HYENADNA_CACHE=str(root / "cache"), HYENADNA_NUM_THREADS="1")

        src = root / "src"
        src.mkdir()
        for name in SOURCES:
            path = REPO / name
            if path.is_dir():
                shutil.copytree(path, src / name, ignore=JUNK)
            elif path.exists():
                shutil.copy(path, src / name)
        self.source_files = {str(p.relative_to(src / "hyenadna_kipoi")) for p in (src / "hyenadna_kipoi").rglob("*")
                             if p.is_file()}
        pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
        dist = root / "dist"
        self.check([*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(dist), str(src)],
                   cwd=root)
        (self.wheel,) = dist.glob("hyenadna_kipoi-*.whl")

        self.check([sys.executable, "-m", "venv", "--without-pip", str(self.venv)], cwd=root)
        self.check([*pip, "--python", str(self.python), "install", "--no-deps", "--no-index", str(self.wheel)],
                   cwd=root)
        purelib = Path(self.check([str(self.python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                                  cwd=root).stdout.strip())
        # appended after the venv's own site-packages; .venv's .pth files (the editable finder) are not run
        (purelib / "zz_project_venv_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
        self.purelib = purelib

    def check(self, cmd: list[str], cwd: Path | None = None, env: dict[str, str] | None = None,
              timeout: float = 300) -> subprocess.CompletedProcess:
        proc = subprocess.run([str(c) for c in cmd], cwd=cwd or self.work, env=env or self.env,
                              capture_output=True, text=True, timeout=timeout)
        assert proc.returncode == 0, f"{' '.join(map(str, cmd))}\n{describe(proc)}"
        return proc

    def hyenadna(self, *args: str | Path) -> subprocess.CompletedProcess:
        return self.check([self.venv / "bin" / "hyenadna", *args])

    def kipoi(self, *args: str | Path) -> subprocess.CompletedProcess:
        """The kipoi CLI run by the new venv's interpreter; prints where it imported hyenadna_kipoi from."""
        script = ("import sys\nfrom kipoi.__main__ import main\nsys.argv = ['kipoi', *sys.argv[1:]]\n"
                  "try:\n    code = main()\nfinally:\n"
                  "    print('HYENADNA_KIPOI_FROM', getattr(sys.modules.get('hyenadna_kipoi'), '__file__', None))\n"
                  "sys.exit(code)\n")
        return self.check([self.python, "-c", script, *args])


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Installed:
    root = tmp_path_factory.mktemp("wheel")
    assert REPO not in root.parents and root != REPO
    return Installed(root)


def test_wheel_carries_every_package_and_data_file(installed):
    with zipfile.ZipFile(installed.wheel) as whl:
        names = set(whl.namelist())
        metadata = whl.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    shipped = {n.removeprefix("hyenadna_kipoi/") for n in names if n.startswith("hyenadna_kipoi/")}
    missing = sorted(installed.source_files - shipped)
    assert not missing, f"the wheel lacks {missing}: a package without __init__.py or a data file not in " \
                        f"[tool.setuptools.package-data] of pyproject.toml"
    for needed in ("schemas/pretrain.schema.yaml", "schemas/finetune.schema.yaml", "schemas/config.schema.yaml",
                   "zoo/HyenaDNA/model-template.yaml", "zoo/HyenaDNA/models.tsv", "zoo/HyenaDNA/example/genome.fa",
                   "kernels/__init__.py", "kernels/dispatch.py"):
        assert needed in shipped, needed
    assert installed.wheel.name == f"hyenadna_kipoi-{hyenadna_kipoi.__version__}-py3-none-any.whl"
    assert f"Version: {hyenadna_kipoi.__version__}" in metadata and "Requires-Dist: torch" in metadata
    assert "Requires-Dist: kipoi" not in metadata and "Requires-Dist: snakemake" not in metadata


def test_imports_and_package_data_come_from_the_wheel(installed):
    script = ("import importlib.metadata, json, hyenadna_kipoi, hyenadna_kipoi.kernels.dispatch\n"
              "from hyenadna_kipoi.resources import SCHEMA_DIR, ZOO_DIR\n"
              "from hyenadna_kipoi.train.config import SCHEMA_PATH\n"
              "print(json.dumps({'package': hyenadna_kipoi.__file__, 'kernels': hyenadna_kipoi.kernels.__file__,"
              " 'schemas': str(SCHEMA_DIR), 'pretrain_schema': str(SCHEMA_PATH), 'zoo': str(ZOO_DIR),"
              " 'version': importlib.metadata.version('hyenadna-kipoi')}))")
    found = json.loads(installed.check([installed.python, "-c", script]).stdout)
    for key in ("package", "kernels", "schemas", "pretrain_schema", "zoo"):
        assert Path(found[key]).is_relative_to(installed.purelib), (key, found[key])
    assert Path(found["pretrain_schema"]).is_file() and (Path(found["zoo"]) / "HyenaDNA" / "models.tsv").is_file()
    assert found["version"] == hyenadna_kipoi.__version__

    out = installed.hyenadna("--help").stdout
    assert out.startswith("usage: hyenadna") and all(c in out for c in ("pretrain", "score-variants", "export-kipoi"))
    assert "hyenadna_kipoi/schemas/pretrain.schema.yaml" in installed.hyenadna("pretrain", "--help").stdout


def test_pretrain_from_the_wheel(installed):
    run = installed.work / "pretrain"
    (run / "data").mkdir(parents=True)
    for name in ("c_elegans_ce_test.fa.gz", "c_elegans_ce_test.regions.bed"):
        shutil.copy(DATA / "genomes" / name, run / "data" / name)
    config = yaml.safe_load((REPO / "config" / "pretrain-demo.yaml").read_text())
    config.update(
        out_dir="out",
        genome=dict(config["genome"], fasta="data/c_elegans_ce_test.fa.gz", prepared="out/genome/ce.fa"),
        intervals={"regions": {"path": "data/c_elegans_ce_test.regions.bed"}, "window": 256,
                   "max_windows": {"valid": 8, "test": 8}},
        model={"d_model": 32, "n_layer": 1, "filter_order": 16},
        data={"num_workers": 0},
        train={"max_steps": 6, "seq_len": 256, "global_batch_size": 4},
        eval={"every": 6, "markov_max_order": 2, "markov_max_train_bases": 50_000},
        checkpoint={"every": 6}, log={"progress": False},
    )
    (run / "pretrain.yaml").write_text(yaml.safe_dump(config))
    proc = installed.check([installed.venv / "bin" / "hyenadna", "pretrain", "pretrain.yaml", "-q"], cwd=run)
    assert "[pretrain] done: 6 steps" in proc.stdout, describe(proc)

    out = run / "out"
    for name in ("summary.json", "train.csv", "eval.csv", "markov.tsv", "config.resolved.yaml",
                 "intervals/train.bed", "model/config.json", "model/model.safetensors"):
        assert (out / name).is_file(), name
    train = pd.read_csv(out / "train.csv")
    assert train["step"].tolist() == list(range(1, 7)) and np.isfinite(train["loss"]).all()
    # the schema's defaults were filled in from the wheel's copy of the schema
    resolved = yaml.safe_load((out / "config.resolved.yaml").read_text())
    assert resolved["optimizer"]["lr"] == config["optimizer"]["lr"] and "weight_decay" in resolved["optimizer"]
    model = hyenadna_kipoi.load_model(out / "model")
    assert (model.config.d_model, model.config.n_layer) == (32, 1)

    # a config error is one line naming the key, as from the checkout
    (run / "bad.yaml").write_text(yaml.safe_dump(dict(config, train=dict(config["train"], warmup=3))))
    proc = subprocess.run([str(installed.venv / "bin" / "hyenadna"), "pretrain", "bad.yaml"], cwd=run,
                          env=installed.env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "unknown config key train.warmup" in proc.stderr, describe(proc)


def _variants(fasta: Path) -> str:
    seq = dict(read_fasta(fasta))["chr1"].upper()
    other = {"A": "C", "C": "G", "G": "T", "T": "A"}
    rows = [(p, seq[p - 1], other[seq[p - 1]]) for p in (1000, 4000, 9000) if seq[p - 1] in other]
    rows.append((12000, other[seq[11999]], seq[11999]))  # REF disagrees with the genome
    header = "##fileformat=VCFv4.2\n##contig=<ID=chr1>\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
    return header + "".join(f"chr1\t{p}\tv{p}\t{r}\t{a}\t.\tPASS\t.\n" for p, r, a in rows)


def test_score_variants_from_the_wheel_equals_the_checkout(installed, tmp_path):
    work = installed.work / "variants"
    work.mkdir()
    shutil.copytree(BUNDLED_FIXTURE / "original", work / "model")
    shutil.copy(GENOME, work / "genome.fa")
    (work / "calls.vcf").write_text(_variants(work / "genome.fa"))
    args = ["-m", "model", "-f", "genome.fa", "-v", "calls.vcf", "--window", str(W), "--out-tsv", "scores.tsv", "-q"]
    installed.check([installed.venv / "bin" / "hyenadna", "score-variants", *args], cwd=work)
    wheel = pd.read_csv(work / "scores.tsv", sep="\t")
    assert len(wheel) == 4 and wheel["status"].tolist().count("OK") == 3 and "REF_MISMATCH" in set(wheel["status"])
    assert np.isfinite(wheel.loc[wheel["status"] == "OK", "llr"]).all()

    checkout = tmp_path / "checkout"  # the same command from this checkout's editable install
    shutil.copytree(work, checkout, ignore=shutil.ignore_patterns("scores.tsv", "*.fai"))
    proc = subprocess.run([str(BIN / "hyenadna"), "score-variants", *args], cwd=checkout, capture_output=True,
                          text=True, timeout=300, env=dict(installed.env, PATH=os.environ["PATH"]))
    assert proc.returncode == 0, describe(proc)
    pd.testing.assert_frame_equal(wheel, pd.read_csv(checkout / "scores.tsv", sep="\t"))


def test_export_kipoi_and_kipoi_test_from_the_wheel(installed):
    work = installed.work / "kipoi"
    work.mkdir()
    shutil.copytree(BUNDLED_FIXTURE / "original", work / "parity")
    installed.hyenadna("export-kipoi", "-m", work / "parity", "-o", work / "export", "-q")
    model_yaml = yaml.safe_load((work / "export" / "model.yaml").read_text())
    assert f"hyenadna-kipoi=={hyenadna_kipoi.__version__}" in model_yaml["dependencies"]["pip"]
    with h5py.File(work / "export" / EXPECT) as f:
        assert f["preds/embedding"].shape[1] == 64 and np.isfinite(f["preds/loglik"][()]).all()
    for model in (work / "export", work / "export" / "variant-effect"):
        out = installed.kipoi("test", model, "--source", "dir")
        text = out.stdout + out.stderr
        assert "All predictions match" in text and "Successfully ran test_predict" in text, describe(out)
        origin = Path(text.split("HYENADNA_KIPOI_FROM ", 1)[1].split()[0])
        assert origin.is_relative_to(installed.purelib), origin
