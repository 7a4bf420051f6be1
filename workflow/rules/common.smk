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


def res(block, nodes=1):
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


def task_inputs(block):
    """The data files a fine-tuning/ICL task reads (so that changing them reruns the task)."""
    files = []
    for _key, value in W.task_input_paths(block["task"]["input"]):
        files += [str(v) for v in (value if isinstance(value, list) else [value])]
    return files


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
