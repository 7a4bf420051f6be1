# Variant-effect scores per VCF (checked against the genome first) and embeddings with their 2-D map.


def _fasta(job):
    return RP["prepared"] if job["fasta"] == "reference" else job["fasta"]


for _name, _job in VARIANTS.items():

    # its own job, so that a VCF on the wrong assembly stops the run before pretraining, not after it
    rule:
        name:
            f"check_vcf_{_name}"
        input:
            vcf=_job["vcf"],
            fasta=_fasta(_job),
            fai=[RP["fai"]] if _job["fasta"] == "reference" else [],
        output:
            f"results/variants/{_name}.contigs.ok",
        params:
            key=f"variants.{_name}.vcf",
            allow="--allow-missing" if _job["allow_missing_contigs"] else "",
        localrule: True
        log:
            f"logs/variants/{_name}.check.log",
        shell:
            logged("hyenadna workflow check-vcf {input.vcf} {input.fasta} --key {params.key} {params.allow} "
                   "&& touch {output}")

    rule:
        name:
            f"score_variants_{_name}"
        input:
            vcf=_job["vcf"],
            fasta=_fasta(_job),
            fai=[RP["fai"]] if _job["fasta"] == "reference" else [],
            checked=f"results/variants/{_name}.contigs.ok",
            model=model_input(_job["model"]),
        output:
            tsv=f"results/variants/{_name}.tsv",
            vcf=f"results/variants/{_name}.vcf.gz",
        params:
            model=model_arg(_job["model"]),
            options=" ".join(
                ([f"--window {_job['window']}"] if _job["window"] else [])
                + (["--embedding-distance"] if _job["embedding_distance"] else [])
            ),
            device=config["device"],
        threads: config["scoring_resources"]["cpus"]
        resources:
            **res(config["scoring_resources"]),
        log:
            f"logs/variants/{_name}.log",
        shell:
            logged(
                "hyenadna score-variants -m {params.model} -f {input.fasta} --vcf {input.vcf} {params.options} "
                "--device {params.device} --out-tsv {output.tsv} --out-vcf {output.vcf} --quiet"
            )


rule plot_vep:
    input:
        expand("results/variants/{name}.tsv", name=list(VARIANTS)),
    output:
        report("results/plots/vep.png", caption="../report/vep.rst", category="4. Variant effects"),
    params:
        pairs=" ".join(f"{name}=results/variants/{name}.tsv" for name in VARIANTS),
    log:
        "logs/plots/vep.log",
    shell:
        logged("hyenadna workflow plot-vep --tsv {params.pairs} --out {output}")


if EMB:

    rule embed:
        input:
            fasta=lambda wc: EMB["sets"][wc.label],
            model=model_input(EMB["model"]),
        output:
            "results/embeddings/{label}.npz",
        params:
            model=model_arg(EMB["model"]),
            pooling=EMB["pooling"],
            batch_size=EMB["batch_size"],
            device=config["device"],
        threads: config["scoring_resources"]["cpus"]
        resources:
            **res(config["scoring_resources"]),
        log:
            "logs/embeddings/{label}.log",
        shell:
            logged("hyenadna embed -m {params.model} -f {input.fasta} -o {output} --pooling {params.pooling} "
                   "--batch-size {params.batch_size} --device {params.device} --quiet")

    rule plot_embeddings:
        input:
            expand("results/embeddings/{label}.npz", label=list(EMB["sets"])),
        output:
            report("results/plots/embeddings.png", caption="../report/embeddings.rst", category="5. Embeddings"),
        params:
            pairs=" ".join(f"{label}=results/embeddings/{label}.npz" for label in EMB["sets"]),
        log:
            "logs/plots/embeddings.log",
        shell:
            logged("hyenadna workflow plot-embeddings --npz {params.pairs} --out {output}")
