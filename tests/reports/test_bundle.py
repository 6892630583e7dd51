import json

import pytest
from click.testing import CliRunner
from cryptography import x509

from harness.cli import main
from harness.pki import ca
from harness.reports.bundle import signing_identity, verify_bundle
from harness.schema import open_store
from tests.reports.sample_run import write


@pytest.fixture
def bundle(tmp_path):
    out = tmp_path / "out"
    assert write(out, tmp_path / "h.db") == 1  # one mandatory check failed
    return out, tmp_path / "h.db"


def verify(*args):
    return CliRunner().invoke(main, ["report", "verify", *map(str, args)])


def test_the_bundle_lists_and_signs_every_file(bundle):
    out, _ = bundle
    assert sorted(p.name for p in out.iterdir()) == [
        "junit.xml",
        "manifest.json",
        "manifest.sig",
        "report.html",
        "report.json",
        "report.pdf",
        "signer.pem",
    ]
    manifest = json.loads((out / "manifest.json").read_text())
    assert sorted(manifest["files"]) == ["junit.xml", "report.html", "report.json", "report.pdf", "signer.pem"]
    result = verify(out)
    assert result.exit_code == 0 and "intact" in result.output


def test_one_changed_byte_of_report_json_fails(bundle):
    out, _ = bundle
    data = bytearray((out / "report.json").read_bytes())
    data[10] ^= 0x01
    (out / "report.json").write_bytes(bytes(data))
    result = verify(out)
    assert result.exit_code == 1
    assert "changed: report.json" in result.output


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        (lambda out: (out / "junit.xml").unlink(), "missing: junit.xml"),
        (lambda out: (out / "extra.txt").write_text("x"), "extra: extra.txt"),
        (
            lambda out: (out / "manifest.json").write_text((out / "manifest.json").read_text().replace("sha256", "sha257", 1)),
            "manifest.json",
        ),
        (lambda out: (out / "manifest.sig").unlink(), "missing: manifest.sig"),
    ],
)
def test_every_edit_is_named(bundle, edit, named):
    out, _ = bundle
    edit(out)
    result = verify(out)
    assert result.exit_code == 1 and named in result.output


def test_the_signing_key_lives_in_the_store_and_the_test_ca_issued_it(bundle, tmp_path):
    out, db = bundle
    store = open_store(db)
    key, cert, ca_cert = signing_identity(store)
    assert signing_identity(store)[1] == cert  # created once, reused
    assert ca_cert == ca(store)[1]
    cert.verify_directly_issued_by(ca_cert)
    assert x509.load_pem_x509_certificates((out / "signer.pem").read_bytes())[0] == cert
    assert verify(out, "--db", db).exit_code == 0
    # Against another store's CA the same bundle is not trusted.
    assert verify_bundle(out, ca(open_store(tmp_path / "other.db"))[1]).ok is False


def test_a_rerun_into_the_same_directory_verifies(bundle):
    out, db = bundle
    assert write(out, db) == 1
    assert verify(out).exit_code == 0


def test_a_directory_holding_other_files_is_refused(tmp_path, capsys):
    out = tmp_path / "project"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert write(out, tmp_path / "h.db") == 2
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    assert "holds other files (notes.txt)" in capsys.readouterr().err
