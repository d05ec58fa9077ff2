"""Training side of a2f: datasets, synthetic data, the training loop and the CLI (torch lives here)."""
