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
            **({"test": "results/pretrain/intervals/test.bed"} if PRETRAIN["context_lengths"] else {}),
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

    if PRETRAIN["context_lengths"]:

        # test bits per base by context length, beside Markov orders 0..K fitted on the training windows
        rule context_bits:
            input:
                model="results/pretrain/model",
                fasta=REFERENCE_PATHS["prepared"],
                fai=REFERENCE_PATHS["fai"],
                test="results/pretrain/intervals/test.bed",
                train="results/pretrain/intervals/train.bed",
            output:
                table="results/pretrain/context_bits.tsv",
                png=report("results/plots/context_bits.png", caption="../report/context_bits.rst",
                           category="1. Pretraining"),
            params:
                lengths=" ".join(str(n) for n in PRETRAIN["context_lengths"]),
                order=PRETRAIN["config"].get("eval", {}).get("markov_max_order", 5),
                bases=PRETRAIN["config"].get("eval", {}).get("markov_max_train_bases") or 50_000_000,
                device=config["device"],
            threads: config["scoring_resources"]["cpus"]
            resources:
                **SCORING_RESOURCES,
            log:
                "logs/pretrain/context_bits.log",
            shell:
                logged("hyenadna workflow context-bits --model {input.model} --fasta {input.fasta} --test {input.test} "
                       "--train {input.train} --lengths {params.lengths} --max-order {params.order} "
                       "--max-train-bases {params.bases} --device {params.device} --table {output.table} --out {output.png}")
