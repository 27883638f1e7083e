"""Ranking on MovieLens-100k: EASE history retrieval and a DCN-v2 click model that re-scores its
candidates (trained with two auxiliary towers that are not exported)."""
