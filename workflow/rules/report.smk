# Report figures that combine several runs; `snakemake --report results/report.html` collects every report() output.


rule plot_finetune:
    input:
        ft=expand("results/finetune/{name}/metrics.json", name=list(FINETUNE)),
        icl=expand("results/icl/{name}/icl_metrics.json", name=list(ICL)),
    output:
        png=report("results/plots/finetune.png", caption="../report/finetune.rst", category="2. Fine-tuning summary"),
        table=report("results/finetune/summary.tsv", caption="../report/finetune_table.rst",
                     category="2. Fine-tuning summary"),
    params:
        pairs=plan.labelled_paths("results/finetune/{name}/metrics.json", FINETUNE,
                                  "results/icl/{name}/icl_metrics.json", ICL),
    log:
        "logs/plots/finetune.log",
    shell:
        logged("hyenadna workflow plot-finetune --metrics {params.pairs} --out {output.png} --table {output.table}")


SPECIES_SERIES = plan.species_series(FINETUNE)

if SPECIES_SERIES:

    rule plot_species_length:
        input:
            [f"results/finetune/{name}/metrics.json" for name, _ in SPECIES_SERIES],
        output:
            png=report("results/plots/species_by_length.png", caption="../report/species_length.rst",
                       category="2. Fine-tuning summary"),
            table="results/finetune/species_by_length.tsv",
        params:
            runs=" ".join(shlex.quote(f"{name}={window}=results/finetune/{name}/metrics.json")
                          for name, window in SPECIES_SERIES),
        log:
            "logs/plots/species_length.log",
        shell:
            logged("hyenadna workflow plot-by-length --metrics {params.runs} --out {output.png} --table {output.table}")
