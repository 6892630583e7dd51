"""DUDU: the 嘟嘟 bus card/QR platform (seed 003_edf56a179a04c451.txt), served under /dudu."""
