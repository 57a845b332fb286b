"""One module per data set; each registers a builder in ``experiments.data.registry.DATASETS``."""
