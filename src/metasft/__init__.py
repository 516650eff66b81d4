"""Meta-SFT: fine-tune per domain, collect golden labels, train a model to predict its own generalization.

Importing the package is cheap (no torch): the Snakemake workflow imports it to build the DAG.
"""

__version__ = "0.1.0"
