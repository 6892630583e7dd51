"""A remote-teaching APP's jump to the mini-program (000 附件三; 2.2 1)), as a vendor's test build makes it against the harness.

The real APP calls WeChat's ``launchMiniProgram`` with ``path`` = the page and its parameters, within 2 minutes after
its own photo check passed. Against the harness the "mini-program" is the control endpoint, which grades and records
the jump and answers ``{code, expirationtime, stunum}`` (the code is then filed as the classrecord's ``logininfo``)::

    python -m examples.yxc_vendor.app_jump --harness http://127.0.0.1:8000 --stunum S440100200001234 --app-name 粤驾学堂
    harness certify yxc-app-jump --app-name 粤驾学堂 --report out/        # grade the jumps recorded for that APP

Planted defects (``--defect NAME``; examples/defects/yxc-app-jump.yaml lists the checks each must fail):
  no-jump            the APP never opens the page                         (000 2.2 1))
  wrong-page         pages/solid/solid-sign-in (the seed's "soild" fixed) (000 附件三 小程序页面地址)
  no-responsetype    responseType left out                                (000 附件三 请求参数 1 必填)
  from-ios           from=ios instead of from=app                          (000 附件三 请求参数 2)
  empty-appname      appName empty                                        (000 附件三 请求参数 3 必填)
  extra-param        a fourth parameter &debug=1                          (000 附件三 请求参数, advice beyond the seed)
  late               the page opens 150 s after the photo check           (000 2.2 1) 2 分钟内跳转)
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any
from urllib.parse import quote

import httpx

PAGE = "pages/soild/soild-sign-in"  # 000 附件三, spelt as the seed (and the deployed page) spell it
ENDPOINT = "/_harness/yxc/app-jump"
DEFECTS = ("no-jump", "wrong-page", "no-responsetype", "from-ios", "empty-appname", "extra-param", "late")


def page_path(app_name: str, defect: str | None = None) -> str:
    """The ``path`` the APP passes to launchMiniProgram: the seed's example order, appName percent-encoded."""
    page = "pages/solid/solid-sign-in" if defect == "wrong-page" else PAGE
    params = [("from", "ios" if defect == "from-ios" else "app"), ("appName", "" if defect == "empty-appname" else app_name)]
    if defect != "no-responsetype":
        params.append(("responseType", "code"))
    if defect == "extra-param":
        params.append(("debug", "1"))
    return page + "?" + "&".join(f"{k}={quote(v, safe='')}" for k, v in params)


def open_page(client: httpx.Client, stunum: str, app_name: str, defect: str | None = None) -> dict[str, Any] | None:
    """After the APP's own photo check passed, open the mini-program page; returns the mini-program's answer and grade
    (None when the defect is that the APP never jumps)."""
    if defect is not None and defect not in DEFECTS:
        raise ValueError(f"unknown defect {defect!r}; one of {', '.join(DEFECTS)}")
    if defect == "no-jump":
        return None
    photo_checked_at = time.time() - (150 if defect == "late" else 3)  # the APP's backend records when its check passed
    body = {"path": page_path(app_name, defect), "stunum": stunum, "photo_checked_at": round(photo_checked_at, 3)}
    response = client.post(ENDPOINT, json=body)
    response.raise_for_status()
    return response.json()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--harness", default="http://127.0.0.1:8000", help="harness serve's base URL")
    parser.add_argument("--stunum", required=True, help="学员统一编号 (16 characters)")
    parser.add_argument("--app-name", required=True, help="the APP's name (appName)")
    parser.add_argument("--defect", default=None, choices=DEFECTS)
    args = parser.parse_args(argv)
    with httpx.Client(base_url=args.harness, timeout=10) as client:
        print(json.dumps(open_page(client, args.stunum, args.app_name, args.defect), ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
