#!/usr/bin/env python3
"""Writes datasets/powershell/: sign-ins as PowerShell-based collectors save them.

- signins-ps51-utf16.json: Windows PowerShell 5.1, `Get-MgAuditLogSignIn -All | ConvertTo-Json
  -Depth 10 > signins.json`: UTF-16LE with a BOM, CRLF, PascalCase properties, fields the SDK's
  model lacks in `AdditionalProperties` (camelCase), times as "\\/Date(ms)\\/".
- signins-ps7-utf8bom.json: the beta SDK saved with `Out-File -Encoding UTF8` (UTF-8 with a BOM),
  times in ISO 8601 with the machine's offset, as PowerShell 7 writes them.
- extractor-suite-signins.json: Microsoft-Extractor-Suite appending each page with
  `ConvertTo-Json | Out-File -Append`: consecutive arrays, a one-record page as a bare object.

The expected values are written into tests/all/hardening.rs by hand from the records below.
"""
import json
import os

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "powershell")
os.makedirs(OUT, exist_ok=True)

recs = [
    {"AppDisplayName": "Office 365 Exchange Online", "AppId": "00000002-0000-0ff1-ce00-000000000000",
     "AppliedConditionalAccessPolicies": [], "ClientAppUsed": "Browser", "ConditionalAccessStatus": "notApplied",
     "CorrelationId": "7f0c6a1e-2b4d-4c6e-9a1b-3c5d7e9f1a2b", "CreatedDateTime": "\\/Date(1740832938000)\\/",
     "DeviceDetail": {"Browser": "Edge 122.0.2365", "DeviceId": "", "DisplayName": "", "IsCompliant": False,
                      "IsManaged": False, "OperatingSystem": "Windows10", "TrustType": ""},
     "IPAddress": "84.208.10.35", "Id": "5e1f0a2b-ps51-4c1d-8e2f-000000000001", "IsInteractive": True,
     "Location": {"City": "Oslo", "CountryOrRegion": "NO",
                  "GeoCoordinates": {"Altitude": None, "Latitude": 59.9139, "Longitude": 10.7522}, "State": "Oslo"},
     "ResourceDisplayName": "Office 365 Exchange Online", "ResourceId": "00000002-0000-0ff1-ce00-000000000000",
     "RiskDetail": "none", "RiskEventTypes": [], "RiskEventTypesV2": [], "RiskLevelAggregated": "none",
     "RiskLevelDuringSignIn": "none", "RiskState": "none",
     "Status": {"AdditionalDetails": None, "ErrorCode": 0, "FailureReason": "Other."},
     "UserDisplayName": "Ada Lovelace", "UserId": "d95bafc8-f2a4-d27b-dcf4-bb99f4bea973",
     "UserPrincipalName": "ada.lovelace@contoso.com",
     "AdditionalProperties": {"autonomousSystemNumber": 2119,
                              "userAgent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Edg/122.0.2365",
                              "userType": "Member", "authenticationRequirement": "singleFactorAuthentication"}},
    {"AppDisplayName": "Azure Portal", "AppId": "c44b4083-3bb0-49c1-b47d-974e53cbdf3c",
     "AppliedConditionalAccessPolicies": [], "ClientAppUsed": "Browser", "ConditionalAccessStatus": "notApplied",
     "CorrelationId": "7f0c6a1e-2b4d-4c6e-9a1b-3c5d7e9f1a2c", "CreatedDateTime": "\\/Date(1740836538500)\\/",
     "DeviceDetail": {"Browser": "Chrome 122.0", "DeviceId": "", "DisplayName": "", "IsCompliant": False,
                      "IsManaged": False, "OperatingSystem": "MacOs", "TrustType": ""},
     "IPAddress": "2003:e5:1f00:18::19", "Id": "5e1f0a2b-ps51-4c1d-8e2f-000000000002", "IsInteractive": True,
     "Location": {"City": "Berlin", "CountryOrRegion": "DE",
                  "GeoCoordinates": {"Altitude": None, "Latitude": 52.52, "Longitude": 13.405}, "State": "Berlin"},
     "ResourceDisplayName": "Windows Azure Service Management API", "ResourceId": "797f4846-ba00-4fd7-ba43-dac1f8f63013",
     "RiskDetail": "none", "RiskEventTypes": [], "RiskEventTypesV2": [], "RiskLevelAggregated": "none",
     "RiskLevelDuringSignIn": "none", "RiskState": "none",
     "Status": {"AdditionalDetails": None, "ErrorCode": 50126,
                "FailureReason": "Error validating credentials due to invalid username or password."},
     "UserDisplayName": "Edsger Dijkstra", "UserId": "6c140a5b-b17d-5b30-a497-935be9050db1",
     "UserPrincipalName": "edsger.dijkstra@contoso.com", "AdditionalProperties": {}},
]


def write(name, data):
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)


# json.dumps escapes the backslash of "\/Date(": undo it, as ConvertTo-Json writes "\/".
text = json.dumps(recs, indent=4).replace("\\\\/", "\\/").replace("\n", "\r\n") + "\r\n"
write("signins-ps51-utf16.json", b"\xff\xfe" + text.encode("utf-16-le"))

recs7 = [dict(r) for r in recs]
recs7[0]["Id"] = "5e1f0a2b-ps70-4c1d-8e2f-000000000001"
recs7[0]["CreatedDateTime"] = "2025-03-01T13:42:18+01:00"
recs7[1]["Id"] = "5e1f0a2b-ps70-4c1d-8e2f-000000000002"
recs7[1]["CreatedDateTime"] = "2025-03-01T14:42:18.5+01:00"
recs7[1]["AutonomousSystemNumber"] = 3320
recs7[1]["UserAgent"] = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) Chrome/122.0"
write("signins-ps7-utf8bom.json", b"\xef\xbb\xbf" + (json.dumps(recs7, indent=2) + "\n").encode())


def grace(i, time, code):
    return {"id": f"5e1f0a2b-mes0-4c1d-8e2f-00000000000{i}", "createdDateTime": time,
            "userPrincipalName": "grace.hopper@contoso.com", "userId": "e638bca4-6bd7-0d89-987f-c91e855cdff8",
            "ipAddress": "1.128.40.36", "status": {"errorCode": code},
            "location": {"city": "Sydney", "state": "New South Wales", "countryOrRegion": "AU",
                         "geoCoordinates": {"latitude": -33.8688, "longitude": 151.2093}}}


pages = [
    json.dumps([grace(1, "2025-03-02T01:00:00Z", 0), grace(2, "2025-03-02T01:05:00Z", 50140)], indent=2),
    json.dumps(grace(3, "2025-03-02T02:00:00Z", 0), indent=2),
    json.dumps([grace(4, "2025-03-02T03:00:00Z", 0)], indent=2),
]
write("extractor-suite-signins.json", b"\xef\xbb\xbf" + "".join(p + "\r\n" for p in pages).encode())
