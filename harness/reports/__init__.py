"""Reports: writers that only format (json, html, pdf, junit), the signed bundle, and the reporters that feed them.

Reporters (``handlers.py``) consume the conformance event stream through ``harness.conformance.runner``; the
report document (``document.py``) is built from the run context once and masked there, so no writer ever sees
unmasked personal data.
"""
