"""Writes a large diagnostic-settings archive (JSON Lines, ~3 KB a record, like real
SignInLogs blobs) for the end-to-end ingest benchmark.

    python3 datasets/recipes/make_big_diagnostic.py OUT.json RECORDS

Records are varied (users, IPs, places, error codes, event types) and every id is distinct.
The output is deterministic for a given record count.
"""
import json, random, sys, uuid

out_path, count = sys.argv[1], int(sys.argv[2])
rng = random.Random(42)
tenant = "72f988bf-86f1-41af-91ab-2d7cd011db47"
places = [("Oslo", "Oslo", "NO", 59.91, 10.75), ("Chicago", "Illinois", "US", 41.88, -87.63),
          ("Berlin", "Berlin", "DE", 52.52, 13.40), ("Sydney", "New South Wales", "AU", -33.87, 151.21),
          ("Lagos", "Lagos", "NG", 6.52, 3.38), ("São Paulo", "São Paulo", "BR", -23.55, -46.63)]
codes = [0] * 12 + [50126, 50140, 50074, 50076, 50053, 70044]
devices = [("Windows 10", "Edge 122.0.2365"), ("MacOs", "Chrome 122.0"), ("Ios 18.2.1", "Mobile Safari 18.2"),
           ("Windows10", "Rich Client 4.40.0.0"), ("Android 14", "Chrome Mobile 121.0")]
policy = {"id": "6f8d4a1c-2a40-4b1e-9a53-6a1c3ed2f9aa", "displayName": "Require MFA for all users",
          "enforcedGrantControls": ["Mfa"], "enforcedSessionControls": [], "result": "success",
          "conditionsSatisfied": 3, "conditionsNotSatisfied": 0, "includeRulesSatisfied": [
              {"conditionalAccessCondition": "application", "ruleSatisfied": "allApps"},
              {"conditionalAccessCondition": "users", "ruleSatisfied": "allUsers"}],
          "excludeRulesSatisfied": []}
with open(out_path, "w") as out:
    for i in range(count):
        u = rng.randrange(20000)
        place = places[u % len(places)]
        code = rng.choice(codes)
        os_name, browser = devices[(u + i // 7) % len(devices)]
        interactive = rng.random() < 0.3
        ip = f"{(u % 200) + 20}.{(u // 200) % 250}.{rng.randrange(250)}.{rng.randrange(1, 250)}"
        ts = f"2025-03-{1 + (i * 30 // count):02d}T{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}.{rng.randrange(10**7):07d}"
        rid = str(uuid.UUID(int=rng.getrandbits(128)))
        props = {
            "id": rid, "createdDateTime": ts + "+00:00", "userDisplayName": f"User {u}",
            "userPrincipalName": f"user{u}@contoso.com", "userId": str(uuid.UUID(int=u + 1)),
            "appId": "00000002-0000-0ff1-ce00-000000000000", "appDisplayName": "Office 365 Exchange Online",
            "ipAddress": ip, "clientAppUsed": "Browser", "correlationId": str(uuid.UUID(int=rng.getrandbits(128))),
            "conditionalAccessStatus": "success", "originalRequestId": rid, "isInteractive": interactive,
            "tokenIssuerName": "", "tokenIssuerType": "AzureAD", "processingTimeInMilliseconds": rng.randrange(20, 400),
            "riskDetail": "none", "riskLevelAggregated": "none", "riskLevelDuringSignIn": "none", "riskState": "none",
            "riskEventTypes": [], "riskEventTypes_v2": [], "resourceDisplayName": "Office 365 Exchange Online",
            "resourceId": "00000002-0000-0ff1-ce00-000000000000", "resourceTenantId": tenant, "homeTenantId": tenant,
            "status": {"errorCode": code, "failureReason": "Other." if code == 0 else "Invalid username or password or Invalid on-premise username or password.",
                       "additionalDetails": "MFA requirement satisfied by claim in the token"},
            "deviceDetail": {"deviceId": "", "displayName": "", "operatingSystem": os_name, "browser": browser,
                             "isCompliant": False, "isManaged": False, "trustType": ""},
            "location": {"city": place[0], "state": place[1], "countryOrRegion": place[2],
                         "geoCoordinates": {"altitude": None, "latitude": place[3], "longitude": place[4]}},
            "appliedConditionalAccessPolicies": [policy],
            "authenticationContextClassReferences": [], "authenticationProcessingDetails": [
                {"key": "Legacy TLS (TLS 1.0, 1.1, 3DES)", "value": "False"}, {"key": "Is CAE Token", "value": "False"}],
            "networkLocationDetails": [], "authenticationDetails": [
                {"authenticationStepDateTime": ts + "Z", "authenticationMethod": "Password", "authenticationMethodDetail": "Password in the cloud",
                 "succeeded": code == 0, "authenticationStepResultDetail": "Correct password" if code == 0 else "Invalid username or password",
                 "authenticationStepRequirement": "Primary authentication"}],
            "authenticationRequirementPolicies": [], "sessionLifetimePolicies": [], "authenticationProtocol": "none",
            "authenticationRequirement": "singleFactorAuthentication", "signInIdentifierType": None,
            "userAgent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0.0.0 Safari/537.36 Edg/122.0.2365.92",
            "userType": "Member", "flaggedForReview": False, "isTenantRestricted": False, "autonomousSystemNumber": 2119 + u % 50,
            "crossTenantAccessType": "none", "privateLinkDetails": {}, "ssoExtensionVersion": "", "uniqueTokenIdentifier": "x" * 22,
            "incomingTokenType": "none", "sessionId": str(uuid.UUID(int=rng.getrandbits(128))),
            "signInEventTypes": ["interactiveUser" if interactive else "nonInteractiveUser"],
        }
        record = {"time": ts + "Z", "resourceId": f"/tenants/{tenant}/providers/Microsoft.aadiam",
                  "operationName": "Sign-in activity", "operationVersion": "1.0",
                  "category": "SignInLogs" if interactive else "NonInteractiveUserSignInLogs",
                  "tenantId": tenant, "resultType": str(code), "resultSignature": "None",
                  "resultDescription": props["status"]["failureReason"], "durationMs": 0, "callerIpAddress": ip,
                  "correlationId": props["correlationId"], "identity": props["userDisplayName"], "Level": 4,
                  "location": place[2], "properties": props}
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
