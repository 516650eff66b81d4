rule plots:
    input:
        metrics=f"{RESULTS}/metrics/metrics.csv",
        comparisons=f"{RESULTS}/metrics/comparisons.csv",
        propensities=f"{RESULTS}/metrics/propensities.parquet",
        predictions=f"{RESULTS}/metrics/predictions.parquet",
        suite=f"{RESULTS}/suite/suite.json",
    output:
        rmse_by_quadrant=report(
            f"{RESULTS}/plots/rmse_by_quadrant.png",
            caption="../report/rmse_by_quadrant.rst",
            category="Metrics",
        ),
        correlation_by_quadrant=report(
            f"{RESULTS}/plots/correlation_by_quadrant.png",
            caption="../report/correlation_by_quadrant.rst",
            category="Metrics",
        ),
        leak_by_quadrant=report(
            f"{RESULTS}/plots/leak_by_quadrant.png",
            caption="../report/leak_by_quadrant.rst",
            category="Metrics",
        ),
        comparisons=report(
            f"{RESULTS}/plots/comparisons.png",
            caption="../report/comparisons.rst",
            category="Metrics",
        ),
        calibration=report(
            f"{RESULTS}/plots/calibration.png",
            caption="../report/calibration.rst",
            category="Calibration",
        ),
        scatter=report(
            f"{RESULTS}/plots/scatter.png",
            caption="../report/scatter.rst",
            category="Calibration",
        ),
        golden_heatmap=report(
            f"{RESULTS}/plots/golden_heatmap.png",
            caption="../report/golden_heatmap.rst",
            category="Golden labels",
        ),
    log:
        f"{LOGS}/plots.log",
    conda:
        "../envs/analysis.yaml"
    script:
        "../workflow/scripts/plots.py"


# The NL methods (config nl.enabled) against the ICL ones: structured examples or plain-word descriptions of T.
rule nl_plots:
    input:
        metrics=f"{RESULTS}/metrics/metrics.csv",
    output:
        nl_by_quadrant=report(
            f"{RESULTS}/plots/nl_by_quadrant.png",
            caption="../report/nl_by_quadrant.rst",
            category="Metrics",
        ),
    log:
        f"{LOGS}/nl_plots.log",
    conda:
        "../envs/analysis.yaml"
    script:
        "../workflow/scripts/nl_plots.py"
