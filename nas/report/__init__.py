"""What a search leaves in its run directory: the Pareto front (``pareto.json``, ``pareto.csv``), every
candidate (``candidates.csv``), plots (front accuracy vs latency beside the zoo's hand-designed models,
hypervolume over trials, latency against MACs and params) as PNG and ``report.html``, the Spearman rank
correlations of MACs and params with measured engine latency, and the front's networks exported to ONNX and
engine files."""

from nas.report.tables import (
    candidate_rows,
    front_rows,
    hypervolume_curve,
    spearman_figures,
    write_report,
)

__all__ = ["candidate_rows", "front_rows", "hypervolume_curve", "spearman_figures", "write_report"]
