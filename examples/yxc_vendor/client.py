"""The reference vendor's filing client (000 附件四): only its enrolled key (harness.signing.Signer) and httpx.

    harness vendor add yxc --platnum A0001 --out keys/
    python -m examples.yxc_vendor.client --harness http://127.0.0.1:8000 --keys keys/ --platnum A0001 \\
        --stunum S123… --logininfo CODE --logoutinfo CODE

Uploads the files (A.5.3), files a coach (A.6.2.3.1) and a student (A.6.3.1.1), then a classrecord (A.6.3.2) whose
``logininfo``/``logoutinfo`` are the codes the province sent to the vendor's callback (000 附件二 code): a sign-in code
and a sign-out code (a practical record needs both, 000 附件四 表A.8 #24, #25). Every call is
signed with ``?v=&ts=&sign=&user=`` (D-YXC-SIGN). Prints each reply; exits 1 if any errorcode is not 0.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from fixtures import files
from fixtures.yxc import YxcData
from harness.signing import Signer

UPLOADS = {"coachimg": files.jpeg, "jsz": files.jpeg, "sfz": files.png, "pyht": files.pdf, "stuimg": files.jpeg}


class Client:
    def __init__(self, base_url: str, signer: Signer, http: httpx.Client | None = None) -> None:
        self.base = base_url.rstrip("/") + "/yxc"
        self.signer = signer
        self.http = http or httpx.Client(timeout=10)
        self.replies: list[tuple[str, dict[str, Any]]] = []

    def _reply(self, what: str, response: httpx.Response) -> dict[str, Any]:
        document = response.json()
        self.replies.append((what, document))
        return document

    def upload(self, kind: str, content: bytes) -> int:
        # imageup signs the raw bytes of the multipart field `file` (D-YXC-SIGN).
        params = self.signer.query(content)
        files_field = {"file": (f"{kind}.bin", content, "application/octet-stream")}
        reply = self._reply(f"imageup/{kind}", self.http.post(f"{self.base}/imageup/{kind}", params=params, files=files_field))
        if reply.get("errorcode") != 0:
            raise RuntimeError(f"imageup/{kind} refused: {reply}")
        return int(reply["data"]["id"])

    def file(self, operation: str, body: dict[str, Any]) -> dict[str, Any]:
        payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
        time.sleep(0.002)  # ts is in ms and is accepted once per certificate (D-YXC-TS-WINDOW)
        response = self.http.post(
            f"{self.base}/{operation}", params=self.signer.query(payload), content=payload, headers={"Content-Type": "application/json"}
        )
        return self._reply(operation, response)


def file_training(
    client: Client, platnum: str, stunum: str, logininfo: str, logoutinfo: str | None, seed: int = 0
) -> list[tuple[str, dict[str, Any]]]:
    """Upload, file coach and student, then the classrecord carrying the scan codes; returns every (operation, reply)."""
    data = YxcData(seed)
    ids = {}
    for kind, make in UPLOADS.items():
        ids[kind] = client.upload(kind, make())
        time.sleep(0.002)
    coach = data.coach(ids)
    client.file("coach", coach)
    client.file("student", data.student(ids, stunum=stunum))
    record = data.classrecord(
        stunum=stunum,
        coachnum=coach["coachnum"],
        platnum=platnum,
        photos=[ids["stuimg"], ids["stuimg"], ids["stuimg"]],
        logininfo=logininfo,
        logoutinfo=logoutinfo,
    )
    client.file("classrecord", record)
    return client.replies


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--harness", default="http://127.0.0.1:8000", help="where `harness serve` listens")
    parser.add_argument("--keys", required=True, type=Path, help="the directory `harness vendor add` wrote")
    parser.add_argument("--platnum", required=True)
    parser.add_argument("--stunum", required=True)
    parser.add_argument("--logininfo", required=True, help="the sign-in code the callback received")
    parser.add_argument(
        "--logoutinfo",
        required=True,
        help="the sign-out code the callback received (harness simulate yxc-scan --logout, or harness yxc issue-code --kind logout):"
        " this client files a practical record, and every record but remote teaching carries one (000 附件四 表A.8 #25 非远程网络教学为必填)",
    )
    args = parser.parse_args(argv)
    client = Client(args.harness, Signer.from_dir(args.keys))
    replies = file_training(client, args.platnum, args.stunum, args.logininfo, args.logoutinfo)
    for operation, reply in replies:
        print(f"{operation:18} {json.dumps(reply, ensure_ascii=False)}")
    sys.exit(0 if all(r.get("errorcode") == 0 for _, r in replies) else 1)


if __name__ == "__main__":
    main()
