# Shared by the rules: the config's sections, logging, JSON arguments; the inputs, outputs and resources
# the rules choose come from hyenadna_kipoi.workflow.plan (`plan`, imported by the Snakefile).

import json
import shlex

from hyenadna_kipoi.workflow.plan import model_input, one_of, slurm_resources

REFERENCE = config.get("reference")
REFERENCE_PATHS = wfconfig.reference_paths(REFERENCE) if REFERENCE else {}
PRETRAIN = config["pretrain"]
FINETUNE = config["finetune"]
ICL = config["icl"]
VARIANTS = config["variants"]
EMBEDDINGS = config.get("embeddings")
KIPOI_EXPORTS = plan.kipoi_exports(config, MODELS)
FINETUNE_RESOURCES = slurm_resources(config["finetune_resources"])
SCORING_RESOURCES = slurm_resources(config["scoring_resources"])


def logged(cmd):
    """Run cmd with its output in {log}; on failure print the log's last lines (the one-line error) too."""
    return f"({cmd}) > {{log}} 2>&1 || {{{{ tail -n 3 {{log}} >&2; exit 1; }}}}"


def json_arg(value):
    """A shell-quoted JSON argument; sort_keys keeps it (Snakemake's params rerun trigger) stable across runs."""
    return shlex.quote(json.dumps(value, sort_keys=True))
