"""Reporters: adapters from the conformance event stream to the writers (which only format).

``harness.conformance.runner.REPORTERS`` names these by import path; each is built with no arguments and takes
what it needs (the report directory, the store) from the run context.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.config import default_db_path
from harness.conformance.model import Event
from harness.conformance.runner import RunContext
from harness.reports import bundle, document, html_report, json_report, junit_report, pdf_report


class FileReporter:
    """Writes one file of the bundle when the run ends, from the report document."""

    filename = ""
    writer: Callable[[dict[str, Any]], str | bytes]

    def start(self, ctx: RunContext) -> None:
        ctx.report_dir.mkdir(parents=True, exist_ok=True)
        (ctx.report_dir / self.filename).unlink(missing_ok=True)  # never leave a stale file from an earlier run

    def handle_event(self, ctx: RunContext, event: Event) -> None:
        pass  # everything it needs is in the run context when the run ends

    def shutdown(self, ctx: RunContext) -> None:
        output = type(self).writer(document.build(ctx))
        path = ctx.report_dir / self.filename
        if isinstance(output, bytes):
            path.write_bytes(output)
        else:
            path.write_text(output, encoding="utf-8")


class JsonReporter(FileReporter):
    filename = "report.json"
    writer = staticmethod(json_report.render)


class HtmlReporter(FileReporter):
    filename = "report.html"
    writer = staticmethod(html_report.render)


class PdfReporter(FileReporter):
    filename = "report.pdf"
    writer = staticmethod(pdf_report.render)


class JunitReporter(FileReporter):
    filename = "junit.xml"
    writer = staticmethod(junit_report.render)


BUNDLE_FILES = frozenset({"report.json", "report.html", "report.pdf", "junit.xml", bundle.MANIFEST, bundle.SIGNATURE, bundle.SIGNER})


class BundleSigner:
    """Last reporter of a run: signs every file the others wrote (manifest.json, manifest.sig, signer.pem)."""

    def start(self, ctx: RunContext) -> None:
        # The manifest covers the whole directory: `--report .` must not sign (and later "verify") a whole project.
        if ctx.report_dir.exists():
            foreign = sorted(p.name for p in ctx.report_dir.iterdir() if p.name not in BUNDLE_FILES)
            if foreign:
                shown = ", ".join(foreign[:3]) + (" …" if len(foreign) > 3 else "")
                raise FileExistsError(f"report directory {ctx.report_dir} holds other files ({shown}); use a new or empty one")
        ctx.report_dir.mkdir(parents=True, exist_ok=True)
        for name in (bundle.MANIFEST, bundle.SIGNATURE, bundle.SIGNER):
            (ctx.report_dir / name).unlink(missing_ok=True)

    def handle_event(self, ctx: RunContext, event: Event) -> None:
        pass

    def shutdown(self, ctx: RunContext) -> None:
        from harness.schema import open_store

        store = open_store(ctx.db or default_db_path())
        try:
            bundle.sign_bundle(ctx.report_dir, store)
        finally:
            store.close()
