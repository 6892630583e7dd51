from harness.conformance.engine import CheckSet, failed, passed, run, skipped
from harness.journal import Journal

CHECKS = CheckSet()


@CHECKS.check("TOY-CERT-SIGNED", title="the vendor signs its notes", clause="toy §2")
def signed_calls(journal):
    calls = journal.query(platform="toy", limit=None)
    if not calls:
        return skipped("no toy exchange in the journal")
    unsigned = [c["id"] for c in calls if any(v["rule"] == "TOY-SIGN" and not v["held"] for v in c["verdicts"])]
    return failed(f"unsigned calls: {unsigned}") if unsigned else passed(f"{len(calls)} signed call(s)")


class ToyRole:
    name, platform, checks = "toy-vendor", "toy", CHECKS

    def __init__(self, store):
        self.journal = Journal(store)

    def run(self, seed=0):
        return run(role=self.name, platform="toy", target="journal", checks=self.checks, context=self.journal, seed=seed)
