"""Headless Chromium driven over the DevTools protocol (aiohttp websocket): load a page
at a given width, in screen or print media, and evaluate a layout check in it.

The report itself carries no script; the checks run from outside, as a reader's browser
lays the page out."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp

# Every element whose box passes the right (or left) edge of the viewport and that is not
# inside a horizontally scrollable box; in print nothing may scroll, so any counts.
OVERFLOW = """
(() => {
  const print = %(print)s;
  const width = document.documentElement.clientWidth;
  const scrolls = (el) => {
    for (let p = el.parentElement; p; p = p.parentElement) {
      const x = getComputedStyle(p).overflowX;
      if (!print && (x === 'auto' || x === 'scroll')) return true;
    }
    return false;
  };
  const out = [];
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    if ((r.right > width + 1 || r.left < -1) && !scrolls(el)) {
      out.push(el.tagName.toLowerCase() + (el.className ? '.' + el.className : '') +
               ' ' + Math.round(r.left) + '..' + Math.round(r.right) + ' > ' + width +
               ': ' + (el.textContent || '').trim().slice(0, 60));
    }
  }
  return JSON.stringify({page: document.documentElement.scrollWidth, width: width,
                         overflowing: out.slice(0, 20), count: out.length});
})()
"""

# Boxes of the table of contents entries; any two that intersect overlap on screen.
TOC_OVERLAP = """
(() => {
  const boxes = [...document.querySelectorAll('nav li')].map(li => li.getBoundingClientRect());
  const hits = [];
  for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
    const a = boxes[i], b = boxes[j];
    if (a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 &&
        b.top < a.bottom - 1) hits.push([i, j]);
  }
  return JSON.stringify({entries: boxes.length, overlaps: hits,
                         right: Math.max(...boxes.map(b => b.right)),
                         width: document.documentElement.clientWidth});
})()
"""


class Page:
    def __init__(self, socket: aiohttp.ClientWebSocketResponse, session_id: str) -> None:
        self.socket = socket
        self.session_id = session_id
        self.ids = itertools.count(1)

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        ident = next(self.ids)
        await self.socket.send_json({"id": ident, "method": method, "params": params,
                                     "sessionId": self.session_id})
        while True:
            message = await self.socket.receive_json(timeout=60)
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return dict(message.get("result", {}))

    async def open(self, page: Path, width: int, print_media: bool = False) -> None:
        await self.send("Emulation.setDeviceMetricsOverride", width=width, height=900,
                        deviceScaleFactor=1, mobile=width < 600)
        await self.send("Emulation.setEmulatedMedia", media="print" if print_media else "")
        await self.send("Page.navigate", url=page.as_uri())
        for _ in range(600):
            state = await self.evaluate("document.readyState")
            if state == "complete":
                return
            await asyncio.sleep(0.05)
        raise TimeoutError(f"{page} did not finish loading")

    async def evaluate(self, expression: str) -> Any:
        result = await self.send("Runtime.evaluate", expression=expression,
                                 returnByValue=True)
        return result["result"].get("value")

    async def check(self, script: str, **values: str) -> dict[str, Any]:
        return dict(json.loads(await self.evaluate(script % values if values else script)))


@asynccontextmanager
async def browser(chromium: str, profile: Path) -> AsyncIterator[Page]:
    process = await asyncio.create_subprocess_exec(
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--hide-scrollbars", f"--user-data-dir={profile}", "--remote-debugging-port=0",
        "about:blank", stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        assert process.stderr is not None
        endpoint = None
        while endpoint is None:
            line = (await asyncio.wait_for(process.stderr.readline(), 60)).decode()
            if not line:
                raise RuntimeError("chromium did not start its DevTools endpoint")
            found = re.search(r"DevTools listening on (ws://\S+)", line)
            endpoint = found.group(1) if found else None
        # keep reading stderr, or a chatty browser blocks on a full pipe
        drain = asyncio.create_task(process.stderr.read())
        async with aiohttp.ClientSession() as http, \
                http.ws_connect(endpoint, max_msg_size=0) as socket:
            ids = itertools.count(10_000)

            async def call(method: str, **params: Any) -> dict[str, Any]:
                ident = next(ids)
                await socket.send_json({"id": ident, "method": method, "params": params})
                while True:
                    message = await socket.receive_json(timeout=60)
                    if message.get("id") == ident:
                        return dict(message["result"])

            target = await call("Target.createTarget", url="about:blank")
            attached = await call("Target.attachToTarget", targetId=target["targetId"],
                                  flatten=True)
            yield Page(socket, attached["sessionId"])
        drain.cancel()
    finally:
        if process.returncode is None:
            process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 20)
        except TimeoutError:
            process.kill()
            await process.wait()
