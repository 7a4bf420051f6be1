# `snakemake demo`: the bundled random parity model loaded, embedded and scored (hyenadna demo; not part of `all`).

if "demo" in config:

    rule demo:
        input:
            embed=list(config["demo"]["embed"].values()),
            loglik=config["demo"]["loglik"]["fasta"],
        output:
            summary="results/demo/summary.md",
            embeddings="results/demo/embeddings.npz",
            plot="results/demo/embeddings_pca.png",
            loglik="results/demo/loglik.tsv",
        params:
            config=CONFIG_SOURCE,  # the Snakefile's: with several --configfile, the last one wins
        log:
            "logs/demo.log",
        shell:
            logged("hyenadna demo --config {params.config} --out results/demo --quiet")
