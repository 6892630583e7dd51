"""ZJPX: the vocational-training online-learning supervision platform (seed 002)."""
