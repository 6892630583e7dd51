"""ZJPX: the vocational-training online-learning supervision platform (seed 002, INTERFACES.md §3)."""
