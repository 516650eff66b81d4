# Meta-SFT pipeline: fine-tune per domain, collect golden labels, train the model to predict its own
# generalization, and measure the prediction against ground truth and baselines. See README.md.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/suite.smk"
include: "rules/pretrain_base.smk"
include: "rules/finetune.smk"
include: "rules/sample_answers.smk"
include: "rules/meta.smk"
include: "rules/score.smk"
include: "rules/pair_result.smk"
include: "rules/metrics.smk"
include: "rules/inverse.smk"
include: "rules/plots.smk"
include: "rules/replicates.smk"
include: "rules/selection.smk"
include: "rules/live_selection.smk"


# metasft ask --verify asks the run itself; a replicate module (which may lack the finetune rule) has no queries
if config["replicate_of"] is None:

    include: "rules/ask.smk"


rule all:
    input:
        get_final_output,
    default_target: True

