# Pretraining: the stage config (from pretrain.config + the reference), windows per split, training.

if PRETRAIN["enabled"]:

    rule pretrain_config:
        output:
            "results/configs/pretrain.yaml",
        params:
            settings=json_arg(PRETRAIN["config"]),
            reference=json_arg(REFERENCE),
        log:
            "logs/configs/pretrain.log",
        localrule: True
        shell:
            logged("hyenadna workflow stage-config pretrain --settings {params.settings} "
                   "--reference {params.reference} --out {output} --out-dir results/pretrain")

    rule intervals:
        input:
            config="results/configs/pretrain.yaml",
            fai=REFERENCE_PATHS["fai"],
            excluded=REFERENCE_PATHS["excluded"],
            regions=REFERENCE_PATHS["regions"] if REFERENCE["regions"] else [],
        output:
            train="results/pretrain/intervals/train.bed",
            valid="results/pretrain/intervals/valid.bed",
            summary="results/pretrain/intervals/summary.tsv",
        log:
            "logs/pretrain/intervals.log",
        shell:
            logged("hyenadna intervals {input.config} --force --quiet")

    rule pretrain:
        input:
            config="results/configs/pretrain.yaml",
            train="results/pretrain/intervals/train.bed",
            valid="results/pretrain/intervals/valid.bed",
        output:
            model=directory("results/pretrain/model"),
            summary="results/pretrain/summary.json",
            eval="results/pretrain/eval.csv",
            train="results/pretrain/train.csv",
            markov="results/pretrain/markov.tsv",
            loss=report("results/pretrain/loss.png", caption="../report/pretrain.rst", category="1. Pretraining"),
        params:
            launch=plan.pretrain_launcher(PRETRAIN["resources"]["gpu"], PRETRAIN["nodes"]),
        threads: PRETRAIN["resources"]["cpus"]
        resources:
            **slurm_resources(PRETRAIN["resources"], PRETRAIN["nodes"]),
        log:
            "logs/pretrain/pretrain.log",
        shell:
            # --resume continues after a kill or preemption; reset-run first drops checkpoints of other settings
            logged("hyenadna workflow reset-run {input.config} && {params.launch} pretrain {input.config} --resume --quiet")
