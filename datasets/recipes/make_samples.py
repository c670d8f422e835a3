"""Writes the hand-made sample exports under datasets/samples, the malformed inputs under
datasets/malformed, and the expected canonical rows under datasets/expected.

The expected rows are computed here from the source events, independently of the engine,
so the ingest tests compare the engine against the fixture author's reading of the formats.
Run from the repository root: python3 datasets/recipes/make_samples.py
"""
import json, gzip, os, random, uuid, csv, io
random.seed(7)
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
R = os.path.join(ROOT, "samples")
os.makedirs(R, exist_ok=True)
def gid(i, salt): return str(uuid.UUID(int=random.Random(i*1000+salt).getrandbits(128)))
users = [
 ("Ada.Lovelace@Contoso.com","Ada Lovelace"),("grace.hopper@contoso.com","Grace Hopper"),
 ("alan.turing@contoso.com","Alan Turing"),("katherine.johnson@contoso.com","Katherine Johnson"),
 ("edsger.dijkstra@contoso.com","Edsger Dijkstra")]
places = [
 ("Oslo","Oslo","NO",59.9139,10.7522,"84.208.10.",2119),
 ("Washington, D.C.","District of Columbia","US",38.9072,-77.0369,"73.163.20.",7922),
 ("Berlin","Berlin","DE",52.52,13.405,"2003:e5:1f00:","ipv6",3320),
 ("Sydney","New South Wales","AU",-33.8688,151.2093,"1.128.40.",1221),
 ("Lagos","Lagos","NG",6.5244,3.3792,"105.112.7.",36873),
]
apps=[("Office 365 Exchange Online","00000002-0000-0ff1-ce00-000000000000"),("Microsoft Teams","1fec8e78-bce4-4aaf-ab1b-5451cc387264"),("Azure Portal","c44b4083-3bb0-49c1-b47d-974e53cbdf3c")]
devs=[("Windows 10","Edge 122.0.2365","Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0 Safari/537.36 Edg/122.0.2365"),
      ("MacOs","Chrome 122.0","Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/122.0 Safari/537.36"),
      ("Ios 18.2.1","Mobile Safari 18.2","Mozilla/5.0 (iPhone; CPU iPhone OS 18_2_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"),
      ("Windows10","Rich Client 4.40.0.0","Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17328)")]
codes=[(0,None),(0,None),(0,None),(50126,"Error validating credentials due to invalid username or password."),(50140,"This error occurred due to 'Keep me signed in' interrupt when the user was signing in."),(50074,"Strong Authentication is required."),(50053,"The account is locked, you've tried to sign in too many times with an incorrect user ID or password."),(70044,"The session has expired or is invalid due to sign-in frequency checks by conditional access.")]
events=[]
for i in range(36):
    u=users[i%5]; p=places[(i*3)%5]; a=apps[i%3]; d=devs[(i//2)%4]; c=codes[i%8]
    day=1+(i//18); h=6+(i%18); m=(i*7)%60; s=(i*13)%60
    frac=["",".5",".123",".1234567",".0000001",".98"][i%6]
    created=f"2025-03-0{day}T{h:02d}:{m:02d}:{s:02d}{frac}Z"
    if p[6]=="ipv6": ip=f"{p[5]}{i:x}::{i+1:x}"; asn=p[7]
    else: ip=f"{p[5]}{10+i}"; asn=p[6]
    if i==5: ip="::ffff:84.208.10.99"
    interactive = (i%4)!=3
    geo = None if i==7 else {"latitude":p[3],"longitude":p[4],"altitude":None}
    e=dict(id=gid(i,1),createdDateTime=created,userDisplayName=u[1],userPrincipalName=u[0],userId=gid(users.index(u),2),
      appId=a[1],appDisplayName=a[0],ipAddress=ip,clientAppUsed="Browser" if d[1].startswith(("Edge","Chrome","Mobile")) else "Mobile Apps and Desktop clients",
      correlationId=gid(i,3),conditionalAccessStatus=["success","notApplied","failure"][i%3] if c[0]==0 else "notApplied",
      isInteractive=interactive,resourceDisplayName="Office 365 Exchange Online",resourceId="00000002-0000-0ff1-ce00-000000000000",
      riskDetail="none",riskEventTypes=[],riskEventTypes_v2=[],riskLevelAggregated="none",riskLevelDuringSignIn="none",riskState="none",
      appliedConditionalAccessPolicies=[],
      status={"errorCode":c[0],"failureReason":c[1] or "Other.","additionalDetails":None},
      location={"city":p[0],"state":p[1],"countryOrRegion":p[2],"geoCoordinates":geo},
      deviceDetail={"deviceId":"" if i%3 else gid(i,4),"displayName":"","operatingSystem":d[0],"browser":d[1],"isCompliant":i%2==0,"isManaged":i%2==0,"trustType":""},
      userAgent=d[2],userType="Member",autonomousSystemNumber=asn,
      authenticationRequirement="multiFactorAuthentication" if i%2 else "singleFactorAuthentication",
      signInEventTypes=["interactiveUser" if interactive else "nonInteractiveUser"],sessionId=gid(i,5),tokenIssuerType="AzureAD")
    # The fields of the modern detections: token, protocol and the authentication steps.
    protocol = "deviceCode" if i%9==4 else ("ropc" if i%9==8 else "none")
    steps=[{"authenticationStepDateTime":created,"authenticationMethod":"Password","authenticationMethodDetail":"Password in the cloud","succeeded":True,"authenticationStepResultDetail":"Correct password","authenticationStepRequirement":"Primary authentication"}]
    def push(detail, ok):
        return {"authenticationStepDateTime":created,"authenticationMethod":"Mobile app notification","authenticationMethodDetail":None,"succeeded":ok,"authenticationStepResultDetail":detail,"authenticationStepRequirement":"Multifactor authentication"}
    if i%5==2:
        # a declined push, logged twice: one denial
        steps += [push("MFA denied; user declined the authentication", False)]*2
    elif i%7==3:
        steps += [push("MFA denied; Phone App Reported Fraud", False)]
    elif i%2:
        steps += [push("MFA successfully completed", True)]
    e.update(uniqueTokenIdentifier=f"utid{i:03d}-Xk9" + "abcdefghij"[i%10],
      incomingTokenType=["none","primaryRefreshToken","refreshToken"][i%3],
      authenticationProtocol=protocol,
      originalTransferMethod="deviceCodeFlow" if protocol=="deviceCode" else "none",
      clientCredentialType="none",authenticationDetails=steps)
    if i==13: e["clientAppUsed"]="MAPI over HTTP"   # drifted spelling of "MAPI Over HTTP"
    if i==26: e["clientAppUsed"]="IMAP"             # v1.0's short name of IMAP4
    events.append(e)

# How the portal CSV spells the enums.
CSV_PROTOCOL={"none":"None","deviceCode":"Device Code","ropc":"ROPC"}
CSV_TOKEN={"none":"None","primaryRefreshToken":"Primary Refresh Token","refreshToken":"Refresh token"}
CSV_TRANSFER={"none":"None","deviceCodeFlow":"Device code flow"}
BETA_ONLY=["uniqueTokenIdentifier","incomingTokenType","authenticationProtocol","originalTransferMethod","clientCredentialType","authenticationDetails"]

def beta(e): return e
def v1(e):
    e=dict(e)
    for k in ["userAgent","userType","autonomousSystemNumber","authenticationRequirement","signInEventTypes","sessionId","tokenIssuerType"]+BETA_ONLY: e.pop(k,None)
    return e
# 1. Graph pages (v1.0): page 1 pretty, page 2 gzip; newest first
os.makedirs(f"{R}/graph",exist_ok=True)
ev=sorted(events[:12],key=lambda e:e["createdDateTime"],reverse=True)
p1={"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#auditLogs/signIns","@odata.nextLink":"https://graph.microsoft.com/v1.0/auditLogs/signIns?$top=6&$skiptoken=abc","value":[v1(e) for e in ev[:6]]}
json.dump(p1,open(f"{R}/graph/signins-page-1.json","w"),indent=2)
p2={"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#auditLogs/signIns","value":[v1(e) for e in ev[6:]]}
def gz_write(path, text):
    # mtime=0 keeps the bytes the same on every run.
    open(path, "wb").write(gzip.compress(text.encode(), mtime=0))
gz_write(f"{R}/graph/signins-page-2.json.gz", json.dumps(p2))
# Graph JSON lines (beta) - events 12..17
with open(f"{R}/graph/signins-beta.jsonl","w") as f:
    for e in events[12:18]: f.write(json.dumps(e)+"\n")
# 2. Portal JSON: top level array (beta), events 0..11 again (overlap with graph => duplicates) + 18..23
os.makedirs(f"{R}/portal-json",exist_ok=True)
json.dump(events[6:12]+events[18:24],open(f"{R}/portal-json/InteractiveSignIns_2025-03-01_2025-03-02.json","w"),indent=2)
# 3. Portal CSV (57 cols)
H57='"Date (UTC)","Request ID","User agent","Correlation ID","User ID","User","Username","User type","Cross tenant access type","Incoming token type","Authentication Protocol","Unique token identifier","Original transfer method","Client credential type","Token Protection - Sign In Session","Token Protection - Sign In Session StatusCode","Application","Application ID ","App owner tenant ID","Resource","Resource ID ","Resource tenant ID","Resource owner tenant ID","Home tenant ID","Home tenant name","IP address","Location","Status","Sign-in error code","Failure reason","Client app","Device ID","Browser","Operating System","Compliant","Managed","Join Type","Multifactor authentication result","Multifactor authentication auth method","Multifactor authentication auth detail","Authentication requirement","Sign-in identifier","Session ID","IP address (seen by resource)","Through Global Secure Access","Global Secure Access IP address","Autonomous system  number","Flagged for review","Token issuer type","Incoming token type","Token issuer name","Latency","Conditional Access","Managed Identity type","Associated Resource Id","Federated Token Id","Federated Token Issuer"'
cols57=[c.strip('"') for c in H57.split('","')]
def status_word(code): return "Success" if code==0 else ("Interrupted" if code in (50140,50074) else "Failure")
def portal_cells(e, date_fmt=None):
    loc=e["location"]; st=e["status"]
    t=e["createdDateTime"]
    v={"Date (UTC)":date_fmt(t) if date_fmt else t.split(".")[0].rstrip("Z")+"Z" if False else t,
       "Request ID":e["id"],"User agent":e["userAgent"],"Correlation ID":e["correlationId"],"User ID":e["userId"],"User":e["userDisplayName"],
       "Username":e["userPrincipalName"],"User type":"Member","Cross tenant access type":"None","Incoming token type":CSV_TOKEN[e["incomingTokenType"]],
       "Authentication Protocol":CSV_PROTOCOL[e["authenticationProtocol"]],"Unique token identifier":e["uniqueTokenIdentifier"],
       "Original transfer method":CSV_TRANSFER[e["originalTransferMethod"]],"Client credential type":"None",
       "Multifactor authentication result":e["authenticationDetails"][-1]["authenticationStepResultDetail"],
       "Multifactor authentication auth method":e["authenticationDetails"][-1]["authenticationMethod"],
       "Application":e["appDisplayName"],"Application ID ":e["appId"],"Resource":e["resourceDisplayName"],"Resource ID ":e["resourceId"],
       "Home tenant ID":"72f988bf-86f1-41af-91ab-2d7cd011db47","IP address":e["ipAddress"],"Location":f'{loc["city"]}, {loc["state"]}, {loc["countryOrRegion"]}',
       "Status":status_word(st["errorCode"]),"Sign-in error code":str(st["errorCode"]),"Failure reason":st["failureReason"] if st["errorCode"] else "",
       "Client app":e["clientAppUsed"],"Device ID":e["deviceDetail"]["deviceId"],"Browser":e["deviceDetail"]["browser"],"Operating System":e["deviceDetail"]["operatingSystem"],
       "Compliant":str(e["deviceDetail"]["isCompliant"]).upper(),"Managed":str(e["deviceDetail"]["isManaged"]).upper(),
       "Authentication requirement":"Multifactor authentication" if e["authenticationRequirement"]=="multiFactorAuthentication" else "Single-factor authentication",
       "Session ID":e["sessionId"],"Autonomous system  number":str(e["autonomousSystemNumber"]),"Flagged for review":"No","Token issuer type":"AzureAD","Conditional Access":{"success":"Success","notApplied":"Not Applied","failure":"Failure"}[e["conditionalAccessStatus"]]}
    return v
def write_csv(path, cols, rows, bom=False, crlf=True):
    out=io.StringIO()
    w=csv.writer(out,quoting=csv.QUOTE_ALL,lineterminator="\r\n" if crlf else "\n")
    w.writerow(cols)
    for r in rows: w.writerow([r.get(c,"") for c in cols])
    data=out.getvalue()
    with open(path,"w",encoding="utf-8-sig" if bom else "utf-8",newline="") as f: f.write(data)
os.makedirs(f"{R}/portal-csv",exist_ok=True)
inter=[e for e in events[24:36] if e["isInteractive"]]
non=[e for e in events[24:36] if not e["isInteractive"]]
rows=[portal_cells(e) for e in inter]
k=next(j for j,r in enumerate(rows) if r["Failure reason"])
rows[k]["Failure reason"]=rows[k]["Failure reason"]+"\nContact your administrator, or see the sign-in logs."
write_csv(f"{R}/portal-csv/InteractiveSignIns_2025-03-02_2025-03-03.csv",cols57,rows,bom=True,crlf=True)
cols55=[c for c in cols57 if c not in ("App owner tenant ID","Resource owner tenant ID")]
write_csv(f"{R}/portal-csv/NonInteractiveSignIns_2025-03-02_2025-03-03.csv",cols55,[portal_cells(e) for e in non],crlf=False)
# older 54-col export, re-saved by a spreadsheet: local US dates, BOM, CRLF, unquoted? keep quoted
cols54=[c for c in cols55 if c!="Session ID"]
def us(t):
    date,time=t.rstrip("Z").split("T"); y,mo,d=date.split("-"); hh,mm,ss=time.split(".")[0].split(":")
    hh=int(hh); ap="AM" if hh<12 else "PM"; h12=hh%12 or 12
    return f"{int(mo)}/{int(d)}/{y} {h12}:{mm}:{ss} {ap}"
write_csv(f"{R}/portal-csv/InteractiveSignIns_2025-03-01_2025-03-02_resaved.csv",cols54,[portal_cells(e,us) for e in events[0:3]+events[4:5]],bom=True)
# service principal CSV
SPH=["Date (UTC)","Request ID","Correlation ID","Service principal ID","Service principal name","Credential key ID","Credential thumbprint","Application","Application ID ","App owner tenant ID","Resource","Resource ID ","Resource tenant ID","Resource owner tenant ID","Home tenant ID","Home tenant name","IP address","Location","Status","Sign-in error code","Failure reason","Conditional Access"]
sp=[]
for i in range(4):
    sp.append({"Date (UTC)":f"2025-03-02T0{i}:15:00Z","Request ID":gid(100+i,1),"Correlation ID":gid(100+i,3),"Service principal ID":gid(200,1),"Service principal name":"backup-runner",
      "Application":"backup-runner","Application ID ":gid(200,2),"Resource":"Microsoft Graph","Resource ID ":"00000003-0000-0000-c000-000000000000","IP address":"20.42.65.%d"%(10+i),
      "Location":"Boydton, Virginia, US","Status":"Success" if i!=2 else "Failure","Sign-in error code":"0" if i!=2 else "7000215","Failure reason":"" if i!=2 else "Invalid client secret provided.","Conditional Access":"Not Applied"})
write_csv(f"{R}/portal-csv/ApplicationSignIns_2025-03-02_2025-03-03.csv",SPH,sp)
# auth details file (skipped)
write_csv(f"{R}/portal-csv/InteractiveSignIns_AuthDetails_2025-03-02_2025-03-03.csv",["Request ID","Authentication method","Authentication method detail","Succeeded","Result detail","Date (UTC)"],
   [{"Request ID":inter[0]["id"],"Authentication method":"Password","Authentication method detail":"Password in the cloud","Succeeded":"true","Result detail":"Correct password","Date (UTC)":inter[0]["createdDateTime"]}])
# 4. Diagnostic archive: JSON lines in the storage tree
def env(e,cat):
    return {"time":e["createdDateTime"].replace("Z","").split(".")[0]+"."+("%07d"%(random.Random(e["id"]).randint(0,9999999)))+"Z","resourceId":"/tenants/72f988bf-86f1-41af-91ab-2d7cd011db47/providers/Microsoft.aadiam",
      "operationName":"Sign-in activity","operationVersion":"1.0","category":cat,"tenantId":"72f988bf-86f1-41af-91ab-2d7cd011db47",
      "resultType":str(e["status"]["errorCode"]),"resultSignature":"None","resultDescription":e["status"]["failureReason"],"durationMs":0,
      "callerIpAddress":e["ipAddress"],"correlationId":e["correlationId"],"identity":e["userDisplayName"],"Level":4 if e["status"]["errorCode"]==0 else "4",
      "location":e["location"]["countryOrRegion"],"properties":{**e,"createdDateTime":e["createdDateTime"].replace("Z","+00:00")}}
base=f"{R}/diagnostic/insights-logs-signinlogs/tenantId=72f988bf-86f1-41af-91ab-2d7cd011db47/y=2025/m=03/d=01/h=10/m=00"
os.makedirs(base,exist_ok=True)
with open(f"{base}/PT1H.json","w") as f:
    for e in events[0:9]:
        if e["isInteractive"]: f.write(json.dumps(env(e,"SignInLogs"))+"\n")
    f.write(json.dumps({"time":"2025-03-01T10:30:00.0000000Z","resourceId":"/tenants/72f988bf-86f1-41af-91ab-2d7cd011db47/providers/Microsoft.aadiam","operationName":"Update user","category":"AuditLogs","tenantId":"72f988bf-86f1-41af-91ab-2d7cd011db47","resultType":"success","Level":"4","properties":{"id":"Directory_abc","activityDisplayName":"Update user"}})+"\n")
    f.write(json.dumps({"time":"2025-03-01T10:31:00.0000000Z","operationName":"User Risk Detection","category":"UserRiskEvents","properties":{"id":"r1","riskEventType":"unlikelyTravel"}})+"\n")
base2=f"{R}/diagnostic/insights-logs-noninteractiveusersigninlogs/tenantId=72f988bf-86f1-41af-91ab-2d7cd011db47/y=2025/m=03/d=01/h=10/m=00"
os.makedirs(base2,exist_ok=True)
gz_write(f"{base2}/PT1H.json.gz", "".join(json.dumps(env(e,"NonInteractiveUserSignInLogs"))+"\n" for e in events if not e["isInteractive"]))
os.makedirs(f"{R}/diagnostic/eventhub",exist_ok=True)
json.dump({"records":[env(e,"SignInLogs") for e in events[9:15] if e["isInteractive"]]},open(f"{R}/diagnostic/eventhub/records-2018.json","w"))
# 5. Log Analytics
def la(e, text_dynamic=False):
    dyn=lambda o: json.dumps(o) if text_dynamic else o
    return {"TenantId":"72f988bf-86f1-41af-91ab-2d7cd011db47","SourceSystem":"Azure AD","TimeGenerated":e["createdDateTime"],"CreatedDateTime":e["createdDateTime"],"Id":e["id"],
      "OperationName":"Sign-in activity","Category":"SignInLogs" if e["isInteractive"] else "NonInteractiveUserSignInLogs","ResultType":str(e["status"]["errorCode"]),
      "ResultDescription":e["status"]["failureReason"],"UserPrincipalName":e["userPrincipalName"],"UserId":e["userId"],"UserDisplayName":e["userDisplayName"],"UserType":"Member",
      "AppId":e["appId"],"AppDisplayName":e["appDisplayName"],"ResourceDisplayName":e["resourceDisplayName"],"IPAddress":e["ipAddress"],"Location":e["location"]["countryOrRegion"],
      "LocationDetails":dyn(e["location"]),"DeviceDetail":dyn(e["deviceDetail"]),"Status":dyn(e["status"]),"ClientAppUsed":e["clientAppUsed"],
      "IsInteractive":e["isInteractive"],"AutonomousSystemNumber":e["autonomousSystemNumber"],"UserAgent":e["userAgent"],
      "AuthenticationRequirement":e["authenticationRequirement"],"ConditionalAccessStatus":e["conditionalAccessStatus"],"CorrelationId":e["correlationId"],
      "SessionId":e["sessionId"],"TokenIssuerType":"AzureAD","Type":"SigninLogs" if e["isInteractive"] else "AADNonInteractiveUserSignInLogs",
      "UniqueTokenIdentifier":e["uniqueTokenIdentifier"],"IncomingTokenType":e["incomingTokenType"],"AuthenticationProtocol":e["authenticationProtocol"],
      "OriginalTransferMethod":e["originalTransferMethod"],"ResourceIdentity":e["resourceId"],
      "ResourceId":"/tenants/72f988bf-86f1-41af-91ab-2d7cd011db47/providers/Microsoft.aadiam","AuthenticationDetails":dyn(e["authenticationDetails"]),
      "ConditionalAccessPolicies":dyn([]),"RiskEventTypes_V2":"[]","RiskLevelDuringSignIn":"none","RiskState":"none"}
os.makedirs(f"{R}/log-analytics",exist_ok=True)
si=[la(e) for e in events[0:12] if e["isInteractive"]]
si.append(si[0])  # repeated row
json.dump(si,open(f"{R}/log-analytics/SigninLogs.json","w"),indent=1)
nis=[la(e,True) for e in events if not e["isInteractive"]]
json.dump(nis,open(f"{R}/log-analytics/AADNonInteractiveUserSignInLogs.json","w"),indent=1)
# LA CSV export: US times with comma, headers with [UTC], dynamic/string split, multi-line cells
def la_us(t):
    date,time=t.rstrip("Z").split("T"); y,mo,d=date.split("-"); hms=time.split("."); hh,mm,ss=hms[0].split(":")
    ms=(hms[1]+"000")[:3] if len(hms)>1 else "000"
    hh=int(hh); ap="AM" if hh<12 else "PM"; h12=hh%12 or 12
    return f"{int(mo)}/{int(d)}/{y}, {h12}:{mm}:{ss}.{ms} {ap}"
LAH=["TenantId","SourceSystem","TimeGenerated [UTC]","ResourceId","OperationName","Category","ResultType","ResultDescription","CreatedDateTime [UTC]","Id","UserPrincipalName","UserId","UserDisplayName","AppId","AppDisplayName","IPAddress","Location","LocationDetails_dynamic","LocationDetails_string","DeviceDetail","Status","ClientAppUsed","IsInteractive","AutonomousSystemNumber","UserAgent","AuthenticationRequirement","ConditionalAccessStatus","CorrelationId","SessionId","TokenIssuerType","Type","UniqueTokenIdentifier","IncomingTokenType","AuthenticationProtocol","OriginalTransferMethod","ResourceIdentity","AuthenticationDetails"]
rows=[]
for k,e in enumerate(events[12:24]):
    r=la(e)
    rows.append({"TenantId":r["TenantId"],"SourceSystem":"Azure AD","TimeGenerated [UTC]":la_us(e["createdDateTime"]),"ResourceId":"","OperationName":"Sign-in activity","Category":r["Category"],
      "ResultType":r["ResultType"],"ResultDescription":r["ResultDescription"],"CreatedDateTime [UTC]":la_us(e["createdDateTime"]),"Id":e["id"],"UserPrincipalName":e["userPrincipalName"],
      "UserId":e["userId"],"UserDisplayName":e["userDisplayName"],"AppId":e["appId"],"AppDisplayName":e["appDisplayName"],"IPAddress":e["ipAddress"],"Location":e["location"]["countryOrRegion"],
      "LocationDetails_dynamic":json.dumps(e["location"],indent=2) if k%2==0 else "","LocationDetails_string":"" if k%2==0 else json.dumps(e["location"]),
      "DeviceDetail":json.dumps(e["deviceDetail"]),"Status":json.dumps(e["status"]),"ClientAppUsed":e["clientAppUsed"],"IsInteractive":str(e["isInteractive"]).lower() if k%3 else str(e["isInteractive"]),
      "AutonomousSystemNumber":str(e["autonomousSystemNumber"]),"UserAgent":e["userAgent"],"AuthenticationRequirement":e["authenticationRequirement"],"ConditionalAccessStatus":e["conditionalAccessStatus"],
      "CorrelationId":e["correlationId"],"SessionId":e["sessionId"],"TokenIssuerType":"AzureAD","Type":r["Type"],
      "UniqueTokenIdentifier":e["uniqueTokenIdentifier"],"IncomingTokenType":e["incomingTokenType"],"AuthenticationProtocol":e["authenticationProtocol"],
      "OriginalTransferMethod":e["originalTransferMethod"],"ResourceIdentity":e["resourceId"],"AuthenticationDetails":json.dumps(e["authenticationDetails"]),
      "ResourceId":"/tenants/72f988bf-86f1-41af-91ab-2d7cd011db47/providers/Microsoft.aadiam"})
write_csv(f"{R}/log-analytics/query_data.csv",LAH,rows,bom=True)
print("ok")

# ---- expected canonical rows, computed here from the source events (independent of the engine)
import ipaddress, datetime
def canon_ip(s):
    a=ipaddress.ip_address(s)
    if a.version==6 and a.ipv4_mapped: a=a.ipv4_mapped
    return str(a)
def canon_time(t):
    t=t.rstrip("Z"); base,_,frac=t.partition(".")
    return base+"."+(frac+"000000")[:6]+"Z"
def klass(c):
    if c==0: return "success"
    if c in (50055,50072,50079,50074,50076,50097,50125,50140,50158,50199,53000,53001,53003): return "credential_valid"
    if c in (50126,50034,50053,50056,50064,50057): return "credential_failure"
    return "other_failure"
CLIENT_APP={"MAPI over HTTP":"MAPI Over HTTP","IMAP":"IMAP4"}
def push_denial(d): d=d.lower(); return "denied" in d and ("declined" in d or "did not respond" in d)
def step_key(t): return json.dumps(t, sort_keys=True)
exp=[]
for e in events:
    g=e["location"]["geoCoordinates"]
    exp.append({"request_id":e["id"],"time":canon_time(e["createdDateTime"]),"user_principal_name":e["userPrincipalName"].lower(),"user_id":e["userId"],
      "user_display_name":e["userDisplayName"],"app_id":e["appId"],"app_display_name":e["appDisplayName"],"correlation_id":e["correlationId"],
      "ip_address":canon_ip(e["ipAddress"]),"error_code":e["status"]["errorCode"],"outcome":klass(e["status"]["errorCode"]),
      "is_interactive":e["isInteractive"],"event_type":e["signInEventTypes"][0],"country":e["location"]["countryOrRegion"],"state":e["location"]["state"],
      "city":e["location"]["city"],"latitude":g["latitude"] if g else None,"longitude":g["longitude"] if g else None,"asn":e["autonomousSystemNumber"],
      "operating_system":e["deviceDetail"]["operatingSystem"],"browser":e["deviceDetail"]["browser"],"device_id":e["deviceDetail"]["deviceId"] or None,
      "user_agent":e["userAgent"],"client_app":CLIENT_APP.get(e["clientAppUsed"],e["clientAppUsed"]),"authentication_requirement":e["authenticationRequirement"],
      "conditional_access_status":e["conditionalAccessStatus"],"session_id":e["sessionId"],"token_issuer_type":"AzureAD",
      "unique_token_identifier":e["uniqueTokenIdentifier"],"incoming_token_type":e["incomingTokenType"],
      "authentication_protocol":e["authenticationProtocol"],"original_transfer_method":e["originalTransferMethod"],
      "resource_id":e["resourceId"],"client_credential_type":"none",
      "mfa_denials":sum(1 for t in {step_key(t):t for t in e["authenticationDetails"]}.values() if push_denial(t["authenticationStepResultDetail"])),
      "mfa_fraud_reported":any("fraud" in t["authenticationStepResultDetail"].lower() for t in e["authenticationDetails"]),
      "auth_method":e["authenticationDetails"][-1]["authenticationMethod"],
      "auth_succeeded":e["authenticationDetails"][-1]["succeeded"],
      "auth_result_detail":e["authenticationDetails"][-1]["authenticationStepResultDetail"]})
for r in sp:
    code=int(r["Sign-in error code"])
    exp.append({"request_id":r["Request ID"],"time":canon_time(r["Date (UTC)"]),"correlation_id":r["Correlation ID"],"service_principal_id":r["Service principal ID"],
      "service_principal_name":r["Service principal name"],"app_id":r["Application ID "],"app_display_name":r["Application"],"ip_address":r["IP address"],
      "error_code":code,"outcome":klass(code),"event_type":"servicePrincipal","is_interactive":False,"city":"Boydton","state":"Virginia","country":"US",
      "conditional_access_status":"notApplied","user_principal_name":None,"latitude":None})
os.makedirs(os.path.join(ROOT,"expected"),exist_ok=True)
with open(os.path.join(ROOT,"expected","samples-rows.jsonl"),"w") as f:
    for r in exp: f.write(json.dumps(r)+"\n")

# ---- malformed inputs
M=os.path.join(ROOT,"malformed")
os.makedirs(M,exist_ok=True)
good=[json.dumps(env(e,"SignInLogs")) for e in events[0:6]]
with open(f"{M}/garbage-line.jsonl","w") as f:
    f.write("\n".join(good[:3]+["this is not json {", '{"time": "2025-03-01T10:00:00Z", "category": "SignInLogs", "properties": {"id": "cut'] + good[3:])+"\n")
def signin(i, **over):
    e=dict(events[i]); e.update(over); return e
json.dump([signin(0), signin(1,status={"errorCode":"abc","failureReason":"x"}), signin(2)],open(f"{M}/wrong-type.json","w"),indent=1)
m=signin(3); m.pop("createdDateTime")
json.dump([signin(4), m, signin(5, createdDateTime="yesterday at noon")],open(f"{M}/missing-time.json","w"),indent=1)
json.dump([signin(6, ipAddress="999.1.1.1"), signin(7), signin(8, ipAddress="")],open(f"{M}/invalid-ip.json","w"),indent=1)
nid=signin(9); nid.pop("id")
json.dump([nid, signin(10)],open(f"{M}/missing-id.json","w"),indent=1)
text=json.dumps([signin(11),signin(12),signin(13)],indent=1)
open(f"{M}/truncated.json","w").write(text[:int(len(text)*0.8)])
open(f"{M}/empty.json","w").write("")
open(f"{M}/junk.bin","wb").write(bytes(random.Random(3).randrange(256) for _ in range(2000)))
data=gzip.compress(("\n".join(json.dumps(env(e,"SignInLogs")) for e in events[14:34])+"\n").encode(), mtime=0)
open(f"{M}/truncated-PT1H.json.gz","wb").write(data[:int(len(data)*0.7)])
print("expected+malformed ok")
