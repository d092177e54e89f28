"""Car silhouettes: DeepLabV3 segmenter, its weights, synthetic training composites, mask clean-up."""
