# Helpers shared by the rules: logging, resources, model inputs, the list of final outputs.

import json
import shlex

REF = config.get("reference")
RP = W.reference_paths(REF) if REF else {}
PRETRAIN = config["pretrain"]["enabled"]
FINETUNE = config["finetune"]
ICL = config["icl"]
VARIANTS = config["variants"]
EMB = config.get("embeddings")
EXPORTS = list(MODELS) if config["kipoi"]["export"] == "all" else config["kipoi"]["export"]


def logged(cmd):
    """Run cmd with its output in {log}; on failure print the log's last lines (the one-line error) too."""
    return f"({cmd}) > {{log}} 2>&1 || {{{{ tail -n 3 {{log}} >&2; exit 1; }}}}"


def json_arg(value):
    """A shell-quoted JSON argument; sort_keys keeps it (Snakemake's params rerun trigger) stable across runs."""
    return shlex.quote(json.dumps(value, sort_keys=True))


def res(block):
    """Snakemake resources from a config resources block (SLURM: --gpus, --cpus-per-task, --mem, --time)."""
    return dict(gpu=block["gpu"], cpus_per_task=block["cpus"], mem_mb=block["mem_mb"], runtime=block["runtime"])


def model_input(ref):
    """Input files of a model reference: the pretrained model's folder, a local folder, or nothing (a preset)."""
    if ref is None:
        return []
    if ref == W.PRETRAINED:
        return [W.model_path(ref)]
    return [ref] if os.path.exists(ref) else []


def model_arg(ref):
    return W.model_path(ref)


def finetune_outputs(name, block):
    out = f"results/finetune/{name}"
    files = [f"{out}/metrics.json", f"{out}/predictions.tsv"]
    if block["task"]["kind"] == "classification":
        files += [f"{out}/confusion.png", f"{out}/roc.png"]
    return files


def all_outputs():
    files = []
    if PRETRAIN:
        files += ["results/pretrain/summary.json", "results/pretrain/loss.png"]
    for name, block in FINETUNE.items():
        files += finetune_outputs(name, block)
    files += [f"results/icl/{name}/icl_metrics.json" for name in ICL]
    if FINETUNE or ICL:
        files += ["results/plots/finetune.png", "results/finetune/summary.tsv"]
    if VARIANTS:
        files += [f"results/variants/{name}.tsv" for name in VARIANTS] + ["results/plots/vep.png"]
    if EMB:
        files.append("results/plots/embeddings.png")
    files += [f"results/kipoi/{name}" for name in EXPORTS]
    return files
