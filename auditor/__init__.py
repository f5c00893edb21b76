"""mlops-auditor: audit a machine-learning project's git repository against the MLOps Maturity
Assessment, answering each statement with the evidence behind it."""

__version__ = "0.1.0"
