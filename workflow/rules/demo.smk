# The embedded demo: load the configured model, embed and score the bundled sequences.


rule demo:
    input:
        config="config/config.yaml",
        embed=list(config["demo"]["embed"].values()),
        loglik=config["demo"]["loglik"]["fasta"],
    output:
        summary="results/demo/summary.md",
        embeddings="results/demo/embeddings.npz",
        plot="results/demo/embeddings_pca.png",
        loglik="results/demo/loglik.tsv",
    log:
        "logs/demo.log",
    shell:
        "hyenadna demo --config {input.config} --out results/demo --quiet > {log} 2>&1"
