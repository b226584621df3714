#!/usr/bin/env python3
"""lxml building a tree of each envelope of a GetStreamingEvents body: the yardstick of the
parse benchmark (benches/parse.rs).

    BEMS_DUMP_STREAM=/tmp/stream.xml cargo bench --bench parse -- --test
    python3 scripts/bench-parse/lxml_trees.py /tmp/stream.xml

Exchange streams envelopes back to back; the benchmark's body separates them with CRLF, and
each is parsed as a document of its own with lxml.etree.fromstring (the tree is built, nothing
is read from it). Prints the best of five passes, in ms and MiB/s, to compare with the
benchmark's "split+parse bytes" line.
"""
import sys
import time

from lxml import etree


def main(path: str) -> None:
    data = open(path, "rb").read()
    envelopes = [p for p in data.split(b"\r\n") if p.strip()]
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for envelope in envelopes:
            etree.fromstring(envelope)
        best = min(best, time.perf_counter() - started)
    print(
        f"lxml: {len(envelopes)} envelopes, {len(data) / 1e6:.1f} MB: "
        f"best {best * 1000:.1f} ms, {len(data) / best / 2**20:.0f} MiB/s"
    )


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: lxml_trees.py <dumped body>")
    main(sys.argv[1])
