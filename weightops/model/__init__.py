"""What the bytes are: the model card, environment capture, signatures, weight-file readers,
weight checks and validation. May import core, storage and registry."""
