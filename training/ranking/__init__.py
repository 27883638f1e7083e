"""Ranking: two-tower candidate generation + a DCN-v2 click model, trained together on MovieLens-100k."""
