"""YMT: the 一码通 city identity-code platform (seed 001): signing, reply encryption, masking and the emergency code.

The reference platform served under /ymt is built on :mod:`harness.ymt.crypto`; its interfaces are specified in
``specs/ymt/platform.yaml`` and every harness-defined choice is listed in ``specs/decisions.yaml`` (``D-YMT-…``).
"""
