# Kipoi model directories of the trained models (`kipoi test DIR --source dir` works on each).


rule export_kipoi:
    input:
        lambda wc: MODELS[wc.model],
    output:
        directory("results/kipoi/{model}"),
    wildcard_constraints:
        model=one_of(KIPOI_EXPORTS),
    log:
        "logs/kipoi/{model}.log",
    shell:
        logged("hyenadna export-kipoi --model {input} --out {output} --name {wildcards.model} --force --quiet")
