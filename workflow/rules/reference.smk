# Reference genome: checksum-verified download, decompression + FASTA index, assembly gaps + blacklist BED.

if REFERENCE:
    if REFERENCE["url"]:

        rule download_reference:
            output:
                REFERENCE_PATHS["fasta"],
            params:
                url=REFERENCE["url"],
                checks=plan.checksum_options(REFERENCE),
            log:
                "logs/reference/download.log",
            shell:
                logged("hyenadna workflow download {params.url} {output} {params.checks} --quiet")

    if REFERENCE["regions"] and REFERENCE["regions"]["url"]:

        rule download_regions:
            output:
                REFERENCE_PATHS["regions"],
            params:
                url=REFERENCE["regions"]["url"],
                checks=plan.checksum_options(REFERENCE["regions"]),
            log:
                "logs/reference/download_regions.log",
            shell:
                logged("hyenadna workflow download {params.url} {output} {params.checks} --quiet")

    rule index_reference:
        input:
            REFERENCE_PATHS["fasta"],
        output:
            fai=REFERENCE_PATHS["fai"],
            # the decompressed FASTA, when the index is not built on the downloaded or given file itself
            **({"prepared": REFERENCE_PATHS["prepared"]}
               if REFERENCE_PATHS["prepared"] != REFERENCE_PATHS["fasta"] else {}),
        params:
            prepared=REFERENCE_PATHS["prepared"],
        log:
            "logs/reference/index.log",
        shell:
            logged("hyenadna workflow index {input} --prepared {params.prepared} --quiet")

    rule gaps:
        input:
            fasta=REFERENCE_PATHS["prepared"],
            fai=REFERENCE_PATHS["fai"],
            blacklist=REFERENCE["blacklist"] or [],
        output:
            REFERENCE_PATHS["excluded"],
        params:
            blacklist=f"--blacklist {REFERENCE['blacklist']}" if REFERENCE["blacklist"] else "",
            min_gap=REFERENCE["min_gap"],
        log:
            "logs/reference/gaps.log",
        shell:
            logged("hyenadna workflow gaps {input.fasta} --out {output} {params.blacklist} --min-gap {params.min_gap} --quiet")
