"""Hydra entry points (``python -m experiments.<name>``) and the workbench
runtime they share: data sets, the training loop, tracking and run directories."""
