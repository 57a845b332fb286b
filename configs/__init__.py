"""Hydra config groups (the YAML files beside this module) and the structured
configs (dataclasses in ``schema``) that validate them, plus the name registry
every other package uses to make its parts selectable from a config."""
