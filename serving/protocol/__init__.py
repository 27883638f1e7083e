"""Inference protocol rules shared by the gateway and the transformers (no servers, no models)."""
