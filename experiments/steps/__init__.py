"""Pipeline steps, one module each; every module registers its step in ``experiments.pipeline.STEPS``.

They live apart from the entry points so that a step is registered whenever the
pipeline runs, including in launcher worker processes that never import the
entry-point module by name.
"""
