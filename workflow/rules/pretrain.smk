# Pretraining: the stage config (from pretrain.config + the reference), windows per split, training.

if PRETRAIN:
    PRE = config["pretrain"]
    GPUS, NODES = PRE["resources"]["gpu"], PRE["nodes"]

    rule pretrain_config:
        output:
            "results/configs/pretrain.yaml",
        params:
            settings=json_arg(PRE["config"]),
            reference=json_arg(REF),
        log:
            "logs/configs/pretrain.log",
        localrule: True
        shell:
            logged("hyenadna workflow stage-config pretrain --settings {params.settings} "
                   "--reference {params.reference} --out {output} --out-dir results/pretrain")

    rule intervals:
        input:
            config="results/configs/pretrain.yaml",
            fai=RP["fai"],
            excluded=RP["excluded"],
            regions=RP["regions"] if REF["regions"] else [],
        output:
            train="results/pretrain/intervals/train.bed",
            valid="results/pretrain/intervals/valid.bed",
            summary="results/pretrain/intervals/summary.tsv",
        log:
            "logs/pretrain/intervals.log",
        shell:
            logged("hyenadna intervals {input.config} --force --quiet")

    if NODES > 1:
        LAUNCH = (f"srun torchrun --nnodes {NODES} --nproc-per-node {GPUS} --rdzv-backend c10d "
                  "--rdzv-endpoint $(scontrol show hostnames $SLURM_JOB_NODELIST | head -n 1):29500 $(which hyenadna)")
    elif GPUS > 1:
        LAUNCH = f"torchrun --standalone --nproc-per-node {GPUS} $(which hyenadna)"
    else:
        LAUNCH = "hyenadna"

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
            launch=LAUNCH,
        threads: PRE["resources"]["cpus"]
        resources:
            **res(PRE["resources"], NODES),
        log:
            "logs/pretrain/pretrain.log",
        shell:
            # --resume continues after a kill or preemption; reset-run first drops checkpoints of other settings
            logged("hyenadna workflow reset-run {input.config} && {params.launch} pretrain {input.config} --resume --quiet")
