# Data made before the stages read it: a pip data package's files (rule data_package) and the tasks derived
# from a GFF3 annotation (rule derive_tasks: hyenadna workflow derive-tasks -> results/tasks/). Paths and
# outputs come from hyenadna_kipoi.workflow.derived; the config checks accept these outputs as inputs.

from hyenadna_kipoi.workflow import derived

DATA_PACKAGE = config.get("data_package")
ANNOTATION_TASKS = config.get("annotation_tasks")

if DATA_PACKAGE:

    rule data_package:
        input:
            DATA_PACKAGE["requirements"],
        output:
            list(derived.package_outputs(config)),
        params:
            package=DATA_PACKAGE["package"],
            files=" ".join(shlex.quote(f) for f in DATA_PACKAGE["files"]),
            dir=DATA_PACKAGE["dir"],
        log:
            "logs/data/package.log",
        shell:
            logged("hyenadna workflow package-data {params.package} {params.files} --requirements {input} "
                   "--out {params.dir}")

if ANNOTATION_TASKS:

    rule derive_tasks:
        input:
            gff=ANNOTATION_TASKS["gff"],
            fasta=ANNOTATION_TASKS["fasta"],
            regions=ANNOTATION_TASKS["regions"],
        output:
            **{name: directory(path) if name == "promoters" else path
               for name, path in derived.task_outputs(config).items()},
        params:
            settings=json_arg(derived.task_settings(config)),
            seed=ANNOTATION_TASKS["seed"],
            out=derived.TASKS_DIR,
        log:
            "logs/data/derive_tasks.log",
        shell:
            logged("hyenadna workflow derive-tasks --gff {input.gff} --fasta {input.fasta} --regions {input.regions} "
                   "--out {params.out} --settings {params.settings} --seed {params.seed}")

CLASS_VCFS = derived.class_vcf_jobs(config)

if CLASS_VCFS:

    # AUROC of -LLR separating constrained from less constrained positions of the derived VCF, beside Markov
    rule variant_classes:
        input:
            tsv="results/variants/{vcf}.tsv",
            vcf=derived.TASKS_DIR + "/variants.vcf",
            fasta=REFERENCE_PATHS["prepared"],
            fai=REFERENCE_PATHS["fai"],
            train="results/pretrain/intervals/train.bed",
        output:
            report("results/variants/{vcf}.classes.tsv", caption="../report/variant_classes.rst",
                   category="4. Variant effects"),
        wildcard_constraints:
            vcf=plan.one_of(CLASS_VCFS),
        params:
            order=min(config["pretrain"]["config"].get("eval", {}).get("markov_max_order", 5), 5),
        log:
            "logs/variants/{vcf}.classes.log",
        shell:
            logged("hyenadna workflow variant-classes --tsv {input.tsv} --vcf {input.vcf} --fasta {input.fasta} "
                   "--train {input.train} --order {params.order} --out {output}")

if derived.biotype_probe(config):

    # linear probe of gene biotype: mean-pooled embeddings of the pretrained model vs k-mer frequencies
    rule biotype_probe:
        input:
            model="results/pretrain/model",
            fasta=[path for name, path in derived.task_outputs(config).items()
                   if name.startswith(("biotype_train", "biotype_test"))],
        output:
            report("results/probe/biotype.tsv", caption="../report/biotype_probe.rst", category="5. Embeddings"),
        params:
            tasks=derived.TASKS_DIR + "/biotype",
            device=config["device"],
        threads: config["scoring_resources"]["cpus"]
        resources:
            **SCORING_RESOURCES,
        log:
            "logs/probe/biotype.log",
        shell:
            logged("hyenadna workflow biotype-probe --model {input.model} --tasks {params.tasks} "
                   "--device {params.device} --out {output}")
