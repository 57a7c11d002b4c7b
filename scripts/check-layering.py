#!/usr/bin/env python3
"""Fails when a folder includes a header of a folder above it (docs/architecture.md).

Usage: check-layering.py [ROOT]      check the project tree at ROOT (default: this repo)
       check-layering.py --self-test check that the checker finds planted violations

The order, lowest first:

  common < space < evaluators/train < evaluators/quant < db < config < search < distributed <
  report < cli

A file may include headers of its own folder and of lower ones, with two exceptions:
  - db/ knows only records: it may include common/, space/ and evaluators/records.h;
  - config/ turns YAML into option structs: besides the lower folders it may include any
    folder's options.h (search/options.h included).
evaluators/options.h and evaluators/records.h (header-only, at evaluators/'s root) sit at the
evaluators/train level. tests/, bench/ and fuzz/ may include anything. A folder with C++ sources that
is not in the order is an error: give it its place in LEVELS below.
Every violation is printed as file:line: the include, and the rule it breaks.
"""

import os
import re
import sys
import tempfile

# Folder -> level; a folder may include its level and the levels below.
LEVELS = {
    "common": 0,
    "space": 1,
    "evaluators": 2,  # the header-only root: options.h, records.h
    "evaluators/train": 2,
    "evaluators/quant": 3,
    "db": 4,
    "config": 5,
    "search": 6,
    "distributed": 7,  # a study spread over MPI ranks: a remote Evaluator and the worker loop
    "report": 8,
    "cli": 9,
}
FREE = ("tests", "bench", "fuzz")  # may include anything (fuzz: the libFuzzer targets)
SKIP = ("build", "cmake", "configs", "docs", "scripts", "runs", "third_party")
SOURCE_EXT = (".h", ".hpp", ".cpp", ".cc")
INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"')

ORDER = " < ".join(f for f in LEVELS if f != "evaluators")


def folder_of(rel):
    """The layering folder of a path relative to the root ("evaluators/quant", "db", ...)."""
    parts = rel.split("/")
    if parts[0] == "evaluators" and len(parts) > 2:
        return "evaluators/" + parts[1]
    return parts[0]


def allowed(src, header):
    """None when `src` (a folder) may include `header` (a path from the root), else the rule."""
    dst = folder_of(header)
    if src == dst or src in FREE:
        return None
    if src == "db":
        if dst in ("common", "space") or header == "evaluators/records.h":
            return None
        return "db/ knows only records: it may include common/, space/ and evaluators/records.h"
    if src == "config" and os.path.basename(header) == "options.h":
        return None
    if dst not in LEVELS:
        return None  # checked where that folder's files are scanned
    if LEVELS[dst] <= LEVELS[src]:
        return None
    if dst == "config":
        return "nothing below config/ includes config/ (take the option struct instead)"
    return "%s/ is below %s/ (%s)" % (src, dst, ORDER)


def check(root):
    """Every violation under `root` as "file:line: message"."""
    out = []
    top = sorted(d for d in os.listdir(root)
                 if os.path.isdir(os.path.join(root, d)) and not d.startswith(".")
                 and d not in SKIP and not d.startswith("build"))
    for d in top:
        for dirpath, dirnames, filenames in os.walk(os.path.join(root, d)):
            dirnames.sort()
            for name in sorted(filenames):
                if not name.endswith(SOURCE_EXT):
                    continue
                path = os.path.join(dirpath, name)
                rel = os.path.relpath(path, root).replace(os.sep, "/")
                src = folder_of(rel)
                if src not in LEVELS and src not in FREE:
                    out.append("%s:1: folder %s/ has no place in the layering; add it to LEVELS "
                               "in scripts/check-layering.py (%s)" % (rel, src, ORDER))
                    continue
                with open(path, encoding="utf-8", errors="replace") as f:
                    for lineno, line in enumerate(f, 1):
                        m = INCLUDE.match(line)
                        if not m:
                            continue
                        header = m.group(1)
                        if "/" not in header or not os.path.isdir(
                                os.path.join(root, header.split("/")[0])):
                            continue  # not a project header
                        rule = allowed(src, header)
                        if rule:
                            out.append('%s:%d: #include "%s": %s' % (rel, lineno, header, rule))
    return out


def self_test():
    planted = {
        "common/a.h": '#include "space/macro.h"\n',                 # up
        "space/macro.h": '#include "common/a.h"\n',                 # fine
        "evaluators/train/t.h": '#include "config/config.h"\n',     # config from below
        "evaluators/quant/q.h": '#include "evaluators/train/t.h"\n#include "evaluators/options.h"\n',
        "evaluators/train/u.h": '#include "evaluators/quant/q.h"\n',  # train -> quant
        "db/store.h": '#include "evaluators/records.h"\n#include "evaluators/train/t.h"\n',
        "config/config.h": '#include "search/options.h"\n#include "search/driver.h"\n',
        "search/s.cpp": '#include "config/config.h"\n#include "db/store.h"\n#include "cli/x.h"\n',
        "cli/x.h": '#include "search/s.h"\n#include <torch/torch.h>\n',
        "tests/t.cpp": '#include "cli/x.h"\n',
        "newdir/n.cpp": '#include "common/a.h"\n',
        "evaluators/records.h": "", "evaluators/options.h": "", "search/options.h": "",
        "search/driver.h": "", "search/s.h": "", "config/config.cpp": "",
    }
    expected = {
        "common/a.h:1", "evaluators/train/t.h:1", "evaluators/train/u.h:1", "db/store.h:2",
        "config/config.h:2", "search/s.cpp:3", "newdir/n.cpp:1",
    }
    with tempfile.TemporaryDirectory() as root:
        for rel, text in planted.items():
            path = os.path.join(root, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(text)
        found = {":".join(v.split(":")[:2]) for v in check(root)}
    if found != expected:
        print("self-test FAILED\n  missed: %s\n  wrongly flagged: %s"
              % (sorted(expected - found), sorted(found - expected)))
        return 1
    print("self-test: the %d planted violations are found, nothing else" % len(expected))
    return 0


def main(argv):
    if len(argv) > 1 and argv[1] == "--self-test":
        return self_test()
    root = argv[1] if len(argv) > 1 else os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    violations = check(root)
    for v in violations:
        print(v)
    if violations:
        print("%d include(s) break the layering (%s; tests/, bench/ and fuzz/ free)"
              % (len(violations), ORDER))
        return 1
    print("layering ok: %s" % ORDER)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
