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
