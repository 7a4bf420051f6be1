"""What the Snakemake workflow needs beyond the stage CLIs: config checks, per-stage configs, small steps, plots.

The Snakefile calls :func:`setup` once (validate the whole workflow config, fail early with one
message naming the key or file) and :func:`write_stage_config` from its config rules. The small
steps are ``hyenadna workflow SUBCOMMAND`` (registered by :func:`add_commands`):

    download URL OUT [--sha256 H] [--md5 H]     checksum-verified download (file:// for local data)
    index FASTA --prepared FA                   decompress (plain gzip) and build the .fai index
    gaps FASTA --out BED [--blacklist B]        assembly gaps (N runs) + blacklist, merged, as one BED
    check-vcf VCF FASTA --key KEY               stop when the VCF's contigs are not in the genome
    plot-vep --tsv NAME=TSV ... --out PNG       distribution of variant scores (llr) per VCF
    plot-embeddings --npz LABEL=NPZ ... --out PNG   2-D PCA map of embeddings coloured by label
    plot-finetune --metrics NAME=JSON ... --out PNG --table TSV   fine-tuned model vs k-mer baseline
    reset-run CONFIG                            drop a pretraining run's checkpoints made with other settings

No torch import at module level: the Snakefile imports this module at parse time.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any, Iterable

import yaml

from .errors import ConfigError, InputError
from .io import atomic_open, atomic_path

PRETRAINED = "pretrained"  # `model.init: pretrained` / `model: pretrained` = the workflow's own pretrained model


# --------------------------------------------------------------------------- config


def resolve_url(url: str | None) -> str | None:
    """``file:relative/path`` (or ``file://relative``-less forms) -> an absolute ``file:///`` URL; others unchanged."""
    if url is None or not url.startswith("file:") or url.startswith("file:///"):
        return url
    return Path(url[len("file:"):].lstrip("/") if url.startswith("file://") else url[len("file:"):]).resolve().as_uri()


def _check_exists(path: Any, key: str) -> None:
    if isinstance(path, list):
        for i, item in enumerate(path):
            _check_exists(item, f"{key}[{i}]")
    elif isinstance(path, str) and not Path(path).exists():
        raise ConfigError(f"{key}: {path}: no such file or directory")


def _task_input_paths(spec: dict[str, Any]) -> Iterable[tuple[str, Any]]:
    """(key suffix, path) of every file a fine-tuning task's `task.input` names."""
    for key in ("train", "test", "valid", "folder", "bed", "fasta", "genomes"):
        value = spec.get(key)
        if isinstance(value, dict):
            for name, path in value.items():
                yield f"{key}.{name}", path
        elif value is not None:
            yield key, value


def _validate_stage(kind: str, block: dict[str, Any], key: str) -> None:
    """Validate an embedded stage config against its own schema (unknown keys named), without touching files."""
    if kind == "pretrain":
        from .train.config import validate_config

        raw = dict(block, out_dir="results/pretrain", genome={"fasta": "genome.fa"})
        raw.setdefault("intervals", {})
        raw["intervals"] = dict(raw["intervals"])
        if not raw["intervals"].get("chroms"):
            raw["intervals"]["regions"] = {"path": "regions.bed"}
        validate_config(raw, source=key)
        return
    try:
        from .finetune.config import validate_finetune_config
    except ImportError:  # the fine-tuning layer is not installed: `hyenadna finetune` will check it
        return
    validate_finetune_config(dict(json.loads(json.dumps(block)), out_dir="results/x"), source=key)


def check_schema(config: dict[str, Any], schema_path: str | os.PathLike, source: str = "config") -> None:
    """Raise ConfigError with one line naming the offending key when ``config`` breaks the workflow schema."""
    import jsonschema

    schema = yaml.safe_load(Path(schema_path).read_text())
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(config))
    if not errors:
        return
    error = jsonschema.exceptions.best_match(errors)
    where = ".".join(str(p) for p in error.absolute_path)
    message = error.message
    if len(message) > 300:
        message = message[:300] + " ..."
    raise ConfigError(f"{source}: {where + ': ' if where else ''}{message} (keys: config/README.md)")


def setup(config: dict[str, Any], source: str = "config") -> dict[str, Any]:
    """Check a workflow config (already schema-validated with defaults) beyond the schema.

    Raises ConfigError naming the key for a missing input file, a stage config that its
    own schema rejects, or a reference to an unknown model. Returns the names of the
    trained models: ``{"models": {name: model folder}}``.
    """
    models: dict[str, str] = {}
    if config.get("pretrain", {}).get("enabled", False):
        if not config.get("reference"):
            raise ConfigError(f"{source}: pretrain.enabled needs a reference block (the genome to pretrain on)")
        _validate_stage("pretrain", config["pretrain"]["config"], f"{source}: pretrain.config")
        models[PRETRAINED] = "results/pretrain/model"
    ref = config.get("reference") or {}
    if ref and not ref.get("url"):
        _check_exists(ref.get("fasta"), f"{source}: reference.fasta")
    regions = ref.get("regions") or {}
    if regions and not regions.get("url"):
        _check_exists(regions.get("path"), f"{source}: reference.regions.path")
    if ref.get("blacklist"):
        _check_exists(ref["blacklist"], f"{source}: reference.blacklist")

    def check_model(value: Any, key: str) -> None:
        if value == PRETRAINED and PRETRAINED not in models:
            raise ConfigError(f"{key}: 'pretrained' needs pretrain.enabled: true")
        if isinstance(value, str) and value != PRETRAINED and ("/" in value or value.startswith(".")):
            _check_exists(value, key)

    for section in ("finetune", "icl"):
        for name, task in (config.get(section) or {}).items():
            key = f"{source}: {section}.{name}"
            _validate_stage("finetune", task, key)
            spec = (task.get("task") or {}).get("input") or {}
            for suffix, path in _task_input_paths(spec):
                _check_exists(path, f"{key}.task.input.{suffix}")
            check_model((task.get("model") or {}).get("init"), f"{key}.model.init")
            if section == "finetune":
                models[name] = f"results/finetune/{name}/model"
    for name, job in (config.get("variants") or {}).items():
        key = f"{source}: variants.{name}"
        _check_exists(job["vcf"], f"{key}.vcf")
        if job["fasta"] != "reference":
            _check_exists(job["fasta"], f"{key}.fasta")
        elif not ref:
            raise ConfigError(f"{key}.fasta: 'reference' needs a reference block")
        check_model(job["model"], f"{key}.model")
    emb = config.get("embeddings") or {}
    if emb:
        check_model(emb["model"], f"{source}: embeddings.model")
        for label, path in emb["sets"].items():
            _check_exists(path, f"{source}: embeddings.sets.{label}")
    exports = (config.get("kipoi") or {}).get("export", "all")
    if exports != "all":
        for name in exports:
            if name not in models:
                raise ConfigError(f"{source}: kipoi.export: {name!r} is not a trained model of this workflow "
                                  f"(known: {', '.join(models) or 'none'})")
    return {"models": models}


def model_path(value: str) -> str:
    """The folder the workflow's model name `pretrained` stands for; other values (folders, presets) unchanged."""
    return "results/pretrain/model" if value == PRETRAINED else value


def write_stage_config(kind: str, block: dict[str, Any], out: str | os.PathLike, *,
                       config: dict[str, Any] | None = None, out_dir: str | None = None) -> Path:
    """Write the YAML config of one stage run (``pretrain``, ``finetune``, ``icl``) to ``out``, atomically.

    ``pretrain``: the workflow's reference (downloaded + indexed FASTA, gap/blacklist BED,
    regions) is filled into ``genome`` and ``intervals``. ``finetune``/``icl``: ``model.init:
    pretrained`` becomes the pretrained model's folder.
    """
    stage = json.loads(json.dumps(block))  # a deep, plain copy
    if out_dir is not None:
        stage["out_dir"] = out_dir
    if kind == "pretrain":
        ref, paths = config["reference"], reference_paths(config)
        stage["genome"] = {"fasta": paths["fasta"], "prepared": paths["prepared"]}
        for algo in ("sha256", "md5"):
            if ref.get(algo):
                stage["genome"][algo] = ref[algo]
        intervals = stage.setdefault("intervals", {})
        if not intervals.get("chroms"):
            intervals["regions"] = {"path": paths["regions"]}
        intervals["exclude_gaps"] = False  # the gaps rule's BED holds gaps + blacklist
        intervals["blacklist"] = paths["excluded"]
        intervals["out"] = "results/pretrain/intervals"
    elif "model" in stage and stage["model"].get("init") is not None:
        stage["model"]["init"] = model_path(stage["model"]["init"])
    with atomic_open(out) as handle:
        handle.write(f"# written by the workflow from {kind} settings of the workflow config; edit those instead\n")
        yaml.safe_dump(stage, handle, sort_keys=False)
    return Path(out)


def log_line(path: str | os.PathLike, text: str) -> None:
    """Write one line to a rule's log file (for the rules that run Python in the workflow process)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(text + "\n")


def reference_paths(config: dict[str, Any]) -> dict[str, str]:
    """Where the workflow keeps the reference: downloaded FASTA, prepared (indexed) FASTA, regions BED, excluded BED."""
    ref = config["reference"]
    folder = Path(ref["dir"])
    name = ref["name"]
    fasta = ref["fasta"] if ref.get("fasta") and not ref.get("url") else str(folder / f"{name}.fa.gz")
    if not ref.get("url") and not fasta.endswith(".gz"):
        prepared = fasta
    else:
        prepared = str(folder / f"{name}.fa")
    regions = ref.get("regions") or {}
    regions_path = regions.get("path") if regions and not regions.get("url") else str(folder / f"{name}.regions.bed")
    return {"fasta": fasta, "prepared": prepared, "fai": prepared + ".fai", "regions": regions_path,
            "excluded": str(folder / f"{name}.excluded.bed")}


# --------------------------------------------------------------------------- steps


def download_checked(url: str, out: str | os.PathLike, *, sha256: str | None = None, md5: str | None = None,
                     progress: bool = True) -> Path:
    """Download ``url`` (relative ``file:`` paths allowed) to ``out``, verified, atomically."""
    from .download import download

    return download(resolve_url(url), out, sha256=sha256, md5=md5, progress=progress)


def write_gaps(fasta: str | os.PathLike, out: str | os.PathLike, *, blacklist: str | None = None,
               min_gap: int = 1, progress: bool = True) -> int:
    """Write the assembly gaps (runs of ≥ ``min_gap`` non-ACGT bases) of ``fasta`` plus ``blacklist`` as one sorted BED.

    Returns the number of merged intervals. Blacklist entries on contigs the genome lacks are ignored.
    """
    from .data.genome import Genome
    from .data.intervals import _bedtool, _exclusions

    with Genome(fasta) as genome:
        rows = _exclusions(genome, set(genome.contigs), True, min_gap, blacklist, progress)
    merged = [(iv.chrom, iv.start, iv.end) for iv in _bedtool(rows).merge()] if rows else []
    with atomic_open(out) as handle:
        for chrom, start, end in merged:
            handle.write(f"{chrom}\t{start}\t{end}\n")
    return len(merged)


def vcf_contigs(path: str | os.PathLike) -> dict[str, int]:
    """Contig -> number of records of a text VCF (plain or gzip); BCF through pysam."""
    import gzip

    counts: dict[str, int] = {}
    path = Path(path)
    if path.suffix == ".bcf":
        import pysam

        with pysam.VariantFile(str(path)) as vcf:
            for rec in vcf:
                counts[rec.chrom] = counts.get(rec.chrom, 0) + 1
        return counts
    with open(path, "rb") as raw:
        gz = raw.read(2) == b"\x1f\x8b"
    with (gzip.open(path, "rt") if gz else open(path)) as handle:
        for line in handle:
            if line.startswith("#") or not line.strip():
                continue
            chrom = line.split("\t", 1)[0]
            counts[chrom] = counts.get(chrom, 0) + 1
    return counts


def check_vcf(vcf: str | os.PathLike, fasta: str | os.PathLike, *, key: str = "VCF",
              allow_missing: bool = False) -> dict[str, int]:
    """Raise InputError naming ``key`` and the contigs when records lie on contigs the genome lacks (or none match).

    With ``allow_missing`` only a VCF none of whose contigs are in the genome is an error.
    Returns contig -> record count.
    """
    from .data.genome import Genome

    counts = vcf_contigs(vcf)
    if not counts:
        raise InputError(f"{key}: {vcf}: no records")
    with Genome(fasta) as genome:
        absent = sorted(c for c in counts if genome.resolve(c) is None)
        known = list(genome.contigs)
    if absent and (not allow_missing or len(absent) == len(counts)):
        n = sum(counts[c] for c in absent)
        raise InputError(f"{key}: {vcf}: {n} record(s) on contig(s) not in {fasta}: {', '.join(absent[:10])}"
                         f" (the genome has {', '.join(known[:10])}{' ...' if len(known) > 10 else ''}); "
                         "is this VCF for another assembly?")
    return counts


def reset_run(config_path: str | os.PathLike) -> bool:
    """Remove a pretraining run's checkpoints when they were made with other settings, so ``--resume`` is safe.

    Compares the resolved config with ``OUT_DIR/config.resolved.yaml``; returns True when checkpoints were removed.
    """
    import shutil

    from .train.config import dump_config, load_config

    config = load_config(config_path)
    out = Path(config["out_dir"])
    previous = out / "config.resolved.yaml"
    checkpoints = out / "checkpoints"
    if not checkpoints.exists():
        return False
    if previous.exists() and previous.read_text() == dump_config(config):
        return False
    shutil.rmtree(checkpoints)
    return True


# --------------------------------------------------------------------------- plots


def _pairs(items: list[str], what: str) -> list[tuple[str, str]]:
    out = []
    for item in items:
        if "=" not in item:
            raise InputError(f"{what} {item!r}: expected NAME=PATH")
        name, path = item.split("=", 1)
        out.append((name, path))
    return out


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, out: str | os.PathLike) -> None:
    with atomic_path(out) as tmp:
        fig.savefig(tmp, format="png")


def plot_vep(tables: list[tuple[str, str]], out: str | os.PathLike) -> dict[str, int]:
    """Histogram of scored llr values per VCF (TSVs of `hyenadna score-variants`); returns name -> alleles scored."""
    import pandas as pd

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    counts = {}
    for name, path in tables:
        table = pd.read_csv(path, sep="\t", na_values=["NA"])
        llr = table["llr"].dropna().to_numpy()
        counts[name] = len(llr)
        statuses = ", ".join(f"{k} {v}" for k, v in table["status"].value_counts().items())
        if len(llr):
            ax.hist(llr, bins=min(40, max(5, len(llr) // 2)), alpha=0.6, label=f"{name} (n={len(llr)}; {statuses})")
        else:
            ax.plot([], [], label=f"{name}: nothing scored ({statuses})")
    ax.axvline(0, color="k", lw=0.8)
    ax.set(xlabel="llr = log P(ALT) − log P(REF) (nats)", ylabel="alleles", title="Variant-effect scores")
    ax.legend(frameon=False, fontsize=7)
    fig.tight_layout()
    _save(fig, out)
    plt.close(fig)
    return counts


def plot_embeddings(sets: list[tuple[str, str]], out: str | os.PathLike) -> int:
    """2-D PCA map of the embeddings in `.npz` files (`hyenadna embed`), one colour per label; returns N."""
    import numpy as np

    from .demo import _pca_2d, _plot_embeddings

    arrays, labels = [], []
    for label, path in sets:
        with np.load(path) as data:
            emb = data["embeddings"]
        arrays.append(emb)
        labels += [label] * len(emb)
    x = np.concatenate(arrays).astype(np.float64)
    coords, explained = _pca_2d(x)
    _plot_embeddings(Path(out), coords, labels, explained)
    return len(x)


HEADLINE = {"classification": ["accuracy", "mcc", "auroc"], "multilabel": ["auroc", "auprc"],
            "regression": ["pearson", "r2"]}


def finetune_table(runs: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """Rows (task, method, metric, value) of the test metrics of fine-tuning runs (metrics.json) and ICL runs."""
    rows = []
    for name, path in runs:
        data = json.loads(Path(path).read_text())
        if "model" in data:  # fine-tuning
            kind = data.get("kind", "classification")
            for method, block in (("hyenadna", data["model"].get("test", {})),
                                  ("kmer_baseline", (data.get("baseline") or {}).get("test", {}))):
                for metric in HEADLINE.get(kind, []):
                    value = block.get(metric)
                    if isinstance(value, (int, float)):
                        rows.append({"task": name, "method": method, "metric": metric, "value": float(value)})
        else:  # ICL: one entry per (model, shots)
            for result in data.get("results", []):
                method = f"icl_{result.get('model', 'model')}_{result.get('shots', '?')}shot"
                for metric in ("accuracy", "mcc"):
                    if isinstance(result.get(metric), (int, float)):
                        rows.append({"task": name, "method": method, "metric": metric,
                                     "value": float(result[metric])})
    return rows


def plot_finetune(runs: list[tuple[str, str]], out: str | os.PathLike, table: str | os.PathLike) -> int:
    """Grouped bars: each task's test metrics, fine-tuned HyenaDNA vs the k-mer baseline; also a TSV."""
    import numpy as np

    rows = finetune_table(runs)
    with atomic_open(table) as handle:
        handle.write("task\tmethod\tmetric\tvalue\n")
        for r in rows:
            handle.write(f"{r['task']}\t{r['method']}\t{r['metric']}\t{r['value']:.6g}\n")
    plt = _pyplot()
    groups = sorted({(r["task"], r["metric"]) for r in rows})
    methods = list(dict.fromkeys(r["method"] for r in rows))
    fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(groups) + 2), 4), dpi=120)
    width = 0.8 / max(1, len(methods))
    for i, method in enumerate(methods):
        values = {(r["task"], r["metric"]): r["value"] for r in rows if r["method"] == method}
        ys = [values.get(g, np.nan) for g in groups]
        ax.bar(np.arange(len(groups)) + i * width, ys, width, label=method)
    ax.set_xticks(np.arange(len(groups)) + width * (len(methods) - 1) / 2)
    ax.set_xticklabels([f"{t}\n{m}" for t, m in groups], fontsize=7, rotation=30, ha="right")
    ax.axhline(0, color="k", lw=0.6)
    ax.set(ylabel="test split", title="Fine-tuned HyenaDNA vs k-mer baseline")
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    _save(fig, out)
    plt.close(fig)
    return len(rows)


# --------------------------------------------------------------------------- CLI


def _cmd(args: argparse.Namespace) -> int:
    progress = not getattr(args, "quiet", False)
    if args.step == "download":
        path = download_checked(args.url, args.out, sha256=args.sha256, md5=args.md5, progress=progress)
        print(f"{args.url} -> {path} (verified)")
    elif args.step == "index":
        path = index_reference(args.fasta, args.prepared, progress=progress)
        print(f"{args.fasta} -> {path} (+ .fai)")
    elif args.step == "gaps":
        n = write_gaps(args.fasta, args.out, blacklist=args.blacklist, min_gap=args.min_gap, progress=progress)
        print(f"{n:,} excluded interval(s) (gaps{' + blacklist' if args.blacklist else ''}) -> {args.out}")
    elif args.step == "check-vcf":
        counts = check_vcf(args.vcf, args.fasta, key=args.key, allow_missing=args.allow_missing)
        print(f"{args.vcf}: {sum(counts.values()):,} record(s) on {len(counts)} contig(s), all checked against {args.fasta}")
    elif args.step == "plot-vep":
        counts = plot_vep(_pairs(args.tsv, "--tsv"), args.out)
        print(f"scored alleles {counts} -> {args.out}")
    elif args.step == "plot-embeddings":
        n = plot_embeddings(_pairs(args.npz, "--npz"), args.out)
        print(f"{n} embeddings -> {args.out}")
    elif args.step == "plot-finetune":
        n = plot_finetune(_pairs(args.metrics, "--metrics"), args.out, args.table)
        print(f"{n} metric value(s) -> {args.out}, {args.table}")
    elif args.step == "reset-run":
        removed = reset_run(args.config)
        print("checkpoints made with other settings removed" if removed else "nothing to reset")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``hyenadna workflow SUBCOMMAND`` (the Snakemake workflow's small steps)."""
    p = sub.add_parser("workflow", help="small steps of the Snakemake workflow (download, gaps, checks, plots)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    steps = p.add_subparsers(dest="step", metavar="STEP", required=True)
    s = steps.add_parser("download", help="checksum-verified download (https, ftp, file:// or relative file:)")
    s.add_argument("url")
    s.add_argument("out")
    s.add_argument("--sha256")
    s.add_argument("--md5")
    s.add_argument("--quiet", "-q", action="store_true")
    s = steps.add_parser("index", help="decompress (plain gzip) and index a reference FASTA")
    s.add_argument("fasta")
    s.add_argument("--prepared", required=True, help="where a plain-gzip FASTA is decompressed to")
    s.add_argument("--quiet", "-q", action="store_true")
    s = steps.add_parser("gaps", help="BED of assembly gaps (N runs) plus an optional blacklist, merged")
    s.add_argument("fasta")
    s.add_argument("--out", required=True)
    s.add_argument("--blacklist")
    s.add_argument("--min-gap", type=int, default=1)
    s.add_argument("--quiet", "-q", action="store_true")
    s = steps.add_parser("check-vcf", help="fail when VCF records lie on contigs absent from the genome")
    s.add_argument("vcf")
    s.add_argument("fasta")
    s.add_argument("--key", default="VCF", help="config key to name in the error")
    s.add_argument("--allow-missing", action="store_true", help="fail only when no contig matches")
    s = steps.add_parser("plot-vep", help="histogram of variant scores per VCF")
    s.add_argument("--tsv", nargs="+", required=True, metavar="NAME=TSV")
    s.add_argument("--out", required=True)
    s = steps.add_parser("plot-embeddings", help="PCA map of embeddings coloured by label")
    s.add_argument("--npz", nargs="+", required=True, metavar="LABEL=NPZ")
    s.add_argument("--out", required=True)
    s = steps.add_parser("plot-finetune", help="fine-tuned model vs k-mer baseline per task (PNG + TSV)")
    s.add_argument("--metrics", nargs="+", required=True, metavar="NAME=JSON")
    s.add_argument("--out", required=True)
    s.add_argument("--table", required=True)
    s = steps.add_parser("reset-run", help="remove a pretraining run's checkpoints made with other settings")
    s.add_argument("config")
    p.set_defaults(func=_cmd)


def index_reference(fasta: str | os.PathLike, prepared: str | os.PathLike, *, progress: bool = True) -> Path:
    """Decompress a plain-gzip FASTA to ``prepared`` (bgzip/plain: indexed in place) and build its ``.fai``."""
    from .data.reference import prepare_genome

    return prepare_genome(fasta, prepared=prepared, progress=progress)
