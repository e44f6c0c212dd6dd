#!/usr/bin/env python3
"""Checks the hash chain of an exported case (onething audit export CASE),
following docs/audit.md alone: no code of onething is used.

usage: audit_hash.py EXPORT.json   → prints one line per event; exit 0 if intact
"""
import hashlib
import json
import sys

GENESIS = "0" * 64


def canonical(value):
    # Keys sorted by code point, no whitespace, UTF-8 text as is.
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def event_hash(event):
    metadata = dict(event["metadata"])
    metadata.pop("hash", None)
    body = {
        "case_id": metadata["case_id"],
        "sequence": int(metadata["sequence"]),
        "event_type": event["event_type"],
        "event_version": event["event_version"],
        "payload": event["payload"],
        "metadata": metadata,
    }
    return hashlib.sha256(canonical(body).encode("utf-8")).hexdigest()


def main(path):
    with open(path, encoding="utf-8") as file:
        export = json.load(file)
    previous = GENESIS
    intact = True
    for event in export["events"]:
        computed = event_hash(event)
        stored = event["metadata"]["hash"]
        linked = event["metadata"]["prev_hash"] == previous
        ok = computed == stored and linked
        intact = intact and ok
        print(f'{event["sequence"]} {computed} {"ok" if ok else "MISMATCH"}')
        previous = stored
    print("intact" if intact else "damaged")
    return 0 if intact else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
