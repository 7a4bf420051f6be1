# Fine-tuning (one job per task, soft prompts included) and in-context learning, from stage configs
# written from the workflow config: a changed task reruns only that task and what reads its outputs.


rule stage_config:
    output:
        "results/configs/{section}/{name}.yaml",
    params:
        settings=lambda wc: json_arg(config[wc.section][wc.name]),
    wildcard_constraints:
        section="finetune|icl",
    log:
        "logs/configs/{section}_{name}.log",
    localrule: True
    shell:
        logged("hyenadna workflow stage-config {wildcards.section} --settings {params.settings} --out {output} "
               "--out-dir results/{wildcards.section}/{wildcards.name}")


# classification tasks: also a confusion matrix and a ROC curve, in the report
rule finetune:
    input:
        config="results/configs/finetune/{task}.yaml",
        model=lambda wc: plan.task_model_input(FINETUNE[wc.task]),
        data=lambda wc: plan.task_inputs(FINETUNE[wc.task]),
    output:
        model=directory("results/finetune/{task}/model"),
        metrics="results/finetune/{task}/metrics.json",
        predictions="results/finetune/{task}/predictions.tsv",
        # removed before every (re)run: a changed task must not resume another run's state
        checkpoints=directory("results/finetune/{task}/checkpoints"),
        confusion=report("results/finetune/{task}/confusion.png", caption="../report/confusion.rst",
                         category="3. Fine-tuning", subcategory="{task}", labels={"task": "{task}", "figure": "confusion"}),
        roc=report("results/finetune/{task}/roc.png", caption="../report/roc.rst",
                   category="3. Fine-tuning", subcategory="{task}", labels={"task": "{task}", "figure": "roc"}),
    wildcard_constraints:
        task=one_of(plan.tasks_of_kind(FINETUNE, classification=True)),
    params:
        out="results/finetune/{task}",
    threads: config["finetune_resources"]["cpus"]
    resources:
        **FINETUNE_RESOURCES,
    log:
        "logs/finetune/{task}.log",
    shell:
        logged("hyenadna finetune {input.config} --out {params.out} --quiet")


# multilabel and regression tasks: metrics and predictions only
use rule finetune as finetune_without_figures with:
    output:
        model=directory("results/finetune/{task}/model"),
        metrics="results/finetune/{task}/metrics.json",
        predictions="results/finetune/{task}/predictions.tsv",
        checkpoints=directory("results/finetune/{task}/checkpoints"),
    wildcard_constraints:
        task=one_of(plan.tasks_of_kind(FINETUNE, classification=False)),


rule icl:
    input:
        config="results/configs/icl/{task}.yaml",
        model=lambda wc: plan.task_model_input(ICL[wc.task]),
        data=lambda wc: plan.task_inputs(ICL[wc.task]),
    output:
        metrics="results/icl/{task}/icl_metrics.json",
        predictions="results/icl/{task}/icl_predictions.tsv",
    wildcard_constraints:
        task=one_of(ICL),
    params:
        out="results/icl/{task}",
    threads: config["finetune_resources"]["cpus"]
    resources:
        **FINETUNE_RESOURCES,
    log:
        "logs/icl/{task}.log",
    shell:
        logged("hyenadna icl {input.config} --out {params.out} --quiet")
