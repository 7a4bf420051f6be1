"""The Snakemake workflow: dry runs of every shipped config, the SLURM profile, a real run of the
`.test/` config (every final output checked, the report, config-driven reruns), misconfiguration
errors, and a small target through a real single-node SLURM started by the test."""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from conftest import REPO

BIN = Path(sys.executable).parent
SNAKEMAKE = BIN / "snakemake"
COPIED = ("Snakefile", "workflow", "config", "data", ".test", "profiles")
PNG = b"\x89PNG\r\n\x1a\n"


def _workflow_copy(tmp_path: Path) -> Path:
    """The workflow's files in tmp_path, so runs never touch the checkout's results/."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    for name in COPIED:
        src = REPO / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / name)
    os.symlink("profiles/slurm", tmp_path / "slurm")
    return tmp_path


def _no_controller_bin() -> Path:
    """A folder with an `scontrol` that fails at once. The slurm executor plugin runs `scontrol show config`
    when snakemake starts (any executor); where slurm-client is installed but no controller runs, that
    call waits ~10 s (configless DNS lookup, retries) on every snakemake start."""
    folder = Path(tempfile.gettempdir()) / f"hyenadna-no-slurmctld-{os.getuid()}"
    stub = folder / "scontrol"
    if not stub.exists():
        folder.mkdir(exist_ok=True)
        stub.write_text("#!/bin/sh\necho 'scontrol: no controller in this test' >&2\nexit 1\n")
        stub.chmod(0o755)
    return folder


def _env(real_slurm: bool = False, **extra: str) -> dict[str, str]:
    path = [str(BIN)] + ([] if real_slurm else [str(_no_controller_bin())]) + [os.environ["PATH"]]
    return dict(os.environ, PATH=os.pathsep.join(path), **extra)


def _run(workdir: Path, *args: str, cores: bool = True, timeout: int = 600, env: dict | None = None
         ) -> subprocess.CompletedProcess:
    cmd = [str(SNAKEMAKE), *(["--cores", "2"] if cores else []), *args]
    return subprocess.run(cmd, cwd=workdir, env=env or _env(), capture_output=True, text=True, timeout=timeout)


def _planned(result: subprocess.CompletedProcess) -> dict[str, int]:
    """rule -> job count from a dry run's 'Job stats' table."""
    text = result.stdout + result.stderr
    stats = text[text.index("Job stats:"):]
    jobs = {}
    for line in stats.splitlines()[3:]:
        parts = line.split()
        if len(parts) != 2 or parts[0] == "total":
            break
        jobs[parts[0]] = int(parts[1])
    return jobs


def _jobs(result: subprocess.CompletedProcess) -> dict[str, str]:
    """'rule wildcards' (e.g. 'finetune task=peaks') -> that job's text, from a dry run's job listing."""
    jobs = {}
    for block in re.split(r"\n(?=(?:local)?rule )", result.stdout + result.stderr):
        match = re.match(r"(?:local)?rule (\w+):", block)
        if match:
            wildcards = re.search(r"\n\s+wildcards: (.*)", block)
            jobs[f"{match.group(1)} {wildcards.group(1)}" if wildcards else match.group(1)] = block
    return jobs


def _edit(path: Path, edit) -> None:
    config = yaml.safe_load(path.read_text())
    edit(config)
    path.write_text(yaml.safe_dump(config, sort_keys=False))


# --------------------------------------------------------------------------- dry runs


@pytest.mark.parametrize("configfile", ["config/config.yaml", "config/hg38.yaml", ".test/config.yaml"])
def test_dry_run_plans_every_stage(tmp_path, configfile):
    workdir = _workflow_copy(tmp_path)
    result = _run(workdir, "all", "-n", "--configfile", configfile)
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = _planned(result)
    for rule in ("download_reference", "index_reference", "gaps", "intervals", "pretrain", "pretrain_config",
                 "stage_config", "finetune", "icl", "check_vcf", "score_variants", "plot_vep",
                 "embed", "plot_embeddings", "export_kipoi", "plot_finetune", "all"):
        assert jobs.get(rule, 0) >= 1, (rule, jobs)
    config = yaml.safe_load((workdir / configfile).read_text())
    assert jobs["stage_config"] == len(config["finetune"]) + len(config["icl"])
    assert jobs["finetune"] + jobs.get("finetune_without_figures", 0) == len(config["finetune"])
    assert jobs["icl"] == len(config["icl"])
    assert jobs["check_vcf"] == jobs["score_variants"] == len(config["variants"])
    exports = config["kipoi"]["export"]
    assert jobs["export_kipoi"] == (1 + len(config["finetune"]) if exports == "all" else len(exports))
    if configfile == "config/hg38.yaml":
        assert jobs["download_regions"] == 1


def test_optional_blocks_may_be_left_out(tmp_path):
    """A config without embeddings (or a regions BED) plans the rest: no embedding jobs, no crash in the
    schema's default filling (a null default on an object block made Snakemake's validate fail)."""
    workdir = _workflow_copy(tmp_path)
    _edit(workdir / "config/config.yaml", lambda c: c.pop("embeddings"))
    result = _run(workdir, "all", "-n")
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = _planned(result)
    assert "embed" not in jobs and "plot_embeddings" not in jobs and jobs["finetune"] >= 1


def test_slurm_profile_requests_gpus_for_training(tmp_path):
    pytest.importorskip("snakemake_executor_plugin_slurm", reason="snakemake-executor-plugin-slurm not installed")
    workdir = _workflow_copy(tmp_path)
    result = _run(workdir, "--profile", "slurm", "all", "-n", "--configfile", "config/hg38.yaml", cores=False)
    assert result.returncode == 0, result.stderr[-3000:]
    resources = {job: re.search(r"resources: (.*)", text).group(1) for job, text in _jobs(result).items()}
    assert "gpu=8" in resources["pretrain"] and "runtime=2880" in resources["pretrain"]
    for job in ("finetune task=peaks", "finetune task=species", "finetune task=peaks_soft_prompt", "icl task=peaks_icl"):
        assert "gpu=1" in resources[job], (job, resources[job])
    assert "gpu=" not in resources["gaps"]
    assert "squeue" in (REPO / "profiles" / "slurm" / "config.v8+.yaml").read_text()


# --------------------------------------------------------------------------- the .test config, really run


def _check_outputs(workdir: Path, config: dict) -> None:
    res = workdir / "results"
    summary = json.loads((res / "pretrain" / "summary.json").read_text())
    assert summary["steps"] == config["pretrain"]["config"]["train"]["max_steps"]
    assert 0.5 < summary["val_bits_per_base"] < 4.0
    assert set(summary["markov_bits_per_base"]) == {"0", "1", "2"}
    assert (res / "pretrain" / "loss.png").read_bytes()[:8] == PNG
    assert (res / "pretrain" / "model" / "model.safetensors").stat().st_size > 0
    assert (res / "reference" / "c_elegans.fa.fai").exists()

    for name, block in config["finetune"].items():
        out = res / "finetune" / name
        metrics = json.loads((out / "metrics.json").read_text())
        assert metrics["task"] == name
        for method in (metrics["model"]["test"], metrics["baseline"]["test"]):
            assert 0.0 <= method["accuracy"] <= 1.0 and -1.0 <= method["mcc"] <= 1.0
        predictions = (out / "predictions.tsv").read_text().splitlines()
        assert len(predictions) - 1 == metrics["n"]["test"]
        assert (out / "confusion.png").read_bytes()[:8] == PNG and (out / "roc.png").read_bytes()[:8] == PNG
        assert json.loads((out / "model" / "head.json").read_text())["labels"] == metrics["labels"]
    icl = json.loads((res / "icl" / "peaks_icl" / "icl_metrics.json").read_text())
    assert all(0.0 <= r["accuracy"] <= 1.0 for r in icl["results"])
    table = (res / "finetune" / "summary.tsv").read_text().splitlines()
    assert table[0] == "task\tmethod\tmetric\tvalue"
    assert {line.split("\t")[1] for line in table[1:]} >= {"hyenadna", "kmer_baseline", "icl_pretrained_1shot"}

    rows = [line.split("\t") for line in (res / "variants" / "vcf42_example.tsv").read_text().splitlines()]
    assert rows[0][:9] == ["#CHROM", "POS", "ID", "REF", "ALT", "llr", "llr_fwd", "llr_rc", "status"]
    assert len(rows) - 1 == 12  # every (record, ALT allele) of the VCF
    scored = [float(r[5]) for r in rows[1:] if r[5] != "NA"]
    assert scored and all(abs(x) < 100 for x in scored)
    with gzip.open(res / "variants" / "vcf42_example.vcf.gz", "rt") as handle:
        assert "HYENADNA_LLR" in handle.read()
    for png in ("vep.png", "embeddings.png", "finetune.png"):
        assert (res / "plots" / png).read_bytes()[:8] == PNG
    for label in config["embeddings"]["sets"]:
        import numpy as np

        with np.load(res / "embeddings" / f"{label}.npz") as emb:
            assert emb["embeddings"].shape == (100, config["pretrain"]["config"]["model"]["d_model"])
    for name in config["kipoi"]["export"]:
        model_yaml = yaml.safe_load((res / "kipoi" / name / "model.yaml").read_text())
        assert "schema" in model_yaml
    assert (workdir / "logs" / "pretrain" / "pretrain.log").stat().st_size > 0


@pytest.mark.slow
def test_test_config_runs_end_to_end_with_report_and_config_driven_reruns(tmp_path):
    workdir = _workflow_copy(tmp_path)
    configfile = workdir / ".test" / "config.yaml"
    args = ("all", "--configfile", ".test/config.yaml")
    result = _run(workdir, *args)
    assert result.returncode == 0, result.stderr[-4000:]
    config = yaml.safe_load(configfile.read_text())
    _check_outputs(workdir, config)

    report = workdir / "results" / "report.html"
    result = _run(workdir, *args, "--report", str(report))
    assert result.returncode == 0, result.stderr[-3000:]
    html = report.read_text(errors="replace")
    for plot in ("loss.png", "confusion.png", "roc.png", "vep.png", "embeddings.png", "finetune.png", "summary.tsv"):
        assert plot in html, plot
    assert "Markov" in html  # the pretraining caption

    again = _run(workdir, *args, "-n")
    assert "Nothing to be done" in again.stdout + again.stderr

    # one fine-tuning parameter changed: that task, its export and the summary rerun; nothing upstream
    _edit(configfile, lambda c: c["finetune"]["peaks"]["train"].update(lr=1.0e-3))
    plan = _run(workdir, *args, "-n")
    assert set(_jobs(plan)) == {"stage_config section=finetune, name=peaks", "finetune task=peaks",
                                "export_kipoi model=peaks", "plot_finetune", "all"}, set(_jobs(plan))

    # a pretraining parameter changed: pretraining and everything reading the pretrained model, not the reference
    _edit(configfile, lambda c: c["pretrain"]["config"]["train"].update(max_steps=7))
    plan = set(_jobs(_run(workdir, *args, "-n")))
    assert {"pretrain", "finetune task=peaks", "icl task=peaks_icl", "score_variants vcf=vcf42_example"} <= plan
    assert {"embed label=peak_set_a", "embed label=peak_set_b"} <= plan
    assert not {"download_reference", "index_reference", "gaps", "finetune task=species"} & plan, plan


# --------------------------------------------------------------------------- misconfiguration


def _error_run(workdir: Path, edit, *targets: str) -> str:
    _edit(workdir / ".test" / "config.yaml", edit)
    result = _run(workdir, *(targets or ("all", "-n")), "--configfile", ".test/config.yaml")
    assert result.returncode != 0
    return result.stdout + result.stderr


def test_unknown_config_key_is_named(tmp_path):
    workdir = _workflow_copy(tmp_path)
    out = _error_run(workdir, lambda c: c.update(pretrian={"enabled": True}))
    # the message format of every config (config_schema): file, key, reason, and no config dump
    assert "config.yaml: unknown config key pretrian; allowed keys:" in out and "'device': 'cpu'" not in out
    out = _error_run(_workflow_copy(tmp_path / "2"), lambda c: c["finetune"]["peaks"]["train"].update(learning_rate=0.1))
    assert "finetune.peaks" in out and "learning_rate" in out


def test_missing_input_file_is_named_with_its_key(tmp_path):
    workdir = _workflow_copy(tmp_path)
    out = _error_run(workdir, lambda c: c["variants"]["vcf42_example"].update(vcf="data/vcf/absent.vcf"))
    assert "variants.vcf42_example.vcf: data/vcf/absent.vcf: no such file" in out
    out = _error_run(_workflow_copy(tmp_path / "2"), lambda c: c["finetune"]["peaks"]["task"]["input"]["train"].update(set_a="nope.fa"))
    assert "finetune.peaks.task.input.train.set_a: nope.fa: no such file" in out


def test_misspelled_model_and_missing_reference_source_are_named(tmp_path):
    out = _error_run(_workflow_copy(tmp_path), lambda c: c["variants"]["vcf42_example"].update(model="pretrianed"))
    assert "variants.vcf42_example.model: 'pretrianed' is neither 'pretrained', a preset" in out
    out = _error_run(_workflow_copy(tmp_path / "2"), lambda c: c["reference"].update(url=None, fasta=None))
    assert "reference needs a url (to download) or a fasta" in out


def test_bad_url_is_rejected_by_the_schema(tmp_path):
    workdir = _workflow_copy(tmp_path)
    out = _error_run(workdir, lambda c: c["reference"].update(url="htp:/example.org/genome.fa.gz"))
    assert "htp:/example.org/genome.fa.gz" in out and "url" in out


@pytest.mark.slow
def test_unreachable_url_and_checksum_mismatch_stop_without_outputs(tmp_path):
    workdir = _workflow_copy(tmp_path)
    target = "results/reference/c_elegans.fa.gz"
    out = _error_run(workdir, lambda c: c["reference"].update(url="file:data/genomes/absent.fa.gz"), target)
    assert "absent.fa.gz" in out
    assert not (workdir / target).exists()
    workdir = _workflow_copy(tmp_path / "2")
    out = _error_run(workdir, lambda c: c["reference"].update(url="file:data/genomes/c_elegans_ce_test.fa.gz",
                                                             sha256="0" * 64), target)
    assert "sha256" in out.lower() and "c_elegans" in out
    assert not list((workdir / "results" / "reference").glob("c_elegans*"))


@pytest.mark.slow
def test_vcf_on_contigs_absent_from_the_genome_stops_scoring(tmp_path):
    workdir = _workflow_copy(tmp_path)

    def edit(c):
        c["variants"]["vcf42_example"].update(fasta="data/mito/human_hg38_chrM.fa")  # model: pretrained

    out = _error_run(workdir, edit, "results/variants/vcf42_example.tsv")
    assert "variants.vcf42_example.vcf" in out and "chr2" in out and "human_hg38_chrM.fa" in out
    assert not (workdir / "results" / "variants" / "vcf42_example.tsv").exists()
    assert not (workdir / "results" / "pretrain" / "model").exists()  # stopped before pretraining


# --------------------------------------------------------------------------- a real single-node SLURM


def _start_slurm(root: Path) -> dict[str, str]:
    """munged, slurmctld and slurmd for one node named after `hostname -s`; returns the env for clients."""
    if os.geteuid() != 0:
        pytest.skip("a test SLURM needs root (munged, slurmd)")
    for tool in ("munged", "slurmctld", "slurmd", "sbatch", "squeue"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            pytest.skip(f"{tool} not installed (make test installs slurmctld slurmd slurm-client munge with apt)")
    host = socket.gethostname().split(".")[0]
    cpus = os.cpu_count() or 1
    mem = int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20 * 0.9)
    for sub in ("state", "spool", "munge", "log"):
        (root / sub).mkdir(parents=True)
    key = root / "munge" / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    # the default socket: configless slurmd authenticates before it has read any AuthInfo
    socket_path = Path("/run/munge/munge.socket.2")
    socket_path.parent.mkdir(parents=True, exist_ok=True)
    conf = root / "slurm.conf"
    conf.write_text(f"""ClusterName=hyenadnatest
SlurmctldHost={host}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd.log
SlurmctldPort=16817
SlurmdPort=16818
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MinJobAge=600
ReturnToService=2
SchedulerParameters=sched_interval=1
SlurmctldParameters=enable_configless
NodeName={host} CPUs={cpus} RealMemory={mem} State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP
""")
    env = _env(real_slurm=True, SLURM_CONF=str(conf))
    sbin = lambda tool: shutil.which(tool) or f"/usr/sbin/{tool}"  # noqa: E731
    started = [
        [sbin("munged"), "--force", f"--key-file={key}", f"--socket={socket_path}",
         f"--pid-file={root}/munge/munged.pid", f"--log-file={root}/log/munged.log",
         f"--seed-file={root}/munge/seed"],
        [sbin("slurmctld"), "-f", str(conf)],
        # configless: slurmd fetches the config from slurmctld and hands it to job steps (srun in a job
        # finds no SLURM_CONF otherwise)
        [sbin("slurmd"), "--conf-server", f"{host}:16817", "-d", sbin("slurmstepd")],
    ]
    for cmd in started:
        result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=30)
        if result.returncode != 0:
            logs = "".join(p.read_text()[-500:] for p in (root / "log").glob("*.log"))
            pytest.skip(f"{Path(cmd[0]).name} did not start: {result.stderr.strip()} {logs}")
    for _ in range(30):
        info = subprocess.run(["sinfo", "-h", "-o", "%T"], env=env, capture_output=True, text=True)
        if info.returncode == 0 and info.stdout.strip() in ("idle", "mixed"):
            return env
        time.sleep(1)
    logs = "".join(p.read_text()[-800:] for p in (root / "log").glob("*.log"))
    pytest.skip(f"the test SLURM node did not become idle: {info.stdout} {info.stderr} {logs}")


def _stop_slurm(root: Path) -> None:
    for pidfile in ("slurmd.pid", "slurmctld.pid", "munge/munged.pid"):
        path = root / pidfile
        if path.exists():
            try:
                os.kill(int(path.read_text().split()[0]), 15)
            except (ProcessLookupError, ValueError):
                pass


@pytest.fixture
def slurm_cluster(tmp_path_factory):
    # a short path: the munge socket path must fit in a sockaddr_un
    root = Path(tmp_path_factory.mktemp("slurm"))
    try:
        yield _start_slurm(root)
    finally:
        _stop_slurm(root)


@pytest.mark.slow
@pytest.mark.slurm
def test_small_target_runs_through_the_slurm_profile(tmp_path, slurm_cluster):
    pytest.importorskip("snakemake_executor_plugin_slurm", reason="snakemake-executor-plugin-slurm not installed")
    workdir = _workflow_copy(tmp_path)
    target = "results/reference/c_elegans.excluded.bed"
    # the profile as shipped, polled sooner than a real cluster needs (the default first check is at 40 s)
    result = _run(workdir, "--profile", "slurm", target, "--configfile", ".test/config.yaml",
                  "--slurm-init-seconds-before-status-checks", "5", "--latency-wait", "5",
                  cores=False, env=slurm_cluster, timeout=900)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    submitted = re.findall(r"Job \d+ has been submitted with SLURM jobid (\d+)", output)
    assert len(submitted) == 3, output[-3000:]  # download, index, gaps: each a SLURM job
    gaps = (workdir / target).read_text().splitlines()
    assert all(len(line.split("\t")) == 3 for line in gaps)
    assert (workdir / "results" / "reference" / "c_elegans.fa.fai").exists()


# --------------------------------------------------------------------------- the workflow's helpers


def test_relative_file_urls_resolve_against_the_working_directory(tmp_path, monkeypatch):
    from hyenadna_kipoi.workflow.reference import resolve_url

    monkeypatch.chdir(tmp_path)
    assert resolve_url("file:data/x.fa.gz") == (tmp_path / "data" / "x.fa.gz").as_uri()
    assert resolve_url("file:///abs/x.fa") == "file:///abs/x.fa"
    assert resolve_url("https://host/x.fa.gz") == "https://host/x.fa.gz"


def test_check_vcf_names_absent_contigs_and_allows_partial_overlap_on_request(tmp_path):
    from hyenadna_kipoi.errors import InputError
    from hyenadna_kipoi.workflow.checks import check_vcf

    fasta = tmp_path / "g.fa"
    fasta.write_text(">chr1\n" + "ACGT" * 50 + "\n")
    vcf = tmp_path / "v.vcf"
    vcf.write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
                   "1\t5\t.\tA\tC\t.\t.\t.\nchrUn\t7\t.\tA\tG\t.\t.\t.\nchrUn\t9\t.\tA\tG\t.\t.\t.\n")
    with pytest.raises(InputError, match=r"variants.x.vcf: .*v.vcf: 2 record\(s\) on contig\(s\) not in .*g.fa: chrUn"):
        check_vcf(vcf, fasta, key="variants.x.vcf")
    assert check_vcf(vcf, fasta, allow_missing=True) == {"1": 1, "chrUn": 2}  # `1` resolves to chr1
    only_absent = tmp_path / "w.vcf"
    only_absent.write_text("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\nchrZ\t1\t.\tA\tC\t.\t.\t.\n")
    with pytest.raises(InputError, match="chrZ"):
        check_vcf(only_absent, fasta, allow_missing=True)
    truncated = tmp_path / "t.vcf"  # read by score-variants' reader: a malformed record is named by its line
    truncated.write_text("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\nchr1\t1\t.\tA\n")
    with pytest.raises(InputError, match=r"t.vcf, line 2: malformed VCF record"):
        check_vcf(truncated, fasta)


def test_finetune_table_reads_finetune_and_icl_metrics(tmp_path):
    from hyenadna_kipoi.workflow.plots import finetune_table

    ft = tmp_path / "metrics.json"
    ft.write_text(json.dumps({"kind": "classification", "model": {"test": {"accuracy": 0.7, "mcc": 0.4, "auroc": 0.8}},
                              "baseline": {"test": {"accuracy": 0.6, "mcc": 0.2, "auroc": 0.7}}}))
    icl = tmp_path / "icl.json"
    icl.write_text(json.dumps({"results": [{"model": "pretrained", "shots": 4, "accuracy": 0.5, "mcc": 0.0}]}))
    rows = finetune_table([("peaks", str(ft)), ("peaks_icl", str(icl))])
    values = {(r["task"], r["method"], r["metric"]): r["value"] for r in rows}
    assert values[("peaks", "hyenadna", "mcc")] == 0.4 and values[("peaks", "kmer_baseline", "auroc")] == 0.7
    assert values[("peaks_icl", "icl_pretrained_4shot", "accuracy")] == 0.5
    assert len(rows) == 8


def test_stage_config_step_writes_the_stage_config_from_json_settings(tmp_path, capsys):
    from hyenadna_kipoi.cli import main

    block = {"task": {"name": "t", "kind": "classification"}, "model": {"init": "pretrained", "pooling": "mean"}}
    out = tmp_path / "configs" / "t.yaml"
    assert main(["workflow", "stage-config", "finetune", "--settings", json.dumps(block), "--out", str(out),
                 "--out-dir", "results/finetune/t"]) == 0
    stage = yaml.safe_load(out.read_text())
    assert stage == {"task": block["task"], "model": {"init": "results/pretrain/model", "pooling": "mean"},
                     "out_dir": "results/finetune/t"}

    reference = {"name": "g", "dir": "results/reference", "url": "file:g.fa.gz", "sha256": "ab" * 32, "md5": None,
                 "regions": {"path": "data/r.bed", "url": None}}
    main(["workflow", "stage-config", "pretrain", "--settings", json.dumps({"seed": 1, "intervals": {"window": 64}}),
          "--reference", json.dumps(reference), "--out", str(out), "--out-dir", "results/pretrain"])
    stage = yaml.safe_load(out.read_text())
    assert stage["genome"] == {"fasta": "results/reference/g.fa.gz", "prepared": "results/reference/g.fa",
                               "sha256": "ab" * 32}
    assert stage["intervals"] == {"window": 64, "regions": {"path": "data/r.bed"}, "exclude_gaps": False,
                                  "blacklist": "results/reference/g.excluded.bed", "out": "results/pretrain/intervals"}
    assert main(["workflow", "stage-config", "icl", "--settings", "{task: 1}", "--out", str(out)]) != 0
    assert "--settings: not valid JSON" in capsys.readouterr().err
    assert main(["workflow", "stage-config", "pretrain", "--settings", "{}", "--out", str(out)]) != 0
    assert "needs the workflow's reference block" in capsys.readouterr().err
    assert yaml.safe_load(out.read_text())["out_dir"] == "results/pretrain"  # a failed step leaves the file as it was


def test_embedding_map_projects_on_the_principal_axes_and_writes_a_png(tmp_path):
    import numpy as np

    from hyenadna_kipoi.score.embedding_map import pca_2d, plot_embedding_map

    x = np.full((40, 5), 3.0)
    x[:, 3] += np.tile([-20.0, -10.0, 10.0, 20.0], 10)  # variance 250, uncorrelated with axis 1 (variance 1)
    x[:, 1] += np.tile([1.0, -1.0, -1.0, 1.0], 10)
    coords, explained = pca_2d(x)
    assert coords.shape == (40, 2) and np.allclose(explained, [250 / 251, 1 / 251])
    assert np.allclose(np.abs(coords[:, 0]), np.abs(x[:, 3] - 3.0)) and np.allclose(np.abs(coords[:, 1]), 1.0)
    out = tmp_path / "map.png"
    labels = ["a"] * 20 + ["b"] * 20
    assert np.allclose(plot_embedding_map(x.astype(np.float32), labels, out), explained)
    assert out.read_bytes()[:8] == PNG
    with pytest.raises(ValueError, match="3 labels for 40 embeddings"):
        plot_embedding_map(x, ["a"] * 3, tmp_path / "bad.png")
