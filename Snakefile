# hyenadna-kipoi workflow. `snakemake --cores all all` runs the embedded demo config.
# Rules live in workflow/rules/*.smk; they call the `hyenadna` CLI and hold no logic.
# Stages (download, intervals, pretrain, finetune, score, kipoi, report) are added
# as they land; today the workflow runs the demo stage.

from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config/config.yaml"


validate(config, "workflow/schemas/config.schema.yaml")


include: "workflow/rules/demo.smk"


rule all:
    input:
        rules.demo.output,
