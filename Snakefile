# hyenadna-kipoi workflow: reference -> intervals -> pretrain -> fine-tune / ICL -> variant scores,
# embeddings, Kipoi exports -> report. `snakemake --cores all all` runs the embedded demo config;
# `snakemake --report results/report.html` then writes the HTML report. Rules live in
# workflow/rules/*.smk and only call the `hyenadna` CLI (stage configs: `hyenadna workflow stage-config`);
# the config checks come from hyenadna_kipoi.workflow.config. Keys: config/README.md.

import os

from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version, validate

from hyenadna_kipoi.errors import HyenaDNAError
from hyenadna_kipoi.resources import schema_path
from hyenadna_kipoi.workflow import config as wfconfig, plan

min_version("9.0")


if not workflow.overwrite_configfiles:  # --configfile replaces the embedded demo (not merged into it)
    configfile: "config/config.yaml"


# the config in use; with several --configfile the last one wins (Snakemake merges them in that order)
CONFIG_SOURCE = workflow.overwrite_configfiles[-1] if workflow.overwrite_configfiles else "config/config.yaml"
try:
    SCHEMA = str(schema_path("config"))  # hyenadna_kipoi/schemas/: the package's copy, the only one
    wfconfig.check_schema(config, str(CONFIG_SOURCE))
    validate(config, SCHEMA)  # fills in the defaults
    MODELS = wfconfig.setup(config, str(CONFIG_SOURCE))["models"]
except HyenaDNAError as err:
    raise WorkflowError(f"invalid config: {err}") from None

report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/annotation.smk"
include: "workflow/rules/reference.smk"
include: "workflow/rules/pretrain.smk"
include: "workflow/rules/finetune.smk"
include: "workflow/rules/score.smk"
include: "workflow/rules/kipoi.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/demo.smk"


rule all:
    input:
        plan.final_outputs(config, MODELS),
