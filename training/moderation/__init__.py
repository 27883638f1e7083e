"""Moderation: harmful-content heads (spam today) over normalised email text."""
