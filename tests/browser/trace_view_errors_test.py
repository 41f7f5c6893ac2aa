#!/usr/bin/env python3
# SPDX-License-Identifier: BSL-1.0
"""tools/trace-view's answers to bad input, and to traces it only partly knows (ctest: trace_view_errors).

    trace_view_errors_test.py WORK_DIR

A missing file, a file that is not JSON and JSON that is not a trace each end
with exit status 2 and one line naming the file and what is wrong. Events the
viewer does not know are ignored, not fatal; a trace in the JSON array form,
with "B"/"E" slices and no lane names (as other tools write) opens; a name
holding "</script>" cannot end the page's script early.
"""

import json
import os
import subprocess
import sys

TRACE_VIEW = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "trace-view")
failures = []


def run(work, name, content):
    """trace-view on a file holding `content` (None: no file); (exit status, stderr, stdout, page)."""
    path = os.path.join(work, name)
    if content is not None:
        with open(path, "w", encoding="utf-8") as f:
            f.write(content if isinstance(content, str) else json.dumps(content))
    page = path + ".html"
    if os.path.exists(page):
        os.remove(page)
    result = subprocess.run([TRACE_VIEW, path, "-o", page], capture_output=True, text=True, timeout=60)
    html = open(page, encoding="utf-8").read() if os.path.exists(page) else None
    return result.returncode, result.stderr.strip(), result.stdout.strip(), html


def expect_error(work, name, content, message):
    status, err, _, page = run(work, name, content)
    path = os.path.join(work, name)
    ok = status == 2 and err == f"trace-view: {path}: {message}" and page is None
    print(("ok:     " if ok else "FAILED: ") + f"{name}: exit {status}, {err!r}")
    if not ok:
        failures.append(f"{name}: expected exit 2 and 'trace-view: {path}: {message}'")


def expect_page(work, name, content, summary):
    status, err, out, page = run(work, name, content)
    ok = status == 0 and out.endswith(summary) and page is not None
    print(("ok:     " if ok else "FAILED: ") + f"{name}: exit {status}, {out or err!r}")
    if not ok:
        failures.append(f"{name}: expected a page and '{summary}'")
    return page or ""


def main():
    work = os.path.abspath(sys.argv[1])
    os.makedirs(work, exist_ok=True)

    expect_error(work, "missing.json", None, "no such file")
    expect_error(work, "truncated.json", '{"traceEvents": [{"ph": "X", "ts": 1', "not JSON: Expecting ',' delimiter "
                 "at line 1 column 37")
    expect_error(work, "empty.json", "", "not JSON: Expecting value at line 1 column 1")
    expect_error(work, "nan.json", '{"traceEvents": [{"ph": "X", "ts": NaN}]}', "not JSON: NaN is not a JSON value")
    expect_error(work, "object.json", {"events": []}, 'not a trace: no "traceEvents" array (a Chrome trace is an '
                 'object with "traceEvents", or an array of events)')
    expect_error(work, "number.json", "42", 'not a trace: a Chrome trace is an object with "traceEvents" or an '
                 "array of events, not a number")
    expect_error(work, "events-not-array.json", {"traceEvents": {"ph": "X"}}, 'not a trace: "traceEvents" is '
                 "not an array")
    expect_error(work, "no-phases.json", [1, "two", {"name": "x"}], 'not a trace: no event has a "ph" (phase) field')

    # Unknown events (a counter, an async span, a category and fields the viewer never heard of) are ignored.
    expect_page(work, "unknown-events.json", {"traceEvents": [
        {"ph": "M", "name": "process_name", "pid": 1, "args": {"name": "demo"}},
        {"ph": "M", "name": "thread_name", "pid": 1, "tid": 1, "args": {"name": "loop main"}},
        {"ph": "B", "name": "never ends", "pid": 1, "tid": 1, "ts": 4},
        {"ph": "X", "cat": "task", "name": "main", "pid": 1, "tid": 1, "ts": 1.5, "dur": 2.25, "args": {"task": 1}},
        {"ph": "C", "name": "queue length", "pid": 1, "tid": 1, "ts": 2, "args": {"n": 3}},
        {"ph": "b", "cat": "io", "name": "read", "id": 7, "pid": 1, "tid": 1, "ts": 2},
        {"ph": "i", "s": "t", "cat": "future-category", "name": "something new", "pid": 1, "tid": 1, "ts": 3},
        {"ph": "X", "name": "no timestamp", "pid": 1, "tid": 1},
        {"ph": "X", "name": "odd lane", "pid": [1], "tid": {"a": 1}, "ts": 5, "dur": 1},
        {"ph": "f", "cat": "wake", "name": "wake", "id": 9, "pid": 1, "tid": 1, "ts": 1.5},
        "not an event",
    ], "otherData": {"dropped": "not a map"}}, "2 lanes, 2 slices, 0 arrows, 1 markers")

    # The JSON array form, "B"/"E" pairs, nesting, no lane names, a flow between two threads.
    expect_page(work, "array-form.json", [
        {"ph": "B", "name": "outer", "pid": 7, "tid": 70, "ts": 0},
        {"ph": "B", "name": "inner", "pid": 7, "tid": 70, "ts": 1},
        {"ph": "E", "pid": 7, "tid": 70, "ts": 2},
        {"ph": "E", "pid": 7, "tid": 70, "ts": 5},
        {"ph": "s", "cat": "c", "name": "n", "id": 1, "pid": 7, "tid": 70, "ts": 1.5},
        {"ph": "X", "name": "later", "pid": 7, "tid": 71, "ts": 6, "dur": 1},
        {"ph": "f", "cat": "c", "name": "n", "id": 1, "pid": 7, "tid": 71, "ts": 6, "bp": "e"},
    ], "2 lanes, 3 slices, 1 arrows, 0 markers")

    page = expect_page(work, "script-in-a-name.json", {"traceEvents": [
        {"ph": "X", "cat": "task", "name": "</script><script>alert(1)</script>", "pid": 1, "tid": 1, "ts": 0,
         "dur": 1}]}, "1 lanes, 1 slices, 0 arrows, 0 markers")
    closing = page.lower().count("</script>")
    print(("ok:     " if closing == 2 else "FAILED: ") + f"the page's two scripts end where they should ({closing})")
    if closing != 2:
        failures.append("a name holding </script> ended a script early")

    if failures:
        sys.exit(f"trace_view_errors: {len(failures)} checks FAILED")
    print("trace_view_errors: all checks passed")


if __name__ == "__main__":
    main()
