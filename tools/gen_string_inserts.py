#!/usr/bin/env python3
"""Build rules/winevt/string_inserts.tsv: Windows event templates as field-name lists.

Fluent Bit's `winevtlog` input (without `event_data_as_map`) gives an event's data only
as the positional array `StringInserts`. This script merges four sources of the names of
those positions, in this precedence (a higher source wins where two disagree):

1. `samples`: real records rendered by `evtx_dump` (../shared/events, ../shared/regression).
   For every record whose `Event.EventData` (or the single child element of
   `Event.UserData`) is an object of named fields, the key order of that object in the
   JSON text is the order of the <Data> elements in the XML, which is the order of the
   inserts.
2. `manifest`: hand-maintained rows (tools/string_inserts_manifest.tsv): Sysmon's schema
   manifests and Microsoft's documented templates.
3. `ossem`: ../shared/winevt/templates.tsv, 32,593 templates from the OSSEM data
   dictionaries (MIT), newest layout per (provider, event id, version).
4. `unnamed` and `positional` rows for providers without per-event templates, and aliases
   (tools/winevt_providers.tsv).

Output columns: provider, event_id, version, fields (comma-separated), source. A (provider,
event_id, version) key can have more than one row when a provider added fields without
raising the event version (Sysmon does); such rows always differ in their number of
fields, and a reader picks the row whose length equals the number of inserts. A row of a
lower source with the same key and length as a higher one but other names is dropped and
reported. Provider rows (`event_id` `*`) have the fields `{unnamed}` (every insert is
Sigma's `Data`) or `{param}` (insert i is `param<i>`).

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
DEFAULT_PROVIDERS = os.path.join(ROOT, "tools", "winevt_providers.tsv")
DEFAULT_OUT = os.path.join(ROOT, "rules", "winevt", "string_inserts.tsv")
HEADER = ("provider", "event_id", "version", "fields", "source")
BAD_NAME_CHARS = (",", "\t", "\n", "\r", "{", "}")
PRECEDENCE = {"samples": 0, "manifest": 1, "ossem": 2}


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


def tsv_rows(path):
    """(line number, columns) of a hand-kept TSV file, without comments, blank lines and
    its header line."""
    with open(path, encoding="utf-8") as f:
        header_seen = False
        for number, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            if not header_seen:
                header_seen = True
                yield 0, line.split("\t")
                continue
            yield number, line.split("\t")


def read_manifest(path):
    rows = []
    for number, cols in tsv_rows(path):
        if number == 0:
            if cols[:4] != list(HEADER[:4]):
                raise SystemExit(f"{path}: expected header {HEADER[:4]}")
            continue
        if len(cols) < 4:
            raise SystemExit(f"{path}:{number}: expected at least 4 tab-separated columns")
        names = tuple(n.strip() for n in cols[3].split(","))
        if any(not n or any(c in n for c in BAD_NAME_CHARS) for n in names):
            raise SystemExit(f"{path}:{number}: bad field list")
        rows.append(((cols[0].strip(), int(cols[1]), int(cols[2])), names, f"manifest:{number}"))
    return rows


def read_ossem(path):
    """Rows of ../shared/winevt/templates.tsv, and the rows it holds that cannot be used."""
    rows, unusable = [], collections.Counter()
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            cols = line.rstrip("\n").split("\t")
            if number == 1:
                if cols[:4] != list(HEADER[:4]):
                    raise SystemExit(f"{path}:1: expected header {HEADER[:4]}")
                continue
            if len(cols) < 4 or not cols[3]:
                unusable["no fields"] += 1
                continue
            if not (cols[1].isdigit() and cols[2].isdigit()):
                # Sysmon 6, 19, 20 and 21 give the schema version (4.32), not the event's
                # version; the manifest rows cover those events.
                unusable[f"version {cols[2]!r} is not an event version"] += 1
                continue
            names = tuple(n.strip() for n in cols[3].split(","))
            if any(not n or any(c in n for c in BAD_NAME_CHARS) for n in names):
                unusable["a field name the table cannot hold"] += 1
                continue
            rows.append(((cols[0].strip(), int(cols[1]), int(cols[2])), names, f"ossem:{number}"))
    return rows, unusable


def read_providers(path):
    """(kind, provider, event_id or None, target) per line of tools/winevt_providers.tsv."""
    entries = []
    for number, cols in tsv_rows(path):
        if number == 0:
            continue
        if len(cols) < 4 or cols[0] not in ("unnamed", "positional", "alias"):
            raise SystemExit(f"{path}:{number}: expected kind (unnamed, positional, alias), provider, event_id, target")
        eid = None if cols[2] == "*" else int(cols[2])
        if cols[0] == "alias" and (eid is not None or cols[3] in ("", "-")):
            raise SystemExit(f"{path}:{number}: an alias takes event_id * and a target")
        entries.append((cols[0], cols[1], eid, cols[3]))
    return entries


def provider_matches(pattern, provider):
    pattern, provider = pattern.lower(), provider.lower()
    return provider.startswith(pattern[:-1]) if pattern.endswith("*") else provider == pattern


def build(shared, manifest_path, providers_path, log):
    paths = sample_inputs(shared)
    ossem_path = os.path.join(shared, "winevt", "templates.tsv")
    for p in paths + [ossem_path]:
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

    providers = read_providers(providers_path)
    unnamed = [(p, e) for kind, p, e, _ in providers if kind == "unnamed"]

    def merge(rows, source):
        """Adds rows of a lower source: (added, confirmed, dropped with reasons)."""
        added = confirmed = 0
        dropped = []
        for key, names, where in rows:
            if (key, names) in table:
                confirmed += 1
                continue
            if any(provider_matches(p, key[0]) and e in (None, key[1]) for p, e in unnamed):
                dropped.append(f"{where}: {key[0]} {key[1]} v{key[2]}: the provider writes unnamed data")
                continue
            clash = [n for (k, n) in table if k == key and len(n) == len(names)]
            if clash:
                dropped.append(f"{where}: {key[0]} {key[1]} v{key[2]}: {table[(key, clash[0])]} has "
                               f"{len(names)} other names\n      {source}: {','.join(names)}\n      "
                               f"kept:  {','.join(clash[0])}")
                continue
            table[(key, names)] = source
            added += 1
        return added, confirmed, dropped

    log("")
    log("manifest rows:")
    added, confirmed, dropped = merge(read_manifest(manifest_path), "manifest")
    log(f"  {added} added, {confirmed} already shown by the samples")
    # A hand-written row that contradicts a record is a mistake in the manifest.
    problems.extend(dropped)

    log("")
    log("OSSEM rows (../shared/winevt/templates.tsv):")
    ossem, unusable = read_ossem(ossem_path)
    for reason, n in sorted(unusable.items()):
        log(f"  unusable {n}: {reason}")
    added, confirmed, dropped = merge(ossem, "ossem")
    log(f"  {added} added, {confirmed} already in the table, {len(dropped)} dropped:")
    for d in dropped:
        log(f"    {d}")

    by_key = collections.defaultdict(list)
    for (key, names) in table:
        by_key[key].append(names)
    for key, lists in by_key.items():
        lengths = [len(n) for n in lists]
        if len(set(lengths)) != len(lengths):
            problems.append(f"{key}: two field lists of the same length; positions would be ambiguous")

    log("")
    log("providers without per-event templates, and aliases (tools/winevt_providers.tsv):")
    for kind, provider, eid, target in providers:
        key = (provider, "*" if eid is None else eid, "*")
        if kind == "unnamed":
            table[(key, ("{unnamed}",))] = "unnamed"
        elif kind == "positional":
            table[(key, ("{param}",))] = "positional"
        else:
            copied = 0
            for (k, names), source in list(table.items()):
                if k[0].lower() == target.lower() and ((provider,) + k[1:], names) not in table:
                    table[((provider,) + k[1:], names)] = source
                    copied += 1
            log(f"  alias {provider} -> {target}: {copied} rows copied")
            continue
        log(f"  {kind} {provider} {key[1]}")
    return table, problems


def sort_key(item):
    ((provider, eid, version), names), _ = item
    as_num = lambda v: (1, 0) if v == "*" else (0, v)
    return (provider.lower(), provider, as_num(eid), as_num(version), len(names), names)


def render(table):
    out = ["\t".join(HEADER)]
    for ((provider, eid, version), names), source in sorted(table.items(), key=sort_key):
        out.append("\t".join((provider, str(eid), str(version), ",".join(names), source)))
    return "\n".join(out) + "\n"


def summarize(table, log):
    by_source = collections.Counter(table.values())
    log("")
    log(f"{len(table)} rows: " + ", ".join(f"{n} {s}" for s, n in sorted(by_source.items())))
    providers = collections.Counter(p for ((p, _, _), _) in table)
    log(f"{len(providers)} providers")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shared", default=DEFAULT_SHARED, help="the shared data folder (default: ../shared)")
    ap.add_argument("--manifest", default=DEFAULT_MANIFEST, help="hand-maintained rows")
    ap.add_argument("--providers", default=DEFAULT_PROVIDERS, help="unnamed and positional providers, aliases")
    ap.add_argument("--out", default=DEFAULT_OUT, help="table to write")
    ap.add_argument("--check", action="store_true", help="do not write; exit 1 if --out differs")
    ap.add_argument("--quiet", action="store_true", help="no report on standard error")
    args = ap.parse_args()

    def log(msg):
        if not args.quiet:
            print(msg, file=sys.stderr)

    table, problems = build(args.shared, args.manifest, args.providers, log)
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
