"""The installed environment works as one piece.

Everything the project relies on must run from the single `.venv` that `make install`
builds: Snakemake with draft 2020-12 schema validation (needs attrs>=22.2), the Kipoi CLI
(declares attrs<=21.4.0, imports pkg_resources, writes HDF5 with NumPy-1 names), bedtools,
the genomics libraries and Triton's CPU interpreter. Each test drives the real command line
tools through subprocesses, offline, inside tmp_path.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent  # the venv's bin/, not resolved through symlinks


def tool(name: str) -> str:
    path = BIN / name
    if not path.exists():
        pytest.fail(f"{name} is not installed next to {sys.executable}; run `make install`")
    return str(path)


def run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def describe(proc: subprocess.CompletedProcess) -> str:
    return f"exit {proc.returncode}\n--- stdout ---\n{proc.stdout[-4000:]}\n--- stderr ---\n{proc.stderr[-4000:]}"


@pytest.fixture
def offline_env(tmp_path: Path) -> dict[str, str]:
    """An environment whose HOME is private, so kipoi's ~/.kipoi and Snakemake's caches land in tmp."""
    home = tmp_path / "home"
    home.mkdir()
    env = dict(os.environ)
    env.update(
        HOME=str(home),
        XDG_CACHE_HOME=str(home / ".cache"),
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.pop("PYTHONPATH", None)
    return env


# --------------------------------------------------------------------------- snakemake

SCHEMA = """\
$schema: "https://json-schema.org/draft/2020-12/schema"
description: toy config
type: object
$defs:
  positive_int:
    type: integer
    minimum: 1
properties:
  greeting:
    type: string
    default: hello
  repeats:
    $ref: "#/$defs/positive_int"
    default: 2
  name:
    type: string
required: [name]
additionalProperties: false
"""

SNAKEFILE = """\
from snakemake.utils import validate

configfile: "config.yaml"
validate(config, "schema.yaml")

rule all:
    output: "out.txt"
    run:
        with open(output[0], "w") as f:
            f.write(" ".join([config["greeting"]] * config["repeats"]) + " " + config["name"] + "\\n")
"""


def _snakemake_workdir(root: Path, config: str) -> Path:
    root.mkdir()
    (root / "Snakefile").write_text(SNAKEFILE)
    (root / "schema.yaml").write_text(SCHEMA)
    (root / "config.yaml").write_text(config)
    return root


@pytest.mark.env
def test_snakemake_validate_applies_draft_2020_12_defaults(tmp_path, offline_env):
    work = _snakemake_workdir(tmp_path / "wf", "name: world\nrepeats: 3\n")
    proc = run([tool("snakemake"), "--cores", "1", "--snakefile", "Snakefile"], work, offline_env)
    assert proc.returncode == 0, describe(proc)
    # greeting came from the schema default, repeats from the config
    assert (work / "out.txt").read_text() == "hello hello hello world\n"


@pytest.mark.env
def test_snakemake_validate_rejects_invalid_config(tmp_path, offline_env):
    # repeats violates the $ref'd $defs minimum: only a working referencing/jsonschema stack sees it
    work = _snakemake_workdir(tmp_path / "wf", "name: world\nrepeats: 0\n")
    proc = run([tool("snakemake"), "--cores", "1", "--snakefile", "Snakefile"], work, offline_env)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, describe(proc)
    assert "ValidationError" in out and "less than the minimum of 1" in out, describe(proc)
    assert not (work / "out.txt").exists()


# --------------------------------------------------------------------------- kipoi

MODEL_YAML = """\
defined_as: toy_model.ToyLinearModel
args:
  bias: 0.5
default_dataloader: .
info:
  authors:
    - name: hyenadna-kipoi tests
  doc: Toy linear model checking that the kipoi CLI works in this venv.
dependencies:
  pip:
    - numpy
schema:
  inputs:
    name: x
    shape: (3,)
    doc: three features
  targets:
    name: y
    shape: (2,)
    doc: weighted sum plus bias, and the plain row sum
test:
  expect: expect.h5
  precision_decimal: 5
"""

MODEL_PY = """\
import numpy as np
from kipoi.model import BaseModel

WEIGHTS = np.array([1.0, 2.0, 3.0], dtype=np.float32)


class ToyLinearModel(BaseModel):
    def __init__(self, bias=0.0):
        self.bias = np.float32(bias)

    def predict_on_batch(self, x):
        x = np.asarray(x, dtype=np.float32)
        return np.stack([x @ WEIGHTS + self.bias, x.sum(axis=1)], axis=1)
"""

DATALOADER_YAML = """\
defined_as: toy_dataloader.ToyDataset
args:
  features_file:
    doc: TSV with an id column and the feature columns a, b, c
    type: str
    example: example_files/features.tsv
info:
  authors:
    - name: hyenadna-kipoi tests
  doc: Reads rows of three numbers.
dependencies:
  pip:
    - numpy
    - pandas
output_schema:
  inputs:
    name: x
    shape: (3,)
    doc: three features
  metadata:
    id:
      type: str
      doc: row identifier
"""

DATALOADER_PY = """\
import numpy as np
import pandas as pd
from kipoi.data import Dataset


class ToyDataset(Dataset):
    def __init__(self, features_file):
        self.df = pd.read_csv(features_file, sep="\\t")

    def __len__(self):
        return len(self.df)

    def __getitem__(self, idx):
        row = self.df.iloc[idx]
        return {"inputs": np.array([row["a"], row["b"], row["c"]], dtype=np.float32),
                "metadata": {"id": str(row["id"])}}
"""

FEATURES = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 1], [-2, 0.5, 4], [0.25, -1, 2]], dtype=np.float32)
IDS = [f"r{i}" for i in range(len(FEATURES))]


def expected_predictions(x: np.ndarray) -> np.ndarray:
    return np.stack([x @ np.array([1.0, 2.0, 3.0], dtype=np.float32) + 0.5, x.sum(axis=1)], axis=1)


@pytest.fixture
def kipoi_model_dir(tmp_path: Path) -> Path:
    import h5py

    model = tmp_path / "ToyModel"
    (model / "example_files").mkdir(parents=True)
    (model / "model.yaml").write_text(MODEL_YAML)
    (model / "toy_model.py").write_text(MODEL_PY)
    (model / "dataloader.yaml").write_text(DATALOADER_YAML)
    (model / "toy_dataloader.py").write_text(DATALOADER_PY)
    lines = ["id\ta\tb\tc"] + ["\t".join([i, *map(str, row)]) for i, row in zip(IDS, FEATURES.tolist())]
    (model / "example_files" / "features.tsv").write_text("\n".join(lines) + "\n")
    # test.expect: inputs + preds, read back by kipoi's HDF5Reader during `kipoi test`
    with h5py.File(model / "expect.h5", "w") as f:
        f["inputs"] = FEATURES
        f["preds"] = expected_predictions(FEATURES)
    return model


@pytest.mark.env
def test_kipoi_test_cli_runs_offline(kipoi_model_dir, offline_env, tmp_path):
    # run from the model folder, as `kipoi test .`: kipoi 0.8.6 opens a relative test.expect
    # path relative to the working directory, not to model.yaml
    proc = run([tool("kipoi"), "test", ".", "--source", "dir"], kipoi_model_dir, offline_env)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, describe(proc)
    assert "All predictions match" in out, describe(proc)
    assert "Successfully ran test_predict" in out, describe(proc)

    # the expect check is real: a wrong expectation fails
    import h5py

    wrong = tmp_path / "wrong.h5"
    with h5py.File(wrong, "w") as f:
        f["inputs"] = FEATURES
        f["preds"] = expected_predictions(FEATURES) + 1.0
    proc = run([tool("kipoi"), "test", ".", "--source", "dir", "--expect", str(wrong)], kipoi_model_dir, offline_env)
    assert proc.returncode != 0, describe(proc)
    assert "don't match the expected predictions" in proc.stdout + proc.stderr, describe(proc)


@pytest.mark.env
def test_kipoi_predict_writes_tsv_and_hdf5(kipoi_model_dir, offline_env, tmp_path):
    import h5py
    import pandas as pd

    out_tsv, out_h5 = tmp_path / "out" / "preds.tsv", tmp_path / "out" / "preds.h5"
    out_tsv.parent.mkdir()
    features = kipoi_model_dir / "example_files" / "features.tsv"
    proc = run(
        [tool("kipoi"), "predict", str(kipoi_model_dir), "--source", "dir",
         "--dataloader_args", json.dumps({"features_file": str(features)}),
         "--keep_metadata", "--batch_size", "2",
         "-o", str(out_tsv), str(out_h5)],
        tmp_path, offline_env,
    )
    assert proc.returncode == 0, describe(proc)
    want = expected_predictions(FEATURES)

    tsv = pd.read_csv(out_tsv, sep="\t")
    assert list(tsv["metadata/id"]) == IDS
    np.testing.assert_allclose(tsv[["preds/0", "preds/1"]].to_numpy(), want, rtol=1e-6)

    with h5py.File(out_h5, "r") as f:
        np.testing.assert_allclose(f["preds"][()], want, rtol=1e-6)
        ids = [v.decode() if isinstance(v, bytes) else str(v) for v in f["metadata/id"][()]]
    assert ids == IDS


KIPOISEQ_SCRIPT = """
import sys, numpy as np, kipoiseq, pyranges, gffutils  # the imports of kipoiseq.dataloaders, on NumPy 1 / pandas 3
from kipoiseq.dataloaders import SeqIntervalDl
dl = SeqIntervalDl(sys.argv[1], sys.argv[2], auto_resize_len=8, ignore_targets=True)
x = dl[0]
want = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0.25] * 4, [0, 0, 0, 1]] * 2)  # ACNTACGT; N: the neutral value
want[6] = [0, 0, 1, 0]
assert x["inputs"].shape == (8, 4) and np.array_equal(x["inputs"], want), x["inputs"]
print(kipoiseq.__version__)
"""


@pytest.mark.env
def test_kipoiseq_runs_offline_at_its_pinned_version(tmp_path, offline_env):
    """kipoiseq (installed --no-deps like kipoi) imports its whole dataloader stack and reads a BED + FASTA."""
    pin = next(line.split("==")[1].strip() for line in (REPO / "requirements-kipoi.txt").read_text().splitlines()
               if line.startswith("kipoiseq=="))
    (tmp_path / "ref.fa").write_text(">chr1\nACNTACGTACGTACGT\n")
    (tmp_path / "x.bed").write_text("chr1\t2\t6\n")  # centre 4: resized to 8 bases, 0..8
    proc = run([sys.executable, "-c", KIPOISEQ_SCRIPT, "x.bed", "ref.fa"], tmp_path, offline_env)
    assert proc.returncode == 0, describe(proc)
    assert proc.stdout.strip().splitlines()[-1] == pin


# --------------------------------------------------------------------------- binaries and libraries


@pytest.mark.env
def test_bedtools_binary_and_pybedtools(tmp_path):
    exe = shutil.which("bedtools")
    assert exe, "bedtools is not on PATH; `make install` installs it with apt-get"
    proc = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0 and proc.stdout.startswith("bedtools"), describe(proc)

    import pybedtools

    pybedtools.set_tempdir(str(tmp_path))
    a = pybedtools.BedTool("chr1\t0\t100\nchr1\t200\t300\n", from_string=True)
    b = pybedtools.BedTool("chr1\t50\t250\n", from_string=True)
    assert [(i.start, i.end) for i in a.intersect(b)] == [(50, 100), (200, 250)]


@pytest.mark.env
def test_compiled_libraries_work_with_the_pinned_numpy(tmp_path):
    """Every binary wheel must run on the pinned NumPy (e.g. pyarrow 26 refuses NumPy 1.x at import)."""
    import matplotlib

    matplotlib.use("Agg")
    import cyvcf2
    import h5py
    import matplotlib.pyplot as plt
    import pandas as pd
    import pysam
    import torch
    from pyfaidx import Fasta
    from safetensors.torch import load_file, save_file
    from sklearn.linear_model import LogisticRegression

    fa = tmp_path / "ref.fa"
    fa.write_text(">chr1\nACGTNNACGT\n")
    assert str(Fasta(str(fa))["chr1"][2:6]) == "GTNN"
    assert pysam.FastaFile(str(fa)).fetch("chr1", 2, 6) == "GTNN"

    vcf = tmp_path / "x.vcf"
    vcf.write_text(
        "##fileformat=VCFv4.2\n##contig=<ID=chr1,length=10>\n"
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
        "chr1\t3\tv1\tG\tA\t.\tPASS\t.\n"
    )
    assert [(v.CHROM, v.POS, v.REF, v.ALT) for v in cyvcf2.VCF(str(vcf))] == [("chr1", 3, "G", ["A"])]

    table = pd.DataFrame({"name": ["a", "b"], "emb_0": np.array([0.5, -1.0], dtype=np.float32)})
    table.to_parquet(tmp_path / "t.parquet", index=False)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "t.parquet"), table)

    with h5py.File(tmp_path / "t.h5", "w") as f:
        f["x"] = np.arange(6.0).reshape(2, 3)
    with h5py.File(tmp_path / "t.h5", "r") as f:
        np.testing.assert_array_equal(f["x"][()], np.arange(6.0).reshape(2, 3))

    save_file({"w": torch.from_numpy(np.arange(4, dtype=np.float32))}, str(tmp_path / "m.safetensors"))
    assert load_file(str(tmp_path / "m.safetensors"))["w"].numpy().tolist() == [0.0, 1.0, 2.0, 3.0]

    x = np.array([[0.0], [1.0], [2.0], [3.0]])
    assert LogisticRegression().fit(x, [0, 0, 1, 1]).predict([[3.0]]).tolist() == [1]

    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    fig.savefig(tmp_path / "f.png")
    plt.close(fig)
    assert (tmp_path / "f.png").stat().st_size > 0


TRITON_SCRIPT = """\
import torch, triton, triton.language as tl

@triton.jit
def axpy(x_ptr, y_ptr, out_ptr, n, alpha, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < n
    x = tl.load(x_ptr + offs, mask=mask)
    y = tl.load(y_ptr + offs, mask=mask)
    tl.store(out_ptr + offs, alpha * x + y, mask=mask)

x, y = torch.randn(300), torch.randn(300)
out = torch.empty_like(x)
axpy[(triton.cdiv(300, 128),)](x, y, out, 300, 2.0, BLOCK=128)
assert torch.allclose(out, 2.0 * x + y), (out - (2.0 * x + y)).abs().max()
print("triton", triton.__version__, "interpreter ok")
"""


@pytest.mark.env
def test_triton_interpreter_runs_on_cpu_tensors(tmp_path, offline_env):
    script = tmp_path / "triton_cpu.py"
    script.write_text(TRITON_SCRIPT)
    env = dict(offline_env, TRITON_INTERPRET="1")
    proc = run([sys.executable, str(script)], tmp_path, env)
    assert proc.returncode == 0 and "interpreter ok" in proc.stdout, describe(proc)


# --------------------------------------------------------------------------- this package


def test_setuptools_finds_every_package_no_hand_kept_list():
    """The kernels are a subpackage like any other; what the wheel carries: tests/test_wheel.py."""
    from setuptools import find_namespace_packages

    import hyenadna_kipoi.kernels as kernels

    assert Path(kernels.__file__).resolve().parent == REPO / "hyenadna_kipoi" / "kernels"
    setuptools_config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert setuptools_config["packages"] == {"find": {"include": ["hyenadna_kipoi*"]}}
    assert "package-dir" not in setuptools_config
    found = set(find_namespace_packages(REPO, include=["hyenadna_kipoi*"]))
    on_disk = {".".join(init.parent.relative_to(REPO).parts) for init in (REPO / "hyenadna_kipoi").rglob("__init__.py")}
    assert on_disk <= found and "hyenadna_kipoi.kernels" in found
