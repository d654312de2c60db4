#!/usr/bin/env python3
"""Build rules/winevt/string_inserts.tsv: Windows event templates as field-name lists.

Fluent Bit's `winevtlog` input (without `event_data_as_map`) gives an event's data only
as the positional array `StringInserts`. This script derives the names of those positions
from real records: for every record rendered by `evtx_dump` whose `Event.EventData` (or
the single child element of `Event.UserData`) is an object of named fields, the key order
of that object in the JSON text is the order of the <Data> elements in the XML, which is
the order of the inserts. Rows for templates that the samples do not show are merged from
a hand-maintained file (tools/string_inserts_manifest.tsv).

Output columns: provider, event_id, version, fields (comma-separated), source
(`samples` or `manifest`). A (provider, event_id, version) key can have more than one row
when a provider added fields without raising the event version (Sysmon does); such rows
always differ in their number of fields, and a reader picks the row whose length equals the
number of inserts. The script fails if two rows of one key have the same length.

Standard library only. Deterministic: rows are sorted, the file ends with a newline.

    python3 tools/gen_string_inserts.py            # write rules/winevt/string_inserts.tsv
    python3 tools/gen_string_inserts.py --check    # exit 1 if the file is not up to date
"""

import argparse
import collections
import gzip
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_SHARED = os.path.join(os.path.dirname(ROOT), "shared")
DEFAULT_MANIFEST = os.path.join(ROOT, "tools", "string_inserts_manifest.tsv")
DEFAULT_OUT = os.path.join(ROOT, "rules", "winevt", "string_inserts.tsv")
HEADER = ("provider", "event_id", "version", "fields", "source")
BAD_NAME_CHARS = (",", "\t", "\n", "\r")


def sample_inputs(shared):
    return [
        os.path.join(shared, "events", "evtx-attack-samples.ndjson.gz"),
        os.path.join(shared, "regression", "regression-events.ndjson"),
    ]


def read_lines(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if line.strip():
                yield number, line


def event_id_of(system):
    eid = system.get("EventID")
    if isinstance(eid, dict):
        eid = eid.get("#text")
    if isinstance(eid, str) and eid.strip().isdigit():
        eid = int(eid)
    return eid if isinstance(eid, int) else None


def payload_names(event):
    """The ordered field names of the record's payload, or (None, reason)."""
    data = event.get("EventData")
    if isinstance(data, dict):
        keys = [k for k in data if k != "#attributes"]
        if "Data" in keys or "#text" in keys:
            return None, "unnamed EventData"
        if not keys:
            return None, "empty EventData"
        return keys, "EventData"
    if data is not None:
        return None, "EventData not an object"
    user = event.get("UserData")
    if isinstance(user, dict):
        children = [k for k in user if k != "#attributes"]
        if len(children) != 1 or not isinstance(user[children[0]], dict):
            return None, "UserData without one named child"
        child = user[children[0]]
        keys = [k for k in child if k != "#attributes"]
        if not keys:
            return None, "empty UserData"
        if any(isinstance(child[k], (dict, list)) for k in keys):
            return None, "nested UserData"
        return keys, "UserData"
    return None, "no EventData or UserData"


def collect(paths):
    """(provider, id, version) -> {names tuple: [count, first location, payload kind]}."""
    seen = collections.defaultdict(dict)
    skipped = collections.Counter()
    records = 0
    for path in paths:
        for number, line in read_lines(path):
            records += 1
            rec = json.loads(line, object_pairs_hook=collections.OrderedDict)
            event = rec.get("Event") if isinstance(rec, dict) else None
            if not isinstance(event, dict) or not isinstance(event.get("System"), dict):
                skipped["not an evtx_dump record"] += 1
                continue
            system = event["System"]
            provider = system.get("Provider", {}).get("#attributes", {}).get("Name")
            eid = event_id_of(system)
            version = system.get("Version")
            if not isinstance(provider, str) or eid is None:
                skipped["no provider or event id"] += 1
                continue
            if not isinstance(version, int):
                skipped["no System/Version"] += 1
                continue
            names, kind = payload_names(event)
            if names is None:
                skipped[kind] += 1
                continue
            for name in names:
                if not name or any(c in name for c in BAD_NAME_CHARS):
                    raise SystemExit(f"{path}:{number}: field name {name!r} cannot be written to the table")
            entry = seen[(provider, eid, version)].setdefault(
                tuple(names), [0, f"{os.path.basename(path)}:{number}", kind])
            entry[0] += 1
    return seen, skipped, records


def read_manifest(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        header_seen = False
        for number, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            cols = line.split("\t")
            if not header_seen:
                header_seen = True
                if cols[:4] != list(HEADER[:4]):
                    raise SystemExit(f"{path}:{number}: expected header {HEADER[:4]}")
                continue
            if len(cols) < 4:
                raise SystemExit(f"{path}:{number}: expected at least 4 tab-separated columns")
            names = tuple(n.strip() for n in cols[3].split(","))
            if any(not n or any(c in n for c in BAD_NAME_CHARS) for n in names):
                raise SystemExit(f"{path}:{number}: bad field list")
            rows.append(((cols[0].strip(), int(cols[1]), int(cols[2])), names, f"manifest:{number}"))
    return rows


def build(shared, manifest_path, log):
    paths = sample_inputs(shared)
    for p in paths:
        if not os.path.exists(p):
            raise SystemExit(f"missing input {p} (pass --shared DIR)")
    seen, skipped, records = collect(paths)
    log(f"read {records} records from {len(paths)} files")
    for reason, n in sorted(skipped.items()):
        log(f"  skipped {n}: {reason}")

    table = {}  # (key, names) -> source
    problems = []
    log("")
    log("samples that disagree on the field list of one (provider, event_id, version):")
    disagreements = 0
    for key in sorted(seen, key=lambda k: (k[0].lower(), k[1], k[2])):
        variants = seen[key]
        for names in variants:
            table[(key, names)] = "samples"
        if len(variants) > 1:
            disagreements += 1
            lengths = [len(n) for n in variants]
            verdict = "told apart by field count" if len(set(lengths)) == len(lengths) else "AMBIGUOUS"
            log(f"  {key[0]} {key[1]} v{key[2]}: {len(variants)} field lists, {verdict}")
            for names, (count, where, kind) in sorted(variants.items(), key=lambda kv: len(kv[0])):
                log(f"    {len(names):2d} fields, {count} records (first {where}): {','.join(names)}")
    if not disagreements:
        log("  none")

    log("")
    log("manifest rows:")
    confirmed = added = 0
    for key, names, where in read_manifest(manifest_path):
        if (key, names) in table:
            confirmed += 1
            continue
        clash = [n for (k, n) in table if k == key and len(n) == len(names)]
        if clash:
            problems.append(f"{where}: {key} has {len(names)} fields like a sample row with other names:"
                            f"\n    manifest: {','.join(names)}\n    samples:  {','.join(clash[0])}")
            continue
        table[(key, names)] = "manifest"
        added += 1
    log(f"  {added} added, {confirmed} already shown by the samples")

    by_key = collections.defaultdict(list)
    for (key, names) in table:
        by_key[key].append(names)
    for key, lists in by_key.items():
        lengths = [len(n) for n in lists]
        if len(set(lengths)) != len(lengths):
            problems.append(f"{key}: two field lists of the same length; positions would be ambiguous")
    return table, problems


def render(table):
    rows = sorted(table.items(), key=lambda kv: (kv[0][0][0].lower(), kv[0][0][0], kv[0][0][1],
                                                  kv[0][0][2], len(kv[0][1]), kv[0][1]))
    out = ["\t".join(HEADER)]
    for ((provider, eid, version), names), source in rows:
        out.append("\t".join((provider, str(eid), str(version), ",".join(names), source)))
    return "\n".join(out) + "\n"


def summarize(table, log):
    by_provider = collections.Counter()
    by_source = collections.Counter()
    for ((provider, _, _), _), source in table.items():
        by_provider[(provider, source)] += 1
        by_source[source] += 1
    log("")
    log(f"{len(table)} rows: " + ", ".join(f"{n} {s}" for s, n in sorted(by_source.items())))
    providers = sorted({p for p, _ in by_provider}, key=str.lower)
    for p in providers:
        s, m = by_provider[(p, "samples")], by_provider[(p, "manifest")]
        log(f"  {s + m:3d}  {p}  (samples {s}, manifest {m})")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shared", default=DEFAULT_SHARED, help="the shared data folder (default: ../shared)")
    ap.add_argument("--manifest", default=DEFAULT_MANIFEST, help="hand-maintained rows")
    ap.add_argument("--out", default=DEFAULT_OUT, help="table to write")
    ap.add_argument("--check", action="store_true", help="do not write; exit 1 if --out differs")
    ap.add_argument("--quiet", action="store_true", help="no report on standard error")
    args = ap.parse_args()

    def log(msg):
        if not args.quiet:
            print(msg, file=sys.stderr)

    table, problems = build(args.shared, args.manifest, log)
    summarize(table, log)
    if problems:
        for p in problems:
            print("error: " + p, file=sys.stderr)
        return 2
    text = render(table)
    if args.check:
        try:
            with open(args.out, encoding="utf-8") as f:
                current = f.read()
        except FileNotFoundError:
            current = None
        if current != text:
            print(f"{args.out} is not up to date; run tools/gen_string_inserts.py", file=sys.stderr)
            return 1
        log(f"{args.out} is up to date")
        return 0
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
