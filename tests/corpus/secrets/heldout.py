#!/usr/bin/env python3
"""Held-out redaction corpus: written BEFORE the rule set of issue 11 was tuned, and never
tuned against. tests/redaction_corpus.rs reports its figures separately (leaks here are
reported, and the test fails on them, but the rules were not adjusted to this file's cases).

Deterministic (own seed, own shapes, own generators: nothing shared with generate.py).
Writes heldout.jsonl / heldout.manifest.jsonl (one row per line: family and needles, the
bytes that must be gone) and heldout_lookalikes.jsonl / heldout_lookalikes.manifest.jsonl.
"""

import base64
import json
import os
import random
import string

R = random.Random(0x11_2026)
HERE = os.path.dirname(os.path.abspath(__file__))
UP, LO, DIG = string.ascii_uppercase, string.ascii_lowercase, string.digits
AN = UP + LO + DIG
HEXL = "0123456789abcdef"
B64 = AN + "+/"
URLSAFE = AN + "-_"
BECH32 = "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L"


def r(alpha, n):
    return "".join(R.choice(alpha) for _ in range(n))


def mixed(alpha, n):
    while True:
        s = r(alpha, n)
        if any(c.isupper() for c in s) and any(c.islower() for c in s) and any(c.isdigit() for c in s):
            return s


def b64url(b):
    return base64.urlsafe_b64encode(b).decode().rstrip("=")


def jwt(claims):
    h = b64url(json.dumps({"alg": "RS256", "typ": "JWT", "kid": r(HEXL, 16)}).encode())
    p = b64url(json.dumps(claims).encode())
    return f"{h}.{p}.{b64url(bytes(R.randrange(256) for _ in range(256)))}"


def pem_body(n, width=64):
    d = base64.b64encode(bytes(R.randrange(256) for _ in range(n))).decode()
    return [d[i:i + width] for i in range(0, len(d), width)]


S = []  # (family, text, needles)


def add(family, text, *needles):
    for n in needles:
        assert n in text, (family, n)
    S.append((family, text, list(needles)))


# AWS
for _ in range(3):
    kid, sec = "AKIA" + r(UP + "234567", 16), mixed(B64, 40)
    add("aws", f"AWS Access Key ID [None]: {kid}\nAWS Secret Access Key [None]: {sec}\nDefault region name [None]: eu-central-1\nDefault output format [None]: json", kid[4:], sec)
kid, sec = "AKIA" + r(UP + "234567", 16), mixed(B64, 40)
add("aws", f"Access key ID,Secret access key\n{kid},{sec}\n", kid[4:], sec)
kid, sec = "AKIA" + r(UP + "234567", 16), mixed(B64, 40)
add("aws", f"User name,Password,Access key ID,Secret access key,Console login link\nci-bot,,{kid},{sec},https://123456789012.signin.aws.amazon.com/console", kid[4:], sec)
tok = "IQoJb3JpZ2luX2VjE" + r(B64, 600) + "=="
sec = mixed(B64, 40)
add("aws", f"<AssumeRoleResult><Credentials><AccessKeyId>ASIA{r(UP + '234567', 16)}</AccessKeyId><SecretAccessKey>{sec}</SecretAccessKey><SessionToken>{tok}</SessionToken></Credentials></AssumeRoleResult>", sec, tok[20:80])
tok = "FwoGZXIvYXdzE" + r(B64, 300)
add("aws", f"aws_session_token = {tok}", tok[15:60])
sec = mixed(B64, 40)
add("aws", '"attributes": {\n  "id": "AKIA' + r(UP, 16) + '",\n  "secret": "' + sec + '",\n  "status": "Active"\n}', sec)
sec = mixed(B64, 40)
add("aws", f"| key | value |\n|---|---|\n| aws_secret_access_key | {sec} |", sec)

# GitLab
for p, n in [("glpat-", 20), ("glrt-", 20), ("gldt-", 20), ("glptt-", 40), ("gloas-", 64), ("glft-", 20), ("glimt-", 25), ("glsoat-", 20)]:
    body = mixed(URLSAFE, n) if p != "glptt-" else r(HEXL, 40)
    add("gitlab", f'git remote add origin https://oauth2:{p}{body}@gitlab.example.com/team/app.git' if p == "glpat-" else f"GITLAB_TOKEN={p}{body}", body)
body = mixed(AN, 20)
add("gitlab", f"gitlab-runner register --registration-token GR1348941{body}", body)
# Slack
b = f"1-A{r(UP + DIG, 10)}-{r(DIG, 13)}-{r(HEXL, 64)}"
add("slack", f"SLACK_APP_TOKEN=xapp-{b}", b[-40:])
path = f"T{r(UP + DIG, 8)}/B{r(UP + DIG, 10)}/{mixed(AN, 24)}"
add("slack", f"curl -X POST -H 'Content-type: application/json' --data '{{\"text\":\"deploy done\"}}' https://hooks.slack.com/services/{path}", path.split("/")[-1])
b = f"{r(DIG, 13)}-{r(DIG, 13)}-{mixed(AN, 24)}"
add("slack", f"token: xoxp-{b}", b[-24:])
# Stripe
for p in ["sk_live_", "rk_live_", "sk_test_"]:
    body = mixed(AN, 99 if p == "sk_live_" else 24)
    add("stripe", f'stripe.api_key = "{p}{body}"', body)
body = mixed(AN, 32)
add("stripe", f"STRIPE_WEBHOOK_SECRET=whsec_{body}", body)
# Google
k = "AIza" + mixed(URLSAFE, 35)
add("google", f"https://maps.googleapis.com/maps/api/geocode/json?address=Berlin&key={k}", k[4:])
k = "GOCSPX-" + mixed(URLSAFE, 28)
add("google", '{"web":{"client_id":"1234-abc.apps.googleusercontent.com","client_secret":"' + k + '"}}', k[7:])
k = "ya29." + mixed(URLSAFE, 160)
add("google", f"access_token: {k}", k[5:60])
# Azure
k = base64.b64encode(bytes(R.randrange(256) for _ in range(64))).decode()
add("azure", f"DefaultEndpointsProtocol=https;AccountName=prodstore;AccountKey={k};EndpointSuffix=core.windows.net", k[:40])
sig = base64.b64encode(bytes(R.randrange(256) for _ in range(32))).decode().replace("+", "%2B").replace("/", "%2F").replace("=", "%3D")
add("azure", f"https://prodstore.blob.core.windows.net/backups/db.bak?sv=2022-11-02&ss=b&srt=o&sp=r&se=2026-12-01T00:00:00Z&st=2026-11-01T00:00:00Z&spr=https&sig={sig}", sig[:30])
# JWT
t = jwt({"sub": r(DIG, 12), "email": "dev@example.com", "exp": 1893456000})
add("jwt", f"id_token={t}", t.split(".")[1][:40], t.split(".")[2][:40])
t = jwt({"iss": "supabase", "role": "service_role", "iat": 1700000000})
add("jwt", f'const supabase = createClient(url, "{t}")', t.split(".")[2][:40])
# kubeconfig
t = jwt({"iss": "kubernetes/serviceaccount", "sub": "system:serviceaccount:default:ci"})
add("kube", f"users:\n- name: ci\n  user:\n    token: {t}", t.split(".")[2][:40])
key = base64.b64encode(("-----BEGIN RSA PRIVATE KEY-----\n" + "\n".join(pem_body(600)) + "\n-----END RSA PRIVATE KEY-----\n").encode()).decode()
add("kube", f"    client-certificate-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUM=\n    client-key-data: {key}", key[60:120])
# registries
for fam, text in [("npm", "npm_" + mixed(AN, 36)), ("pypi", "pypi-AgEIcHlwaS5vcmc" + mixed(URLSAFE, 140)), ("docker", "dckr_pat_" + mixed(URLSAFE, 27))]:
    add(fam, {"npm": f"//registry.npmjs.org/:_authToken={text}", "pypi": f"[pypi]\n  username = __token__\n  password = {text}",
              "docker": f"echo {text} | docker login -u me --password-stdin"}[fam], text[-20:])
a = base64.b64encode(f"me:{mixed(AN, 16)}".encode()).decode()
add("docker", '{\n\t"auths": {\n\t\t"https://index.docker.io/v1/": {\n\t\t\t"auth": "' + a + '"\n\t\t}\n\t}\n}', a)
# misc vendors
vend = [
    ("twilio", lambda: (f"TWILIO_AUTH_TOKEN={r(HEXL, 32)}",)),
    ("twilio", lambda: (f"client = Client('AC{r(HEXL, 32)}', '{r(HEXL, 32)}')",)),
    ("sendgrid", lambda: (f"SENDGRID_API_KEY=SG.{mixed(URLSAFE, 22)}.{mixed(URLSAFE, 43)}",)),
    ("databricks", lambda: (f"host = https://adb-123.azuredatabricks.net\ntoken = dapi{r(HEXL, 32)}",)),
    ("digitalocean", lambda: (f"doctl auth init -t dop_v1_{r(HEXL, 64)}",)),
    ("shopify", lambda: (f"X-Shopify-Access-Token: shpat_{r(HEXL, 32)}",)),
    ("vault", lambda: (f"export VAULT_TOKEN=hvs.{mixed(URLSAFE, 91)}",)),
    ("telegram", lambda: (f"https://api.telegram.org/bot{r(DIG, 10)}:AA{mixed(URLSAFE, 33)}/sendMessage",)),
    ("cloudflare", lambda: (f"CLOUDFLARE_API_TOKEN={mixed(URLSAFE, 40)}",)),
    ("notion", lambda: (f"NOTION_TOKEN=ntn_{r(DIG, 11)}{mixed(AN, 35)}",)),
    ("linear", lambda: (f"LINEAR_API_KEY=lin_api_{mixed(AN, 40)}",)),
    ("groq", lambda: (f"GROQ_API_KEY=gsk_{mixed(AN, 52)}",)),
    ("atlassian", lambda: (f"JIRA_API_TOKEN=ATATT3xFfGF0{mixed(URLSAFE, 170)}={r(HEXL.upper(), 8)}",)),
    ("sentry", lambda: (f"SENTRY_AUTH_TOKEN=sntryu_{r(HEXL, 64)}",)),
    ("postman", lambda: (f"x-api-key: PMAK-{r(HEXL, 24)}-{r(HEXL, 34)}",)),
    ("mailgun", lambda: (f"MAILGUN_API_KEY=key-{r(HEXL, 32)}",)),
    ("replicate", lambda: (f"REPLICATE_API_TOKEN=r8_{mixed(AN, 37)}",)),
    ("heroku", lambda: (f"HEROKU_API_KEY=HRKU-{mixed(URLSAFE, 60)}",)),
    ("newrelic", lambda: (f"NEW_RELIC_API_KEY=NRAK-{r(UP + DIG, 27)}",)),
    ("grafana", lambda: (f"GRAFANA_TOKEN=glsa_{mixed(AN, 32)}_{r(HEXL, 8)}",)),
    ("supabase", lambda: (f"supabase login --token sbp_{r(HEXL, 40)}",)),
    ("doppler", lambda: (f"DOPPLER_TOKEN=dp.pt.{mixed(AN, 43)}",)),
    ("pulumi", lambda: (f"PULUMI_ACCESS_TOKEN=pul-{r(HEXL, 40)}",)),
    ("terraform", lambda: (f'credentials "app.terraform.io" {{\n  token = "{mixed(AN, 14)}.atlasv1.{mixed(URLSAFE, 67)}"\n}}',)),
    ("square", lambda: (f"SQUARE_ACCESS_TOKEN=EAAA{mixed(URLSAFE, 60)}",)),
    ("mapbox", lambda: (f"MAPBOX_SECRET=sk.eyJ1IjoibWUiLCJhIjoi{mixed(AN, 20)}In0.{mixed(URLSAFE, 22)}",)),
    ("discord", lambda: (f"https://discord.com/api/webhooks/{r(DIG, 18)}/{mixed(URLSAFE, 68)}",)),
    ("anthropic", lambda: (f"x-api-key: sk-ant-admin01-{mixed(URLSAFE, 93)}AA",)),
    ("openai", lambda: (f"OPENAI_ADMIN_KEY=sk-admin-{mixed(URLSAFE, 140)}",)),
    ("xai", lambda: (f"XAI_API_KEY=xai-{mixed(AN, 80)}",)),
    ("mistral", lambda: (f"MISTRAL_API_KEY={mixed(AN, 32)}",)),
    ("age", lambda: (f"# created: 2026-11-01T10:00:00Z\n# public key: age1{r(BECH32.lower(), 58)}\nAGE-SECRET-KEY-1{r(BECH32, 58)}",)),
]
for fam, f in vend:
    text = f()[0]
    # needle: the last 20 characters of the longest run of the secret's alphabet
    runs = [w for w in __import__("re").split(r"[^A-Za-z0-9_\-+/]", text) if len(w) >= 16]
    secret = max(runs, key=len)
    add(fam, text, secret[-16:])
# Private keys
body = pem_body(900, 64)
add("putty", "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: me@host\nPublic-Lines: 2\n" + "\n".join(pem_body(51)) + "\nPrivate-Lines: 1\n" + base64.b64encode(bytes(R.randrange(256) for _ in range(48))).decode() + "\nPrivate-MAC: " + r(HEXL, 64), )
S[-1] = (S[-1][0], S[-1][1], [S[-1][1].split("Private-Lines: 1\n")[1][:40]])
# Passwords
pw = mixed(AN, 14) + "!"
add("password", f"jdbc:postgresql://db.internal:5432/app?user=app&password={pw}&ssl=true", pw[:-1])
pw = mixed(AN, 12)
add("password", f"jdbc:sqlserver://sql01:1433;databaseName=app;user=sa;password={pw};encrypt=true", pw)
pw = mixed(AN, 11)
add("password", f"mysql -h 10.0.0.5 -u root -p'{pw}' shop < dump.sql", pw)
pw = mixed(AN, 10)
add("password", f"mysqldump -uroot -p{pw} --all-databases > all.sql", pw)
pw = mixed(AN, 8) + "/" + mixed(AN, 6)
add("password", f"postgresql://report:{pw}@warehouse:5432/dw", pw)
pw = mixed(AN, 8) + "%23" + mixed(AN, 5)
add("password", f"amqps://worker:{pw}@mq.internal/vhost", pw)
pw = mixed(AN, 12)
add("password", f"curl -u admin:{pw} https://jenkins.internal/api/json", pw)
c = base64.b64encode(f"admin:{mixed(AN, 12)}".encode()).decode()
add("password", f"AUTHORIZATION: BASIC {c}", c)
add("password", f"Authorization: Token {mixed(AN, 40)}", S[-1][1] if False else "")
S[-1] = (S[-1][0], S[-1][1], [S[-1][1].split("Token ")[1]])
t = mixed(AN, 14)
add("password", f"curl -H 'authorization: bearer {t}' https://api.internal/v1/me", t)
pw = mixed(AN, 12)
add("password", f"PGPASSWORD={pw} psql -h db -U app", pw)
pw = mixed(AN, 12)
add("password", f"sshpass -p '{pw}' ssh deploy@10.1.2.3", pw)
# assignments
for text_tpl in ["DB_PASSWORD={v}", "export API_KEY='{v}'", "SECRET_KEY = \"{v}\"", "  client_secret: {v}",
                 '"apiToken": "{v}"', "private_key = {v}", "REDIS_PASSWORD: \"{v}\"", "auth_token={v}",
                 "[database]\npassword = \"{v}\"", "| password | {v} |", "X-Api-Key: {v}"]:
    v = mixed(AN + "!@#%^*", 18)
    add("assignment", text_tpl.format(v=v), v)
# encodings
g = "ghp_" + mixed(AN, 36)
add("encoded", f"https://example.com/oauth/callback?next=%2Fhome&token%3D{g}", g[4:])
g = "ghp_" + mixed(AN, 36)
add("encoded", f"https://example.com/cb?redirect=https%3A%2F%2Fapp%2F%3Ftoken%3D{g}", g[4:])
sec = mixed(AN, 20) + "/" + mixed(AN, 19)
add("encoded", '{"aws_secret_access_key": "' + sec.replace("/", "\\/") + '"}', sec.split("/")[1])
pw = mixed(AN, 16)
add("encoded", json.dumps({"database": {"password": pw, "host": "db"}}), pw)


# --------------------------------------------------------------------------- look-alikes
L = []
for _ in range(8):
    L.append(("git sha", f"commit {r(HEXL, 40)}\nAuthor: Dev <dev@example.com>"))
for _ in range(6):
    h = r(HEXL, 32)
    L.append(("uuid", f'"requestId": "{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"'))
for _ in range(4):
    L.append(("sha256", f"{r(HEXL, 64)}  dist/app.tar.gz"))
L.append(("sha512", f"sha512sum: {r(HEXL, 128)}"))
for _ in range(4):
    L.append(("npm integrity", f'"integrity": "sha512-{base64.b64encode(bytes(R.randrange(256) for _ in range(64))).decode()}"'))
L.append(("data url", "data:image/png;base64," + base64.b64encode(bytes(R.randrange(256) for _ in range(900))).decode()))
for p in ["toolu_", "msg_", "req_", "srvtoolu_"]:
    L.append(("id", f'"id": "{p}01{mixed(AN, 22)}"'))
L.append(("id", f"task-{mixed(AN, 8)} done"))
for code in [
    "pub struct Login { pub user: String, pub password: String }",
    "api_key = os.environ[\"API_KEY\"]",
    "secret = os.getenv(\"SECRET_KEY\")",
    "const token = process.env.GITHUB_TOKEN;",
    "db.connect(user=user, password=password)",
    "token = get_token()",
    "password = self._password",
    "if (!apiKey) throw new Error('missing API key');",
    "let secret = read_secret(&path)?;",
    "auth_token: Option<String>,",
    "def login(username: str, password: str) -> Session:",
    "export GITHUB_TOKEN=$(gh auth token)",
]:
    L.append(("code", code))
for ph in [
    "mysql://ro:%(password)s@replica/shop",
    "DB_PASSWORD=${DB_PASSWORD}",
    "password: {{ .Values.db.password }}",
    "API_KEY=YOUR_API_KEY",
    "token: <token>",
    "SECRET_KEY=xxxxxxxxxxxxxxxxxxxxxxxx",
    "password=changeme",
    "password: '***'",
    "api_key: REDACTED",
    "password = \"example\"",
    "token=dummy",
    "PASSWORD=test",
    "Authorization: Bearer <YOUR_TOKEN>",
    "STRIPE_KEY=sk_live_...",
    "OPENAI_API_KEY=sk-...",
    "password: ********",
    "export AWS_SECRET_ACCESS_KEY=$AWS_SECRET",
    "client_secret = \"<client-secret>\"",
]:
    L.append(("placeholder", ph))
for prose in [
    "The token limit for this model is 200k tokens.",
    "Set the password in the keychain, never in the repo.",
    "Use a secret manager for the API key and rotate it monthly.",
    "\"input_tokens\": 1523, \"output_tokens\": 211",
    "keyboard shortcuts: Ctrl+K opens the command palette",
]:
    L.append(("prose", prose))


def envelope(kind, message, extra=None):
    line = {"parentUuid": None, "isSidechain": False, "userType": "external", "cwd": "/srv/work/api",
            "sessionId": "0f7d3c2e-1b9a-4c55-8e21-7a6b5c4d3e2f", "version": "2.1.9", "gitBranch": "dev",
            "type": kind, "uuid": "e3b0c442-98fc-4c14-9afb-f4c8996fb924", "timestamp": "2026-11-29T09:00:00.000Z",
            "message": message}
    line.update(extra or {})
    return line


def wrap(i, text):
    k = i % 5
    if k == 0:
        return envelope("user", {"role": "user", "content": text})
    if k == 1:
        return envelope("user", {"role": "user", "content": [{"tool_use_id": "toolu_01" + r(AN, 22), "type": "tool_result", "content": text}]},
                        {"toolUseResult": {"stdout": text, "stderr": "", "interrupted": False, "isImage": False}})
    if k == 2:
        return envelope("assistant", {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_01" + r(AN, 22), "name": "Bash",
                                                                        "input": {"command": text}}]})
    if k == 3:
        # A file's content as JSON inside a tool result (escaped twice).
        inner = json.dumps({"file": "settings", "content": text})
        return envelope("user", {"role": "user", "content": [{"tool_use_id": "toolu_01" + r(AN, 22), "type": "tool_result", "content": inner}]})
    gutter = "\n".join(f"{n:>6}\u2192{ln}" for n, ln in enumerate(text.split("\n"), 1))
    return envelope("user", {"role": "user", "content": [{"tool_use_id": "toolu_01" + r(AN, 22), "type": "tool_result", "content": gutter}]})


def main():
    with open(os.path.join(HERE, "heldout.jsonl"), "w") as f, open(os.path.join(HERE, "heldout.manifest.jsonl"), "w") as m:
        for i, (fam, text, needles) in enumerate(S):
            f.write(json.dumps(wrap(i, text), separators=(",", ":"), ensure_ascii=False) + "\n")
            m.write(json.dumps({"family": fam, "needles": needles}) + "\n")
    with open(os.path.join(HERE, "heldout_lookalikes.jsonl"), "w") as f, open(os.path.join(HERE, "heldout_lookalikes.manifest.jsonl"), "w") as m:
        for i, (kind, text) in enumerate(L):
            f.write(json.dumps(wrap(i, text), separators=(",", ":"), ensure_ascii=False) + "\n")
            m.write(json.dumps({"kind": kind, "text": text}) + "\n")
    print(f"{sum(len(n) > 0 for _, _, n in S)} held-out secret lines, {len(L)} look-alike lines")


if __name__ == "__main__":
    main()
