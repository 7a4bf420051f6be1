"""What the Snakemake workflow needs beyond the stage CLIs, one job per module.

- :mod:`.config`: validate the workflow config (``check_schema``, ``setup``), the reference's
  paths, and the per-stage configs (``write_stage_config``); imported by the Snakefile at parse time.
- :mod:`.plan`: what each rule reads, writes and asks for (inputs, outputs, resources), so that the
  .smk files only choose them.
- :mod:`.reference`: checksum-verified download, FASTA index, gaps + blacklist BED.
- :mod:`.checks`: a VCF's contigs against the genome; a pretraining run's stale checkpoints.
- :mod:`.plots`: the report's summary figures (variant scores, embedding map, fine-tuning).
- :mod:`.commands`: ``hyenadna workflow STEP``, the rules' small steps.

No torch import in :mod:`.config` and :mod:`.plan`: the Snakefile imports it when it parses the workflow.
"""
