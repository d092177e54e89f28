"""Single-image reconstruction measured against ground truth: the variants (oracles, the chain, baselines), the
error split per stage, retrieval from a 3D library (the ``template`` baseline), pictures and the offline report."""
