"""StyleGAN2-ADA written for this project: networks (``networks``, ``ops``), augmentation (``augment``), losses
with a pair discriminator (``loss``), the training loop (``train``) and a resumable run folder (``session``),
checkpoints incl. safe import of official pickles (``checkpoint``), the data set in memory (``dataset``), and the
measures of a generator (``critic``, ``metrics``)."""
