"""What the workflow's rules read, write and ask for, from the (validated) workflow config.

The .smk files only choose inputs, params and resources; the loops and path logic behind those
choices live here (no torch import: the Snakefile imports this when it parses the workflow).
"""

from __future__ import annotations

import os
import re
import shlex
from typing import Any, Iterable

from .config import PRETRAINED, model_path, task_input_paths
from .derived import biotype_probe, class_vcf_jobs


def one_of(names: Iterable[str]) -> str:
    """A wildcard constraint matching exactly ``names`` (and nothing when there are none)."""
    names = list(names)
    return "|".join(re.escape(name) for name in names) if names else "(?!)"


def slurm_resources(block: dict[str, Any], nodes: int = 1) -> dict[str, Any]:
    """Snakemake resources from a config resources block (SLURM: --gpus, --cpus-per-task, --mem, --time,
    -p, -A). ``tasks_per_gpu=0``: one task per node, not the plugin's default of one per GPU. Over several
    nodes the GPUs are asked per node (``--gpus-per-node``) since torchrun starts ``gpu`` ranks on each."""
    out = dict(cpus_per_task=block["cpus"], mem_mb=block["mem_mb"], runtime=block["runtime"])
    if block["gpu"] and nodes > 1:
        out.update(nodes=nodes, slurm_extra=f"'--gpus-per-node={block['gpu']}'")
    elif block["gpu"]:
        out.update(gpu=block["gpu"], tasks_per_gpu=0)
    if block.get("partition"):
        out["slurm_partition"] = block["partition"]
    if block.get("account"):
        out["slurm_account"] = block["account"]
    return out


def pretrain_launcher(gpus: int, nodes: int) -> str:
    """The command that starts `hyenadna pretrain`: torchrun over SLURM nodes, torchrun on one node, or plain."""
    if nodes > 1:
        return (f"srun torchrun --nnodes {nodes} --nproc-per-node {gpus} --rdzv-backend c10d "
                "--rdzv-endpoint $(scontrol show hostnames $SLURM_JOB_NODELIST | head -n 1):29500 $(which hyenadna)")
    if gpus > 1:
        return f"torchrun --standalone --nproc-per-node {gpus} $(which hyenadna)"
    return "hyenadna"


def checksum_options(block: dict[str, Any]) -> str:
    """`--sha256 X --md5 Y` for the checksums a download block gives."""
    return " ".join(f"--{algo} {block[algo]}" for algo in ("sha256", "md5") if block.get(algo))


def task_inputs(block: dict[str, Any]) -> list[str]:
    """The data files a fine-tuning/ICL task reads (so that changing them reruns the task)."""
    files: list[str] = []
    for _key, value in task_input_paths(block["task"]["input"]):
        files += [str(v) for v in (value if isinstance(value, list) else [value])]
    return files


def model_input(ref: str | None) -> list[str]:
    """Input files of a model reference: the pretrained model's folder, a local folder, or nothing (a preset)."""
    if ref is None:
        return []
    if ref == PRETRAINED:
        return [model_path(ref)]
    return [ref] if os.path.exists(ref) else []


def task_model_input(block: dict[str, Any]) -> list[str]:
    """Input files of the model a fine-tuning/ICL task starts from (``model.init``)."""
    return model_input((block.get("model") or {}).get("init"))


def tasks_of_kind(tasks: dict[str, dict[str, Any]], classification: bool) -> list[str]:
    """Names of the classification tasks (``classification=True``) or of the other tasks."""
    return [name for name, block in tasks.items() if (block["task"]["kind"] == "classification") == classification]


def score_options(job: dict[str, Any]) -> str:
    """`hyenadna score-variants` options of a `variants` entry."""
    return " ".join(([f"--window {job['window']}"] if job["window"] else [])
                    + (["--embedding-distance"] if job["embedding_distance"] else []))


def scatter_key(name: str) -> str:
    """The Snakemake ``scattergather`` name of a `variants` entry (``--set-scatter KEY=N`` overrides its chunks):
    ``variants_`` + the name with ``_`` ``.`` ``-`` written ``__`` ``_d`` ``_h`` (one key per name)."""
    return "variants_" + name.replace("_", "__").replace(".", "_d").replace("-", "_h")


def variant_scatter(variants: dict[str, dict[str, Any]]) -> dict[str, int]:
    """``scattergather`` counts: :func:`scatter_key` -> ``chunks`` of each `variants` entry scored in several jobs."""
    return {scatter_key(name): job["chunks"] for name, job in variants.items() if job["chunks"] > 1}


def scattered_variants(variants: dict[str, dict[str, Any]], scattered: bool) -> list[str]:
    """Names of the `variants` entries scored in several jobs (``chunks`` > 1) or, with False, in one."""
    return [name for name, job in variants.items() if (job["chunks"] > 1) == scattered]


def variant_fasta(job: dict[str, Any], reference_paths: dict[str, str]) -> str:
    """The FASTA a `variants` entry is scored on (``fasta: reference``: the workflow's indexed genome)."""
    return reference_paths["prepared"] if job["fasta"] == "reference" else job["fasta"]


def variant_fai(job: dict[str, Any], reference_paths: dict[str, str]) -> list[str]:
    """The workflow's FASTA index when a `variants` entry reads the workflow's genome (built by a rule)."""
    return [reference_paths["fai"]] if job["fasta"] == "reference" else []


def labelled_paths(*patterns_and_names: Any) -> str:
    """`name=path name=path ...` (shell-quoted) for the plot commands: ``pattern, names[, pattern, names ...]``,
    each path the pattern with ``{name}`` filled in."""
    pairs = zip(patterns_and_names[::2], patterns_and_names[1::2])
    return " ".join(shlex.quote(f"{name}={pattern.format(name=name)}") for pattern, names in pairs for name in names)


def species_series(tasks: dict[str, dict[str, Any]]) -> list[tuple[str, int]]:
    """``(task, window)`` of the ``species``-layout tasks, by window, when their windows take at least two
    values (a species-by-length series: one figure); else empty."""
    series = sorted(((name, block["task"]["input"].get("window", 1024)) for name, block in tasks.items()
                     if block["task"]["input"]["format"] == "species"), key=lambda r: (r[1], r[0]))
    return series if len({w for _, w in series}) > 1 else []


def finetune_outputs(name: str, block: dict[str, Any]) -> list[str]:
    """The final files of a fine-tuning task (classification tasks also draw a confusion matrix and a ROC)."""
    out = f"results/finetune/{name}"
    files = [f"{out}/metrics.json", f"{out}/predictions.tsv"]
    if block["task"]["kind"] == "classification":
        files += [f"{out}/confusion.png", f"{out}/roc.png"]
    return files


def kipoi_exports(config: dict[str, Any], models: dict[str, str]) -> list[str]:
    """Names of the trained models exported as Kipoi model folders."""
    export = config["kipoi"]["export"]
    return list(models) if export == "all" else list(export)


def final_outputs(config: dict[str, Any], models: dict[str, str]) -> list[str]:
    """Every file `snakemake all` makes for ``config``."""
    files = []
    if config["pretrain"]["enabled"]:
        files += ["results/pretrain/summary.json", "results/pretrain/loss.png"]
        if config["pretrain"].get("context_lengths"):
            files += ["results/pretrain/context_bits.tsv", "results/plots/context_bits.png"]
    for name, block in config["finetune"].items():
        files += finetune_outputs(name, block)
    files += [f"results/icl/{name}/icl_metrics.json" for name in config["icl"]]
    if config["finetune"] or config["icl"]:
        files += ["results/plots/finetune.png", "results/finetune/summary.tsv"]
    if species_series(config["finetune"]):
        files += ["results/plots/species_by_length.png", "results/finetune/species_by_length.tsv"]
    if config["variants"]:
        files += [f"results/variants/{name}.tsv" for name in config["variants"]] + ["results/plots/vep.png"]
    files += [f"results/variants/{name}.classes.tsv" for name in class_vcf_jobs(config)]
    if biotype_probe(config):
        files.append("results/probe/biotype.tsv")
    if config.get("embeddings"):
        files.append("results/plots/embeddings.png")
    files += [f"results/kipoi/{name}" for name in kipoi_exports(config, models)]
    return files
