"""Neural architecture search (issue to come): search spaces built from
``lightweight_models`` blocks, strategies driven by Optuna samplers, and
latency predictors fed by measurements on the bundled engine."""
