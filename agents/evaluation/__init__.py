"""How fishing policies are judged: the population protocol (:mod:`~agents.evaluation.protocol`: held-out seeds,
levels, Wilson intervals, paired comparisons), its report writers (:mod:`~agents.evaluation.report`,
:mod:`~agents.evaluation.model_card`) and ``python -m agents.evaluation`` (``make evaluate``).

The protocol module needs only numpy and the envs; the command also loads the exported models (torch,
onnxruntime)."""
