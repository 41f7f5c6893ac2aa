#!/usr/bin/env python3
# SPDX-License-Identifier: BSL-1.0
"""tools/trace-view's page in headless Chromium (ctest: trace_view_browser and _large, label browser).

    trace_view_browser_test.py WORK_DIR TRACE [--keep-screenshot PNG]
    trace_view_browser_test.py WORK_DIR --large 100000

Writes the page of TRACE with tools/trace-view and checks it three ways:
  - the HTML fetches nothing: no http(s) or protocol-relative src/href/url();
  - the page runs without a script error (chromium's log);
  - the DOM (chromium --dump-dom): the counts the page says it drew match the
    trace's own (lanes, slices, arrows), and with #selftest in the URL the
    page hovers the first arrow and the first slice: the tooltips name the
    woken task with a latency, and the slice's task;
  - the pixels (chromium --screenshot, decoded here): each lane's band holds
    the slice colour if the trace has slices in that lane and none if it has
    not, the hand-over colour where the lane has hand-overs, and the arrow
    colour is on the page.
The expectations come from TRACE itself, so the recorder's real trace can
replace the committed sample. With --large N the trace is a generated one of
N events (two loops, two threads, a handler), checked the same way, and
zoomed in with #t=START,END the page draws only the few slices in view.
Fails (never skips) without chromium.
"""

import argparse
import html.parser
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
TRACE_VIEW = os.path.join(HERE, "..", "..", "tools", "trace-view")
CHROMIUM_TIMEOUT = 180  # seconds; a render takes about one
WIDTH = 1400

failures = []


def check(condition, message):
    print(("ok:     " if condition else "FAILED: ") + message)
    if not condition:
        failures.append(message)


# ---- What the trace holds, read independently of the viewer ----------------

def expectations(trace):
    events = trace["traceEvents"] if isinstance(trace, dict) else trace
    names, slices, handovers, flow_starts, flow_ends = {}, {}, {}, {}, {}
    for e in events:
        tid = (e.get("pid"), e.get("tid"))
        if e.get("ph") == "M" and e.get("name") == "thread_name":
            names[tid] = e["args"]["name"]
        elif e.get("ph") == "X":
            slices.setdefault(tid, []).append(e)
        elif e.get("ph") in ("i", "I") and e.get("cat") == "handover":
            handovers[tid] = handovers.get(tid, 0) + 1
        elif e.get("ph") == "s":
            flow_starts[(e.get("cat"), e.get("id"))] = e
        elif e.get("ph") == "f":
            flow_ends[(e.get("cat"), e.get("id"))] = e
    lanes = set(names) | set(slices) | set(handovers)
    arrows = [(flow_starts[k], flow_ends[k]) for k in flow_ends if k in flow_starts]
    all_slices = sorted((s for ss in slices.values() for s in ss), key=lambda s: s["ts"])
    first_arrow = min(arrows, key=lambda a: a[0]["ts"]) if arrows else None
    woken = None
    if first_arrow:  # the slice the first flow ends in: the one enclosing its ts ("bp":"e"), else the next
        end = first_arrow[1]
        lane = sorted(slices.get((end.get("pid"), end.get("tid")), []), key=lambda s: s["ts"])
        enclosing = [s for s in lane if s["ts"] <= end["ts"] <= s["ts"] + s.get("dur", 0)]
        after = [s for s in lane if s["ts"] > end["ts"]]
        woken = (enclosing[-1] if enclosing else after[0] if after else {"name": "?"})["name"]
    return {
        "lanes": len(lanes), "slices": len(all_slices), "arrows": len(arrows),
        "lane_has_slices": {names.get(t, ""): t in slices for t in lanes},
        "lane_has_handovers": {names.get(t, ""): t in handovers for t in lanes},
        "first_slice": all_slices[0]["name"] if all_slices else None, "woken": woken,
        "dropped": trace.get("otherData", {}).get("dropped", {}) if isinstance(trace, dict) else {},
    }


def large_trace(path, n):
    """About n events: wake-ups from two threads and a handler to tasks on two loops."""
    lanes = [(1, "loop main"), (2, "loop other"), (3, "thread worker 1"), (4, "thread worker 2"),
             (5, "handler SIGALRM")]
    events = []
    for k, (tid, name) in enumerate(lanes):
        events.append({"ph": "M", "name": "thread_name", "pid": 1, "tid": tid, "args": {"name": name}})
        events.append({"ph": "M", "name": "thread_sort_index", "pid": 1, "tid": tid, "args": {"sort_index": k}})
    clock = {1: 0.0, 2: 0.0}
    i = 0
    while len(events) < n:  # deterministic: the same trace every run
        i += 1
        loop, source = 1 + i % 2, 3 + i % 3
        ts = clock[loop] + 0.5 + (i * 7919 % 45) / 10
        woken = ts + 0.3 + (i * 104729 % 77) / 10
        dur = 0.2 + (i * 1299709 % 38) / 10
        events += [
            {"ph": "i", "s": "t", "cat": "handover", "name": "ThreadSafeFlag.set", "pid": 1, "tid": source,
             "ts": round(ts, 3), "args": {"object": "0x1", "task": i % 9}},
            {"ph": "s", "cat": "wake", "name": "wake", "id": i, "pid": 1, "tid": source, "ts": round(ts, 3)},
            {"ph": "f", "bp": "e", "cat": "wake", "name": "wake", "id": i, "pid": 1, "tid": loop,
             "ts": round(woken, 3), "args": {"latency_ns": round((woken - ts) * 1000)}},
            {"ph": "X", "cat": "task", "name": f"task{i % 9}", "pid": 1, "tid": loop, "ts": round(woken, 3),
             "dur": round(dur, 3), "args": {"task": i % 9}},
        ]
        clock[loop] = woken + dur
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"traceEvents": events, "displayTimeUnit": "ns",
                   "otherData": {"asynclink": "test", "dropped": {}, "clock": "steady"}}, f)
    return clock[1] / 2  # somewhere in the middle


# ---- Chromium ----------------------------------------------------------------

def chromium(url, work, extra):
    """chromium --headless with URL; the DOM it dumps. Killed (its whole group) after the timeout.
    A script error on the page (chromium logs it as "Uncaught ...") fails the test."""
    profile = tempfile.mkdtemp(prefix="profile-", dir=work)
    command = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--user-data-dir=" + profile, "--force-device-scale-factor=1", "--hide-scrollbars",
               "--virtual-time-budget=10000", "--enable-logging=stderr", "--v=0", "--dump-dom"] + extra + [url]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                               text=True)
    try:
        out, err = process.communicate(timeout=CHROMIUM_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        sys.exit(f"FAILED: chromium did not finish within {CHROMIUM_TIMEOUT} s: {' '.join(command)}")
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    if process.returncode != 0 or "<body" not in out:
        sys.exit(f"FAILED: chromium exited with {process.returncode}:\n{err[-3000:]}")
    errors = [line for line in err.splitlines() if "Uncaught" in line]
    check(not errors, f"no script error on the page ({errors[:3]})")
    return out


class Dom(html.parser.HTMLParser):
    """The body's data-* attributes, the text of #selftest and of the header's #dropped line."""

    def __init__(self, text):
        super().__init__()
        self.body, self.text, self.inside = {}, {"selftest": "", "dropped": ""}, None
        self.feed(text)
        self.selftest, self.dropped = self.text["selftest"], self.text["dropped"]

    def handle_starttag(self, tag, attrs):
        if tag == "body":
            self.body = {k[5:]: v for k, v in attrs if k.startswith("data-")}
        element = dict(attrs).get("id")
        if element in self.text:
            self.inside = element

    def handle_endtag(self, tag):
        if tag in ("pre", "p"):
            self.inside = None

    def handle_data(self, data):
        if self.inside:
            self.text[self.inside] += data


# ---- A small PNG reader (8-bit RGB or RGBA, not interlaced) ------------------

def read_png(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        sys.exit(f"FAILED: {path} is not a PNG")
    pos, idat = 8, b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if depth != 8 or colour not in (2, 6) or interlace:
                sys.exit(f"FAILED: {path}: PNG depth {depth}, colour type {colour}, interlace {interlace}: "
                         "this reader takes 8-bit RGB(A), not interlaced")
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    channels = 4 if colour == 6 else 3
    raw = zlib.decompress(idat)
    stride = width * channels
    rows, previous = [], bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        if kind == 1:    # Sub
            for i in range(channels, stride):
                line[i] = (line[i] + line[i - channels]) & 255
        elif kind == 2:  # Up
            line = bytearray((a + b) & 255 for a, b in zip(line, previous))
        elif kind == 3:  # Average
            for i in range(stride):
                left = line[i - channels] if i >= channels else 0
                line[i] = (line[i] + ((left + previous[i]) >> 1)) & 255
        elif kind == 4:  # Paeth
            for i in range(stride):
                a = line[i - channels] if i >= channels else 0
                b, c = previous[i], previous[i - channels] if i >= channels else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(line)
        previous = line
    return width, height, channels, rows


def rgb(colour):
    return tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))


def count_pixels(image, colours, top, bottom, left, right):
    """Pixels in the box whose colour is one of `colours` (exactly: fills are not anti-aliased)."""
    width, height, channels, rows = image
    wanted = {bytes(rgb(c)) for c in colours}
    n = 0
    for y in range(max(top, 0), min(bottom, height)):
        row = rows[y]
        for x in range(max(left, 0), min(right, width)):
            if bytes(row[x * channels:x * channels + 3]) in wanted:
                n += 1
    return n


# ---- The test -------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("work_dir")
    parser.add_argument("trace", nargs="?")
    parser.add_argument("--keep-screenshot", help="also copy the screenshot here (docs/tracing-echo.png)")
    parser.add_argument("--large", type=int, help="check a generated trace of this many events instead")
    options = parser.parse_args()
    if (options.trace is None) == (options.large is None):
        parser.error("give a TRACE or --large N")
    if shutil.which("chromium") is None:
        sys.exit("FAILED: chromium not found: install chromium (apt-get install --no-install-recommends chromium; "
                 "tools/run-tests and .ci/run install it)")
    work = os.path.abspath(options.work_dir)
    os.makedirs(work, exist_ok=True)
    page = os.path.join(work, "trace.html")
    if options.large:
        options.trace = os.path.join(work, "large.json")
        middle = large_trace(options.trace, options.large)
    subprocess.run([TRACE_VIEW, options.trace, "-o", page], check=True, timeout=300)
    with open(options.trace, encoding="utf-8") as f:
        expected = expectations(json.load(f))
    print(f"the trace: {expected['lanes']} lanes, {expected['slices']} slices, {expected['arrows']} arrows")

    with open(page, encoding="utf-8") as f:
        text = f.read()
    external = re.findall(r"""(?:\b(?:src|href)\s*=\s*["']?|url\(\s*["']?|@import\s+["'])\s*(?:https?:)?//[^"'\s)>]*""",
                          text, re.IGNORECASE)
    check(not external, f"the page fetches nothing (external references: {external[:3]})")
    check(not re.search(r"<link\b|<script\b[^>]*\bsrc\s*=|<iframe\b|<img\b", text, re.IGNORECASE),
          "the page has no <link>, <script src>, <iframe> or <img>")

    # (a) DOM state, and the self-test's hovers.
    url = "file://" + page
    dom = Dom(chromium(url + "#selftest", work, ["--window-size=%d,900" % WIDTH]))
    for key in ("lanes", "slices", "arrows"):
        check(dom.body.get(key) == str(expected[key]),
              f"the page counts {expected[key]} {key} (data-{key}={dom.body.get(key)})")
    check(int(dom.body.get("drawn-slices", 0)) > 0, f"slices drawn: {dom.body.get('drawn-slices')}")
    check(int(dom.body.get("drawn-arrows", 0)) > 0 or expected["arrows"] == 0,
          f"arrows drawn: {dom.body.get('drawn-arrows')}")
    check(dom.body.get("selftest") == "done", "the self-test ran")
    for lane, n in expected["dropped"].items():
        check(f"{lane} {n}" in dom.dropped, f"the header says lane '{lane}' dropped {n} events ({dom.dropped!r})")
    slice_tip, _, arrow_tip = dom.selftest.partition("\n\narrow at")
    print("the self-test's tooltips:\n  " + dom.selftest.replace("\n", "\n  "))
    if expected["arrows"]:
        check("wake: " in arrow_tip,
              "hovering the first arrow shows a wake-up")
        check(re.search(r"latency:\s+[0-9.]+ (ns|\u00b5s|ms|s)\b", arrow_tip) is not None,
              "the arrow's tooltip gives a latency")
        check(f"\u2192 {expected['woken']}\n" in arrow_tip, f"the arrow's tooltip names the woken task "
              f"'{expected['woken']}'")
    if expected["slices"] and not options.large:  # the whole view of a large trace: arrows cover the slices
        check(slice_tip.split("\n")[1:2] == [expected["first_slice"]],
              f"hovering the first slice names its task '{expected['first_slice']}'")
        check(re.search(r"duration:\s+[0-9.]+ ", slice_tip) is not None, "the slice's tooltip gives a duration")

    # (b) Pixels: one more run without the self-test, a screenshot and the
    # lane bands it was drawn with.
    bands = json.loads(dom.body.get("lane-bands", "[]"))
    height = (bands[-1][2] if bands else 300) + 40
    shot = os.path.join(work, "trace.png")
    if os.path.exists(shot):
        os.remove(shot)
    dom = Dom(chromium(url, work, ["--window-size=%d,%d" % (WIDTH, height), "--screenshot=" + shot]))
    check(os.path.exists(shot), "chromium wrote the screenshot")
    if not os.path.exists(shot):
        sys.exit(1)
    image = read_png(shot)
    colours = json.loads(dom.body["colours"])
    bands = json.loads(dom.body["lane-bands"])
    check(len(bands) == expected["lanes"], f"{len(bands)} lane bands on the page")
    for lane, top, bottom, left, right in bands:
        slice_pixels = count_pixels(image, colours["slices"], top, bottom, left, right)
        if expected["lane_has_slices"].get(lane):
            check(slice_pixels >= 50, f"lane '{lane}' shows slices ({slice_pixels} pixels of the slice colours)")
        else:
            check(slice_pixels == 0, f"lane '{lane}' has no slices and shows none ({slice_pixels} pixels)")
        marker_pixels = count_pixels(image, [colours["handover"]], top, bottom, left, right)
        if expected["lane_has_handovers"].get(lane):
            check(marker_pixels >= 10, f"lane '{lane}' shows hand-overs ({marker_pixels} pixels)")
    if bands:
        arrow_pixels = count_pixels(image, [colours["arrow"]], bands[0][1], bands[-1][2], bands[0][3], bands[0][4])
        if expected["arrows"]:
            check(arrow_pixels >= 30, f"the arrows show ({arrow_pixels} pixels of the arrow colour)")
    if options.large:  # zoomed in to 60 us, only what is in view is drawn
        dom = Dom(chromium(url + f"#t={middle:.3f},{middle + 60:.3f}&selftest", work, ["--window-size=%d,900" % WIDTH]))
        drawn = int(dom.body.get("drawn-slices", 0))
        check(0 < drawn < 60, f"zoomed in to 60 us, {drawn} slices drawn (of {dom.body.get('slices')})")
        slice_tip, _, arrow_tip = dom.selftest.partition("\n\narrow at")
        print("the self-test's tooltips:\n  " + dom.selftest.replace("\n", "\n  "))
        check("wake: " in arrow_tip and "latency: " in arrow_tip, "zoomed in, hovering an arrow shows a wake-up")
        check(re.search(r"\ntask\d\nlane: .*\nduration: ", slice_tip, re.DOTALL) is not None,
              "zoomed in, hovering a slice names its task and duration")
    if options.keep_screenshot:
        shutil.copyfile(shot, options.keep_screenshot)
    if failures:
        sys.exit(f"trace_view_browser: {len(failures)} checks FAILED")
    print("trace_view_browser: all checks passed")


if __name__ == "__main__":
    main()
