"""Ranking on MovieLens-100k: EASE history retrieval (served), a DCN-v2 click model and two towers
(trained together with it, no longer served)."""
