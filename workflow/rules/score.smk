# Variant-effect scores per VCF (checked against the genome first) and embeddings with their 2-D map.


# its own job, so that a VCF on the wrong assembly stops the run before pretraining, not after it
rule check_vcf:
    input:
        vcf=lambda wc: VARIANTS[wc.vcf]["vcf"],
        fasta=lambda wc: plan.variant_fasta(VARIANTS[wc.vcf], REFERENCE_PATHS),
        fai=lambda wc: plan.variant_fai(VARIANTS[wc.vcf], REFERENCE_PATHS),
    output:
        "results/variants/{vcf}.contigs.ok",
    wildcard_constraints:
        vcf=one_of(VARIANTS),
    params:
        key="variants.{vcf}.vcf",
        allow=lambda wc: "--allow-missing" if VARIANTS[wc.vcf]["allow_missing_contigs"] else "",
    localrule: True
    log:
        "logs/variants/{vcf}.check.log",
    shell:
        logged("hyenadna workflow check-vcf {input.vcf} {input.fasta} --key {params.key} {params.allow} "
               "&& touch {output}")


SINGLE_VCFS = plan.scattered_variants(VARIANTS, False)  # chunks: 1, scored by one job
SCATTERED_VCFS = plan.scattered_variants(VARIANTS, True)  # chunks: N > 1, N jobs and a gather job


# one scattergather name per scattered VCF (plan.scatter_key); `--set-scatter KEY=N` overrides its chunks
scattergather:
    **plan.variant_scatter(VARIANTS),


def score_command(chunk=""):
    """The score-variants command of the scoring rules (``chunk``: its --chunk option)."""
    return logged(
        "hyenadna score-variants -m {params.model} -f {input.fasta} --vcf {input.vcf} {params.options} "
        f"--device {{params.device}} {chunk}--out-tsv {{output.tsv}} --out-vcf {{output.vcf}} --quiet"
    )


def chunk_outputs(suffix):
    """The chunk files of scattered VCF ``wc.vcf``, in slice order (Snakemake's gather over its scatter key)."""
    return lambda wc: getattr(gather, plan.scatter_key(wc.vcf))(
        "results/variants/{vcf}.chunks/{scatteritem}" + suffix, vcf=wc.vcf)


rule score_variants:
    input:
        vcf=lambda wc: VARIANTS[wc.vcf]["vcf"],
        fasta=lambda wc: plan.variant_fasta(VARIANTS[wc.vcf], REFERENCE_PATHS),
        fai=lambda wc: plan.variant_fai(VARIANTS[wc.vcf], REFERENCE_PATHS),
        checked="results/variants/{vcf}.contigs.ok",
        model=lambda wc: model_input(VARIANTS[wc.vcf]["model"]),
    output:
        tsv="results/variants/{vcf}.tsv",
        vcf="results/variants/{vcf}.vcf.gz",
    wildcard_constraints:
        vcf=one_of(SINGLE_VCFS),
    params:
        model=lambda wc: wfconfig.model_path(VARIANTS[wc.vcf]["model"]),
        options=lambda wc: plan.score_options(VARIANTS[wc.vcf]),
        device=config["device"],
    threads: config["scoring_resources"]["cpus"]
    resources:
        **SCORING_RESOURCES,
    log:
        "logs/variants/{vcf}.log",
    shell:
        score_command()


# a scattered VCF: slice K of N scored by its own job (the same resources as a whole VCF's job) ...
rule score_variants_chunk:
    input:
        vcf=lambda wc: VARIANTS[wc.vcf]["vcf"],
        fasta=lambda wc: plan.variant_fasta(VARIANTS[wc.vcf], REFERENCE_PATHS),
        fai=lambda wc: plan.variant_fai(VARIANTS[wc.vcf], REFERENCE_PATHS),
        checked="results/variants/{vcf}.contigs.ok",
        model=lambda wc: model_input(VARIANTS[wc.vcf]["model"]),
    output:
        tsv="results/variants/{vcf}.chunks/{scatteritem}.tsv",
        vcf="results/variants/{vcf}.chunks/{scatteritem}.vcf.gz",
    wildcard_constraints:
        vcf=one_of(SCATTERED_VCFS),
    params:
        model=lambda wc: wfconfig.model_path(VARIANTS[wc.vcf]["model"]),
        options=lambda wc: plan.score_options(VARIANTS[wc.vcf]),
        device=config["device"],
        chunk=lambda wc: wc.scatteritem.replace("-of-", "/"),
    threads: config["scoring_resources"]["cpus"]
    resources:
        **SCORING_RESOURCES,
    log:
        "logs/variants/{vcf}.chunks/{scatteritem}.log",
    shell:
        score_command("--chunk {params.chunk} ")


# ... and one job merges the chunks into what a single job writes (byte for byte)
rule gather_variants:
    input:
        tsv=chunk_outputs(".tsv"),
        vcf=chunk_outputs(".vcf.gz"),
    output:
        tsv="results/variants/{vcf}.tsv",
        vcf="results/variants/{vcf}.vcf.gz",
    wildcard_constraints:
        vcf=one_of(SCATTERED_VCFS),
    log:
        "logs/variants/{vcf}.gather.log",
    shell:
        logged("hyenadna gather-variants --tsv {input.tsv} --vcf {input.vcf} --out-tsv {output.tsv} "
               "--out-vcf {output.vcf}")


rule plot_vep:
    input:
        expand("results/variants/{vcf}.tsv", vcf=list(VARIANTS)),
    output:
        report("results/plots/vep.png", caption="../report/vep.rst", category="4. Variant effects"),
    params:
        pairs=plan.labelled_paths("results/variants/{name}.tsv", VARIANTS),
    log:
        "logs/plots/vep.log",
    shell:
        logged("hyenadna workflow plot-vep --tsv {params.pairs} --out {output}")


if EMBEDDINGS:

    rule embed:
        input:
            fasta=lambda wc: EMBEDDINGS["sets"][wc.label],
            model=model_input(EMBEDDINGS["model"]),
        output:
            "results/embeddings/{label}.npz",
        wildcard_constraints:
            label=one_of(EMBEDDINGS["sets"]),
        params:
            model=wfconfig.model_path(EMBEDDINGS["model"]),
            pooling=EMBEDDINGS["pooling"],
            batch_size=EMBEDDINGS["batch_size"],
            device=config["device"],
        threads: config["scoring_resources"]["cpus"]
        resources:
            **SCORING_RESOURCES,
        log:
            "logs/embeddings/{label}.log",
        shell:
            logged("hyenadna embed -m {params.model} -f {input.fasta} -o {output} --pooling {params.pooling} "
                   "--batch-size {params.batch_size} --device {params.device} --quiet")

    rule plot_embeddings:
        input:
            expand("results/embeddings/{label}.npz", label=list(EMBEDDINGS["sets"])),
        output:
            report("results/plots/embeddings.png", caption="../report/embeddings.rst", category="5. Embeddings"),
        params:
            pairs=plan.labelled_paths("results/embeddings/{name}.npz", EMBEDDINGS["sets"]),
        log:
            "logs/plots/embeddings.log",
        shell:
            logged("hyenadna workflow plot-embeddings --npz {params.pairs} --out {output}")
