"""A real browser (Debian's headless Chromium) reads a hostile site through a real node.

Chromium's own network log (``--log-net-log``) records every request it makes;
the test asserts that each one goes to the gateway and that none of the
outside hosts named by the site was even looked up. Screenshots of the home
page and of the site are written to the test's temporary directory (the path is
printed) for the test log. Chromium is installed with apt-get when missing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import zlib
from pathlib import Path

import anyio
import httpx
import pytest

from node.client.manifest import SiteFile

from .test_gateway_content import _png
from .test_gateway_node import node_with_gateway

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]

OUTSIDE = ("tracker.example", "evil.example", "cdn.example", "fonts.example", "leak.example")
HOSTILE_PAGE = b"""<!DOCTYPE html>
<html><head><title>A hostile freesite</title>
<meta http-equiv="refresh" content="5;url=http://leak.example/refresh">
<link rel="stylesheet" href="style.css">
<link rel="stylesheet" href="http://cdn.example/x.css">
<link rel="dns-prefetch" href="//leak.example"><link rel="preconnect" href="https://leak.example">
<link rel="icon" href="http://tracker.example/favicon.ico">
<script src="http://evil.example/x.js"></script>
<style>@import url(http://cdn.example/imp.css);
@font-face { font-family: F; src: url(http://fonts.example/f.woff); }
h1 { font-family: F; background: url('//tracker.example/bg.png') }</style>
</head><body background="http://tracker.example/body.png">
<h1>Welcome to the freesite</h1>
<p style="background-image:url(http://tracker.example/inline.png)">A local picture:</p>
<img src="pic.png" width="120" height="120" alt="a red square">
<img src="http://tracker.example/pixel.gif" srcset="http://tracker.example/2x.gif 2x">
<img src="data:image/svg+xml,<svg xmlns='http://www.w3.org/2000/svg'><image href='http://evil.example/s.png'/></svg>">
<iframe src="http://evil.example/frame"></iframe>
<object data="http://evil.example/o.swf"></object>
<video poster="http://tracker.example/poster.jpg" src="http://cdn.example/v.mp4"></video>
<svg><image href="http://evil.example/svg.png"/><script>fetch('http://evil.example')</script></svg>
<form action="http://evil.example/post"><input name=q><button>Go</button></form>
<a href="http://evil.example/page">an outside link</a> and <a href="page2.html">page two</a>
<div style="width:100px;height:20px;background:url(&#104;ttp://tracker.example/ent.png)"></div>
</body></html>
"""
STYLE = (
    b"body{font-family:sans-serif;background:#f4f1e8;color:#222;margin:2em}"
    b"h1{color:#8b1e1e}@import 'http://cdn.example/more.css';"
    b"p{border:1px solid url(http://tracker.example/b.png)}"
)


def chromium() -> str:
    """Debian's Chromium, installed with apt-get when missing (CI starts bare)."""
    found = shutil.which("chromium")
    if found:
        return found
    if shutil.which("apt-get") is None:
        pytest.skip("Chromium is not installed and apt-get is unavailable to install it")
    if os.geteuid() != 0:
        pytest.skip("Chromium is not installed and installing it needs root")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update"], check=True, env=env, capture_output=True)
    subprocess.run(
        ["apt-get", "install", "-y", "--no-install-recommends", "chromium"],
        check=True, env=env, capture_output=True,
    )  # fmt: skip
    found = shutil.which("chromium")
    assert found, "apt-get installed chromium but it is not on PATH"
    return found


async def browse(
    binary: str, url: str, workdir: Path, name: str
) -> tuple[Path, list[tuple[str, str]], str]:
    """Load ``url`` in a fresh profile: the screenshot, every request started as
    (URL, initiator) from Chromium's net log, and the raw net log."""
    profile = workdir / f"profile-{name}"
    profile.mkdir()
    netlog = workdir / f"{name}.netlog.json"
    shot = workdir / f"{name}.png"
    await anyio.run_process(
        [
            binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", f"--user-data-dir={profile}", "--hide-scrollbars",
            # Chromium's own services (updates, sign-in, autofill, models) stay off,
            # and nothing but 127.0.0.1 resolves: the test never reaches the Internet
            "--disable-default-apps", "--disable-extensions", "--no-pings",
            "--disable-domain-reliability", "--disable-client-side-phishing-detection",
            "--disable-features=OptimizationHints,OptimizationGuideModelDownloading,"
            "AutofillServerCommunication,MediaRouter,Translate,SignInProfileCreation,"
            "AccountConsistency,ChromeSignin",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            "--window-size=1000,800", "--virtual-time-budget=3000",
            f"--log-net-log={netlog}", f"--screenshot={shot}", url,
        ],
        check=True,
    )  # fmt: skip
    text = netlog.read_text("utf-8", "replace")
    log = json.loads(text if text.rstrip().endswith("}") else text.rstrip().rstrip(",") + "]}")
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    requests = sorted(
        {
            (str(event["params"]["url"]), str(event["params"].get("initiator", "")))
            for event in log.get("events", [])
            if event.get("type") == start_job and "url" in event.get("params", {})
        }
    )
    return shot, requests, text


@pytest.mark.timeout(900)  # a first run may install Chromium
async def test_browser_requests_only_the_gateway(tmp_path: Path) -> None:
    binary = chromium()
    async with node_with_gateway(tmp_path / "node") as (node, inserter):
        port = node.ports["http_port"]
        origin = f"http://127.0.0.1:{port}"
        files = {
            "index.html": SiteFile(data=HOSTILE_PAGE, mime="text/html"),
            "page2.html": SiteFile(data=b"<h1>Two</h1>", mime="text/html"),
            "style.css": SiteFile(data=STYLE, mime="text/css"),
            "pic.png": SiteFile(data=_png(120, 120), mime="image/png"),
        }
        site = await inserter.put_site(files)
        async with httpx.AsyncClient(base_url=origin) as http:  # fetched: no progress page
            for name in files:
                assert (await http.get(f"/{site}/{name}")).status_code == 200
        shots = tmp_path / "screenshots"
        shots.mkdir()
        results = {
            "home": await browse(binary, f"{origin}/", shots, "home"),
            "site": await browse(binary, f"{origin}/{site}/", shots, "site"),
        }
        print(f"\nscreenshots: {shots / 'home.png'} {shots / 'site.png'}")
        for name, (shot, requests, raw) in results.items():
            assert shot.stat().st_size > 2000, f"{name}: the screenshot is empty"
            for host in OUTSIDE:  # not requested, not resolved, not even mentioned
                assert host not in raw, f"{name}: the browser touched {host}"
            # What the page made the browser load carries the page's origin as its
            # initiator; the navigation itself and Chromium's own background services
            # (update checks, sign-in) have none. The services are not the page's
            # doing: they never leave the machine (--host-resolver-rules) and are
            # listed in the log, but every request the page caused must be ours.
            page = [u for u, who in requests if who == origin]
            own = [u for u, who in requests if who != origin]
            assert page, f"{name}: the net log recorded no requests of the page"
            outside = [u for u in page if not u.startswith(origin + "/")]
            assert not outside, f"{name}: requests outside the gateway: {outside}"
            navigations = [u for u in own if u.startswith(origin + "/")]
            assert navigations, f"{name}: the page itself was not loaded from the gateway"
            services = [u for u in own if not u.startswith(origin + "/")]
            print(
                f"{name}: {len(page)} page requests, all to the gateway; "
                f"Chromium's own service requests (blocked): {[u[:50] for u in services]}"
            )
            assert all(
                re.match(r"https?://[a-z0-9.-]*(google|gstatic)[a-z0-9.-]*\.com/", u)
                for u in services
            ), services
        site_urls = {u for u, _ in results["site"][1]}
        assert f"{origin}/{site}/style.css" in site_urls
        assert f"{origin}/{site}/pic.png" in site_urls
        assert zlib.crc32(results["site"][0].read_bytes()) != zlib.crc32(
            results["home"][0].read_bytes()
        )
