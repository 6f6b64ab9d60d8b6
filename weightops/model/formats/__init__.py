"""Readers for the weight file formats weightops validates, one module per format."""
