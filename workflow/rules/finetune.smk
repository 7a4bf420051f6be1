# Fine-tuning (one rule per task, soft prompts included) and in-context learning, from stage configs
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


FT_RES = res(config["finetune_resources"])

for _name, _block in FINETUNE.items():

    rule:
        name:
            f"finetune_{_name}"
        input:
            config=f"results/configs/finetune/{_name}.yaml",
            model=model_input(_block.get("model", {}).get("init")),
            data=task_inputs(_block),
        output:
            model=directory(f"results/finetune/{_name}/model"),
            metrics=f"results/finetune/{_name}/metrics.json",
            predictions=f"results/finetune/{_name}/predictions.tsv",
            # removed before every (re)run: a changed task must not resume another run's state
            checkpoints=directory(f"results/finetune/{_name}/checkpoints"),
            extra=[report(f, caption=f"../report/{os.path.basename(f)[:-4]}.rst", category="3. Fine-tuning",
                          subcategory=_name, labels={"task": _name, "figure": os.path.basename(f)[:-4]})
                   for f in finetune_outputs(_name, _block)[2:]],
        params:
            out=f"results/finetune/{_name}",
        threads: config["finetune_resources"]["cpus"]
        resources:
            **FT_RES,
        log:
            f"logs/finetune/{_name}.log",
        shell:
            logged("hyenadna finetune {input.config} --out {params.out} --quiet")


for _name, _block in ICL.items():

    rule:
        name:
            f"icl_{_name}"
        input:
            config=f"results/configs/icl/{_name}.yaml",
            model=model_input(_block.get("model", {}).get("init")),
            data=task_inputs(_block),
        output:
            metrics=f"results/icl/{_name}/icl_metrics.json",
            predictions=f"results/icl/{_name}/icl_predictions.tsv",
        params:
            out=f"results/icl/{_name}",
        threads: config["finetune_resources"]["cpus"]
        resources:
            **FT_RES,
        log:
            f"logs/icl/{_name}.log",
        shell:
            logged("hyenadna icl {input.config} --out {params.out} --quiet")
