"""The Snakemake workflow runs on the embedded config and validates it against the schema."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import REPO

SNAKEMAKE = Path(sys.executable).with_name("snakemake")


def _workflow_copy(tmp_path: Path) -> Path:
    for name in ("Snakefile", "workflow", "config", "data"):
        src = REPO / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / name)
    return tmp_path


def _run(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PATH=f"{SNAKEMAKE.parent}{os.pathsep}{os.environ['PATH']}")
    return subprocess.run([str(SNAKEMAKE), "--cores", "2", *args], cwd=workdir, env=env, capture_output=True,
                          text=True, timeout=300)


def test_all_target_runs_the_demo(tmp_path):
    workdir = _workflow_copy(tmp_path)
    result = _run(workdir, "all")
    assert result.returncode == 0, result.stderr[-3000:]
    for name in ("summary.md", "embeddings.npz", "embeddings_pca.png", "loglik.tsv"):
        assert (workdir / "results" / "demo" / name).stat().st_size > 0
    assert (workdir / "logs" / "demo.log").exists()
    again = _run(workdir, "all", "--dry-run")
    assert "Nothing to be done" in again.stdout + again.stderr


def test_invalid_config_is_rejected_by_the_schema(tmp_path):
    workdir = _workflow_copy(tmp_path)
    config = yaml.safe_load((workdir / "config" / "config.yaml").read_text())
    config["demo"]["batch_size"] = 0
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    result = _run(workdir, "all", "--dry-run")
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "batch_size" in output and "minimum" in output
