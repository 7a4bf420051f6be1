# Reference genome: checksum-verified download, decompression + FASTA index, assembly gaps + blacklist BED.

if REF:
    if REF["url"]:

        rule download_reference:
            output:
                RP["fasta"],
            params:
                url=REF["url"],
                checks=" ".join(f"--{a} {REF[a]}" for a in ("sha256", "md5") if REF[a]),
            log:
                "logs/reference/download.log",
            shell:
                logged("hyenadna workflow download {params.url} {output} {params.checks} --quiet")

    if REF["regions"] and REF["regions"]["url"]:

        rule download_regions:
            output:
                RP["regions"],
            params:
                url=REF["regions"]["url"],
                checks=" ".join(f"--{a} {REF['regions'][a]}" for a in ("sha256", "md5") if REF["regions"][a]),
            log:
                "logs/reference/download_regions.log",
            shell:
                logged("hyenadna workflow download {params.url} {output} {params.checks} --quiet")

    rule index_reference:
        input:
            RP["fasta"],
        output:
            fai=RP["fai"],
            **({"prepared": RP["prepared"]} if RP["prepared"] != RP["fasta"] else {}),
        params:
            prepared=RP["prepared"],
        log:
            "logs/reference/index.log",
        shell:
            logged("hyenadna workflow index {input} --prepared {params.prepared} --quiet")

    rule gaps:
        input:
            fasta=RP["prepared"],
            fai=RP["fai"],
            blacklist=REF["blacklist"] or [],
        output:
            RP["excluded"],
        params:
            blacklist=f"--blacklist {REF['blacklist']}" if REF["blacklist"] else "",
            min_gap=REF["min_gap"],
        log:
            "logs/reference/gaps.log",
        shell:
            logged("hyenadna workflow gaps {input.fasta} --out {output} {params.blacklist} --min-gap {params.min_gap} --quiet")
