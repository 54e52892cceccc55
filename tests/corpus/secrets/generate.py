#!/usr/bin/env python3
"""Writes the redaction corpus used by tests/redaction_corpus.rs.

Deterministic (fixed seed): run `python3 tests/corpus/secrets/generate.py` and commit the
output. Every secret here is fake: random characters in the shape of a real credential.

Files written beside this script:
- secrets.jsonl           Claude Code transcript lines, each carrying one or two secrets.
- secrets.manifest.jsonl  one row per line of secrets.jsonl: the rule each secret must be
                          counted under and its "needles", the distinctive bytes that must not
                          survive redaction.
- lookalikes.jsonl        transcript lines, each carrying one string that must NOT be redacted.
- lookalikes.manifest.jsonl  one row per line: the kind of look-alike and the string itself.

The lines follow Claude Code's shapes (user prompt, assistant text, Bash tool_use, tool_result
with the Read tool's line-number gutter, env dumps, diffs, JSON files read by a tool, which
escape the secret twice) and are written like Claude Code writes them: compact JSON, UTF-8 kept
as is (a few lines use \\uXXXX escapes instead, as other writers do).
"""

import base64
import json
import os
import random
import string

R = random.Random(20261121)
HERE = os.path.dirname(os.path.abspath(__file__))

UP, LO, DIG = string.ascii_uppercase, string.ascii_lowercase, string.digits
ALNUM = UP + LO + DIG
B32 = UP + "234567"
B64 = ALNUM + "+/"
B64URL = ALNUM + "-_"
HEX = "0123456789abcdef"


def rand(alphabet, n):
    return "".join(R.choice(alphabet) for _ in range(n))


def keyish(alphabet, n):
    """Random, with every class of lower case, upper case and digits the alphabet has (as real
    keys have)."""
    need = [cls for cls in (LO, UP, DIG) if any(c in cls for c in alphabet)]
    while True:
        s = rand(alphabet, n)
        if all(any(c in cls for c in s) for cls in need):
            return s


def uuid():
    h = rand(HEX, 32)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


# --------------------------------------------------------------------------- secrets
# Each generator returns (rule, snippet, needles): the text as it appears in a file, command or
# message, and the parts of it that must be gone after redaction.

def aws_access_key():
    key = "AKIA" + rand(B32, 16)
    form = R.choice(["AWS_ACCESS_KEY_ID={k}", 'aws_access_key_id = {k}', '"AccessKeyId": "{k}"', "{k}",
                     "export AWS_ACCESS_KEY_ID={k}", "access key {k} belongs to the ci user"])
    return "aws_access_key", form.format(k=key), [key[4:]]


def aws_session_token():
    key = "ASIA" + rand(B32, 16)
    form = R.choice(['"AccessKeyId": "{k}"', "AWS_ACCESS_KEY_ID={k}", "{k}"])
    return "aws_session_token", form.format(k=key), [key[4:]]


AWS_SECRET_FORMS = [
    "AWS_SECRET_ACCESS_KEY={k}",
    'export AWS_SECRET_ACCESS_KEY="{k}"',
    "aws_secret_access_key = {k}",
    '"SecretAccessKey": "{k}"',
    "secret_access_key: {k}",
    "aws configure set aws_secret_access_key {k}",
    '"aws_secret_key": "{k}"',
    "--aws-secret-access-key {k}",
    "SecretAccessKey: {k}",
    "secretAccessKey: '{k}'",
    "AWS_SECRET_KEY={k}",
    "aws_secret_access_key={k}",
    "ENV AWS_SECRET_ACCESS_KEY {k}",
    "AWS_SECRET_ACCESS_KEY: \"{k}\"",
]


def aws_secret_key(i):
    key = keyish(B64, 40)
    return "aws_secret_key", AWS_SECRET_FORMS[i % len(AWS_SECRET_FORMS)].format(k=key), [key]


def anthropic_key():
    kind = R.choice(["api03", "api03", "admin01", "oat01"])
    key = f"sk-ant-{kind}-" + keyish(B64URL, 93) + "AA"
    form = R.choice(["ANTHROPIC_API_KEY={k}", "{k}", 'client = Anthropic(api_key="{k}")', "x-api-key: {k}",
                     "export ANTHROPIC_API_KEY='{k}'"])
    return "anthropic_key", form.format(k=key), [key[len(f"sk-ant-{kind}-"):]]


def openai_key():
    kind = R.choice(["legacy", "proj", "proj", "svcacct", "admin"])
    if kind == "legacy":
        body = keyish(ALNUM, 20) + "T3BlbkFJ" + keyish(ALNUM, 20)
        key = "sk-" + body
    else:
        body = keyish(B64URL, 74) + "T3BlbkFJ" + keyish(B64URL, 74)
        key = f"sk-{kind}-" + body
    form = R.choice(["OPENAI_API_KEY={k}", "{k}", "openai.api_key = \"{k}\"", "--api-key {k}",
                     "OPENAI_API_KEY: {k}"])
    return "openai_key", form.format(k=key), [body]


def hf_token():
    key = "hf_" + keyish(ALNUM, 34)
    form = R.choice(["HF_TOKEN={k}", "huggingface-cli login --token {k}", "{k}", 'token="{k}"'])
    return "hf_token", form.format(k=key), [key[3:]]


def github_pat(i):
    prefix = ["ghp", "gho", "ghu", "ghs", "ghr", "github_pat"][i % 6]
    if prefix == "github_pat":
        body = keyish(ALNUM, 22) + "_" + keyish(ALNUM, 59)
        key = "github_pat_" + body
    else:
        body = keyish(ALNUM, 36)
        key = f"{prefix}_{body}"
    form = R.choice(["GITHUB_TOKEN={k}", "gh auth login --with-token <<< {k}", "{k}", "token: {k}",
                     "Authorization: token {k}"])
    return "github_pat", form.format(k=key), [body]


def slack_token():
    kind = R.choice("abprs")
    body = f"{rand(DIG, 12)}-{rand(DIG, 13)}-{keyish(ALNUM, 24)}"
    key = f"xox{kind}-{body}"
    form = R.choice(["SLACK_BOT_TOKEN={k}", "{k}", 'slack_token: "{k}"'])
    return "slack_token", form.format(k=key), [body]


def bearer_token():
    if R.random() < 0.5:
        header = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').decode().rstrip("=")
        payload = base64.urlsafe_b64encode(
            json.dumps({"sub": rand(DIG, 10), "iat": R.randrange(10**9, 2 * 10**9)}).encode()
        ).decode().rstrip("=")
        token = f"{header}.{payload}.{keyish(B64URL, 43)}"
        needles = [payload, token.rsplit(".", 1)[1]]
    else:
        token = keyish(ALNUM + "-._~", R.randrange(24, 64))
        needles = [token]
    form = R.choice(["Authorization: Bearer {k}", 'curl -H "Authorization: Bearer {k}" https://api.example.com/v1/me',
                     "headers = {{'Authorization': 'Bearer {k}'}}", "authorization: bearer {k}"])
    return "bearer_token", form.format(k=token), needles


def pem_lines(nbytes, width=64):
    data = base64.b64encode(bytes(R.randrange(256) for _ in range(nbytes))).decode()
    return [data[i:i + width] for i in range(0, len(data), width)]


def private_key(i):
    kind = ["RSA ", "EC ", "OPENSSH ", "DSA ", "ENCRYPTED ", "", "PGP ", "RSA-ENC", "RSA "][i % 9]
    headers = []
    if kind == "OPENSSH ":
        body = pem_lines(R.randrange(380, 1700), 70)
    elif kind == "EC ":
        body = pem_lines(121)
    elif kind == "PGP ":
        headers = ["Version: GnuPG v2", ""]
        body = pem_lines(R.randrange(900, 2400)) + ["=" + rand(B64, 4)]
    elif kind == "RSA-ENC":
        kind = "RSA "
        headers = ["Proc-Type: 4,ENCRYPTED", "DEK-Info: AES-128-CBC," + rand(HEX.upper(), 32), ""]
        body = pem_lines(1190)
    else:
        body = pem_lines(R.randrange(600, 2400))
    block = " BLOCK" if kind == "PGP " else ""
    begin = f"-----BEGIN {kind}PRIVATE KEY{block}-----"
    end = f"-----END {kind}PRIVATE KEY{block}-----"
    needles = [line for line in body if len(line) >= 20]
    return "private_key", "\n".join([begin, *headers, *body, end]), needles


def truncated_private_key():
    """A key file read with a line limit: BEGIN and a few lines, no END."""
    body = pem_lines(600)[:5]
    return "private_key", "\n".join(["-----BEGIN RSA PRIVATE KEY-----", *body]), body


URL_FORMS = [
    "DATABASE_URL=postgres://app:{p}@db.internal:5432/app",
    "mysql://root:{p}@127.0.0.1:3306/shop",
    "REDIS_URL=redis://:{p}@cache:6379/0",
    "mongodb+srv://admin:{p}@cluster0.abcde.mongodb.net/test?retryWrites=true",
    "amqp://guest:{p}@rabbit:5672/",
    "https://deploy:{p}@registry.example.com/v2/",
    "git clone https://oauth2:{p}@gitlab.com/group/repo.git",
    "SQLALCHEMY_DATABASE_URI = 'postgresql+psycopg2://svc_user:{p}@10.0.3.7/prod'",
    "ftp://backup:{p}@files.example.org/dumps/",
    "smtp://mailer:{p}@smtp.example.com:587",
]


def url_password(i):
    pw = keyish(ALNUM, R.randrange(10, 24))
    if i % 3 == 1:
        pw = pw[:6] + R.choice(["%40", "!", "-", "_", ".", "~", "%2F", "*"]) + pw[6:]
    return "url_password", URL_FORMS[i % len(URL_FORMS)].format(p=pw), [pw]


def all_secrets():
    out = []
    out += [aws_access_key() for _ in range(12)]
    out += [aws_session_token() for _ in range(6)]
    out += [aws_secret_key(i) for i in range(16)]
    out += [anthropic_key() for _ in range(10)]
    out += [openai_key() for _ in range(16)]
    out += [hf_token() for _ in range(8)]
    out += [github_pat(i) for i in range(15)]
    out += [slack_token() for _ in range(8)]
    out += [bearer_token() for _ in range(12)]
    out += [private_key(i) for i in range(11)]
    out += [truncated_private_key() for _ in range(2)]
    out += [url_password(i) for i in range(14)]
    out += more_secrets()
    return out


# --------------------------------------------------------------------------- issue 11 families
# Written from the vendors' documented formats (prefix, length, alphabet), in the shapes their
# own tools print or read. Each returns (rule, snippet, needles).

BECH32 = "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L"


def b64(nbytes):
    return base64.b64encode(bytes(R.randrange(256) for _ in range(nbytes))).decode()


def b64u(nbytes):
    return base64.urlsafe_b64encode(bytes(R.randrange(256) for _ in range(nbytes))).decode().rstrip("=")


def jwt(claims):
    head = base64.urlsafe_b64encode(json.dumps({"alg": R.choice(["HS256", "RS256", "ES256"]), "typ": "JWT"}).encode()).decode().rstrip("=")
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"{head}.{body}.{b64u(R.choice([32, 64, 256]))}"


def aws_more(i):
    kid, sec = "AKIA" + rand(B32, 16), keyish(B64, 40)
    forms = [
        (f"$ aws configure\nAWS Access Key ID [None]: {kid}\nAWS Secret Access Key [None]: {sec}\nDefault region name [None]: us-east-1\nDefault output format [None]: json", "aws_secret_key"),
        (f"AWS Secret Access Key [****************{sec[-4:]}]: {sec}", "aws_secret_key"),
        (f"User name,Password,Access key ID,Secret access key,Console login link\nci,,{kid},{sec},https://123456789012.signin.aws.amazon.com/console", "aws_secret_key"),
        (f"Access key ID,Secret access key\n{kid},{sec}", "aws_secret_key"),
        (f"<Credentials>\n  <AccessKeyId>{kid}</AccessKeyId>\n  <SecretAccessKey>{sec}</SecretAccessKey>\n</Credentials>", "aws_secret_key"),
        ('            "id": "' + kid + '",\n            "secret": "' + sec + '",\n            "ses_smtp_password_v4": null,', "aws_secret_key"),
        (f"| Name | Value |\n|------|-------|\n| aws_access_key_id | {kid} |\n| aws_secret_access_key | {sec} |", "aws_secret_key"),
        ("[default]\naws_access_key_id = " + kid + "\naws_secret_access_key = " + sec.replace("/", "\\/"), "aws_secret_key"),
    ]
    text, rule = forms[i % len(forms)]
    return rule, text, [p for p in sec.split("/") if len(p) >= 8] if "\\/" in text else [sec]


def aws_session_blob(i):
    blob = R.choice(["IQoJb3JpZ2luX2VjE", "IQoJb3JpZ2luX2VjEK", "FwoGZXIvYXdzE", "FQoGZXIvYXdzE"]) + rand(B64, R.randrange(300, 900))
    form = [
        "aws_session_token = {t}",
        'export AWS_SESSION_TOKEN="{t}"',
        '"SessionToken": "{t}",',
        "<SessionToken>{t}</SessionToken>",
    ][i % 4]
    return "aws_session_token", form.format(t=blob), [blob[20:70], blob[-40:]]


def gitlab(i):
    kinds = [("glpat-", URLS := ALNUM + "-_", 20), ("glrt-", ALNUM + "-_", 20), ("gldt-", ALNUM + "-_", 20),
             ("glptt-", HEX, 40), ("gloas-", HEX, 64), ("glft-", ALNUM + "-_", 20), ("glimt-", ALNUM + "-_", 25),
             ("glsoat-", ALNUM + "-_", 20), ("glcbt-64_", ALNUM + "-_", 20), ("GR1348941", ALNUM + "-_", 20)]
    p, alpha, n = kinds[i % len(kinds)]
    body = keyish(alpha, n) if alpha is not HEX else rand(HEX, n)
    tok = p + body
    form = R.choice(["GITLAB_TOKEN={t}", 'git clone https://oauth2:{t}@gitlab.com/acme/api.git',
                     'curl --header "PRIVATE-TOKEN: {t}" "https://gitlab.example.com/api/v4/projects"',
                     "gitlab-runner register --url https://gitlab.com --token {t}", "  token: {t}"])
    return "gitlab_token", form.format(t=tok), [body]


def slack_more(i):
    if i % 3 == 0:
        body = f"1-A{rand(UP + DIG, 10)}-{rand(DIG, 13)}-{rand(HEX, 64)}"
        return "slack_token", f"SLACK_APP_TOKEN=xapp-{body}", [body[-40:]]
    if i % 3 == 1:
        path = f"T{rand(UP + DIG, 8)}/B{rand(UP + DIG, 10)}/{keyish(ALNUM, 24)}"
        form = R.choice(["SLACK_WEBHOOK_URL=https://hooks.slack.com/services/{p}",
                         "curl -X POST -H 'Content-type: application/json' --data '{{\"text\":\"hi\"}}' https://hooks.slack.com/services/{p}"])
        return "slack_webhook", form.format(p=path), [path.rsplit("/", 1)[1]]
    body = f"1-{rand(DIG, 13)}-{rand(DIG, 13)}-{rand(HEX, 64)}"
    return "slack_token", f'"access_token": "xoxe.xoxp-{body}"', [body[-40:]]


def stripe(i):
    p = ["sk_live_", "rk_live_", "sk_test_", "whsec_"][i % 4]
    body = keyish(ALNUM, 99 if p == "sk_live_" else (32 if p == "whsec_" else 24))
    form = R.choice(["STRIPE_SECRET_KEY={k}", "stripe.api_key = '{k}'", "curl https://api.stripe.com/v1/charges -u {k}:",
                     "const stripe = require('stripe')('{k}');", "STRIPE_WEBHOOK_SECRET={k}"])
    return "stripe_key", form.format(k=p + body), [body]


def google(i):
    if i % 3 == 0:
        k = "AIza" + keyish(ALNUM + "-_", 35)
        form = R.choice(["GOOGLE_API_KEY={k}", "https://maps.googleapis.com/maps/api/js?key={k}&callback=init",
                         'const firebaseConfig = {{ apiKey: "{k}", authDomain: "app.firebaseapp.com" }};'])
        return "google_api_key", form.format(k=k), [k[4:]]
    if i % 3 == 1:
        k = "GOCSPX-" + keyish(ALNUM + "-_", 28)
        form = R.choice(['"client_secret": "{k}",', "GOOGLE_CLIENT_SECRET={k}"])
        return "google_oauth", form.format(k=k), [k[7:]]
    k = "ya29." + keyish(ALNUM + "-_", R.randrange(120, 200))
    form = R.choice(['{{"access_token": "{k}", "expires_in": 3599, "token_type": "Bearer"}}', "gcloud auth print-access-token\n{k}"])
    return "google_oauth", form.format(k=k), [k[5:50]]


def azure(i):
    if i % 2 == 0:
        k = b64(64)
        form = R.choice(["AZURE_STORAGE_CONNECTION_STRING=DefaultEndpointsProtocol=https;AccountName=acmeprod;AccountKey={k};EndpointSuffix=core.windows.net",
                         '"AccountKey": "{k}"', "az storage account keys list ...\n{{\n  \"keyName\": \"key1\",\n  \"value\": \"{k}\"\n}}"])
        rule = "azure_storage_key"
        return rule, form.format(k=k), [k[:40]]
    sig = b64(32).replace("+", "%2B").replace("/", "%2F").replace("=", "%3D")
    url = f"https://acmeprod.blob.core.windows.net/backup/db.bak?sp=r&st=2026-11-01T10:00:00Z&se=2026-12-01T18:00:00Z&spr=https&sv=2022-11-02&sr=b&sig={sig}"
    return "azure_sas", R.choice(["azcopy copy '{u}' ./db.bak", "SAS_URL={u}"]).format(u=url), [sig[:30]]


def jwt_any(i):
    t = jwt({"sub": rand(DIG, 10), "name": "Jane Doe", "iat": R.randrange(10**9, 2 * 10**9), "role": R.choice(["admin", "service_role", "user"])})
    form = R.choice(["id_token={t}", '{{"token": "{t}"}}', "Set-Cookie: session={t}; Path=/; HttpOnly",
                     "SUPABASE_SERVICE_ROLE_KEY={t}", "curl 'https://api.example.com/me?access_token={t}'", "{t}"])
    return "jwt", form.format(t=t), [t.split(".")[1][:30], t.split(".")[2][:30]]


def kube(i):
    if i % 2 == 0:
        t = jwt({"iss": "kubernetes/serviceaccount", "kubernetes.io/serviceaccount/namespace": "default"})
        return "jwt", f"users:\n- name: deployer\n  user:\n    token: {t}", [t.split(".")[2][:30]]
    pem = "-----BEGIN RSA PRIVATE KEY-----\n" + "\n".join(pem_lines(R.randrange(600, 1200))) + "\n-----END RSA PRIVATE KEY-----\n"
    k = base64.b64encode(pem.encode()).decode()
    cert = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nMIIC" + rand(B64, 300).encode() + b"\n-----END CERTIFICATE-----\n").decode()
    return "private_key", f"users:\n- name: admin\n  user:\n    client-certificate-data: {cert}\n    client-key-data: {k}", [k[40:100], k[-60:-10]]


def simple(rule, prefix, alpha, n, forms, cut=None):
    def gen():
        body = keyish(alpha, n) if alpha not in (HEX,) else rand(HEX, n)
        tok = prefix + body
        return rule, R.choice(forms).format(t=tok), [body if cut is None else body[cut:]]
    return gen


SIMPLE = [
    simple("npm_token", "npm_", ALNUM, 36, ["//registry.npmjs.org/:_authToken={t}", "NPM_TOKEN={t}", "npm config set //registry.npmjs.org/:_authToken {t}"]),
    simple("pypi_token", "pypi-AgEIcHlwaS5vcmc", ALNUM + "-_", 150, ["[pypi]\n  username = __token__\n  password = {t}", "TWINE_PASSWORD={t}", "uv publish --token {t}"]),
    simple("docker_token", "dckr_pat_", ALNUM + "-_", 27, ["echo {t} | docker login -u acme --password-stdin", "DOCKERHUB_TOKEN={t}"]),
    simple("databricks_token", "dapi", HEX, 32, ["DATABRICKS_TOKEN={t}", "[DEFAULT]\nhost = https://adb-1234.5.azuredatabricks.net\ntoken = {t}"]),
    simple("digitalocean_token", "dop_v1_", HEX, 64, ["doctl auth init --access-token {t}", "DIGITALOCEAN_TOKEN={t}"]),
    simple("digitalocean_token", "doo_v1_", HEX, 64, ["DO_OAUTH_TOKEN={t}"]),
    simple("shopify_token", "shpat_", HEX, 32, ["X-Shopify-Access-Token: {t}", "SHOPIFY_ACCESS_TOKEN={t}"]),
    simple("shopify_token", "shpss_", HEX, 32, ["SHOPIFY_API_SECRET={t}"]),
    simple("vault_token", "hvs.", ALNUM + "-_", 91, ["export VAULT_TOKEN={t}", "vault login {t}", "X-Vault-Token: {t}"]),
    simple("vault_token", "hvb.", ALNUM + "-_", 138, ["VAULT_TOKEN={t}"]),
    simple("notion_token", "ntn_" + rand(DIG, 11), ALNUM, 35, ["NOTION_API_KEY={t}", 'const notion = new Client({{ auth: "{t}" }})']),
    simple("notion_token", "secret_", ALNUM, 43, ["NOTION_TOKEN={t}"]),
    simple("linear_key", "lin_api_", ALNUM, 40, ["LINEAR_API_KEY={t}", "curl -H 'Authorization: {t}' https://api.linear.app/graphql"]),
    simple("groq_key", "gsk_", ALNUM, 52, ["GROQ_API_KEY={t}", 'client = Groq(api_key="{t}")']),
    simple("atlassian_token", "ATATT3xFfGF0", ALNUM + "-_", 170, ["JIRA_API_TOKEN={t}=A1B2C3D4", "curl -u me@acme.com:{t}=0F1E2D3C https://acme.atlassian.net/rest/api/3/myself"]),
    simple("sentry_token", "sntryu_", HEX, 64, ["SENTRY_AUTH_TOKEN={t}", "[auth]\ntoken={t}"]),
    simple("postman_key", "PMAK-" + rand(HEX, 24) + "-", HEX, 34, ["POSTMAN_API_KEY={t}", "x-api-key: {t}"]),
    simple("mailgun_key", "key-", HEX, 32, ["MAILGUN_API_KEY={t}", "curl -s --user 'api:{t}' https://api.mailgun.net/v3/mg.acme.com/messages"]),
    simple("replicate_token", "r8_", ALNUM, 37, ["REPLICATE_API_TOKEN={t}", "export REPLICATE_API_TOKEN={t}"]),
    simple("heroku_key", "HRKU-", ALNUM + "-_", 60, ["HEROKU_API_KEY={t}", "machine api.heroku.com\n  login me@acme.com\n  password {t}"]),
    simple("newrelic_key", "NRAK-", UP + DIG, 27, ["NEW_RELIC_API_KEY={t}"]),
    simple("grafana_token", "glsa_", ALNUM, 32, ["GRAFANA_SERVICE_ACCOUNT_TOKEN={t}_" + "a1b2c3d4"]),
    simple("supabase_token", "sbp_", HEX, 40, ["SUPABASE_ACCESS_TOKEN={t}", "supabase login --token {t}"]),
    simple("doppler_token", "dp.pt.", ALNUM, 43, ["DOPPLER_TOKEN={t}", "doppler configure set token {t}"]),
    simple("pulumi_token", "pul-", HEX, 40, ["PULUMI_ACCESS_TOKEN={t}"]),
    simple("square_token", "EAAA", ALNUM + "-_", 60, ["SQUARE_ACCESS_TOKEN={t}"]),
    simple("xai_key", "xai-", ALNUM, 80, ["XAI_API_KEY={t}"]),
    simple("anthropic_key", "sk-ant-admin01-", ALNUM + "-_", 93, ["ANTHROPIC_ADMIN_KEY={t}AA"]),
    simple("openai_key", "sk-admin-", ALNUM + "-_", 150, ["OPENAI_ADMIN_KEY={t}"]),
    simple("flyio_token", "fo1_", ALNUM + "-_", 43, ["FLY_API_TOKEN={t}"]),
    simple("alibaba_key", "LTAI", ALNUM, 20, ["ALIBABA_CLOUD_ACCESS_KEY_ID={t}"]),
    simple("perplexity_key", "pplx-", ALNUM, 48, ["PERPLEXITY_API_KEY={t}"]),
    simple("tavily_key", "tvly-", ALNUM, 32, ["TAVILY_API_KEY={t}"]),
    simple("hf_token", "hf_", ALNUM, 34, ["huggingface-cli login --token {t}"]),
    simple("bitbucket_token", "ATBB", ALNUM, 32, ["BITBUCKET_APP_PASSWORD={t}", "git clone https://me:{t}@bitbucket.org/acme/api.git"]),
    simple("dropbox_token", "sl.B", ALNUM + "-_", 136, ["DROPBOX_ACCESS_TOKEN={t}"]),
    simple("langsmith_key", "lsv2_pt_" + rand(HEX, 32) + "_", HEX, 10, ["LANGSMITH_API_KEY={t}", "LANGCHAIN_API_KEY={t}"]),
    simple("pinecone_key", "pcsk_", ALNUM + "_", 70, ["PINECONE_API_KEY={t}"]),
    simple("paypal_braintree_token", "access_token$production$" + rand(DIG + LO, 16) + "$", HEX, 32, ["BRAINTREE_ACCESS_TOKEN={t}"]),
]


def sendgrid():
    a, b = keyish(ALNUM + "-_", 22), keyish(ALNUM + "-_", 43)
    return "sendgrid_key", R.choice(["SENDGRID_API_KEY=SG.{a}.{b}", "sg.client = SendGridAPIClient('SG.{a}.{b}')"]).format(a=a, b=b), [b]


def twilio():
    sid, tok = "AC" + rand(HEX, 32), rand(HEX, 32)
    if R.random() < 0.5:
        return "twilio_key", f"# twilio\nTWILIO_API_KEY=SK{tok}", [tok]
    return "secret_assignment", f"TWILIO_ACCOUNT_SID={sid}\nTWILIO_AUTH_TOKEN={tok}", [tok]


def telegram():
    t = f"{rand(DIG, 10)}:AA{keyish(ALNUM + '-_', 33)}"
    form = R.choice(["TELEGRAM_BOT_TOKEN={t}", "curl https://api.telegram.org/bot{t}/getMe", "bot = telebot.TeleBot('{t}')"])
    return "telegram_bot_token", form.format(t=t), [t.split(":")[1]]


def cloudflare():
    if R.random() < 0.5:
        t = keyish(ALNUM + "-_", 40)
        return "secret_assignment", R.choice(["CLOUDFLARE_API_TOKEN={t}", "CF_API_TOKEN={t}"]).format(t=t), [t]
    k = f"v1.0-{rand(HEX, 24)}-{rand(HEX, 146)}"
    return "cloudflare_key", f"CF_ORIGIN_CA_KEY={k}", [k[6:40]]


def terraform():
    t = f"{keyish(ALNUM, 14)}.atlasv1.{keyish(ALNUM + '-_', 67)}"
    return "terraform_token", R.choice(['credentials "app.terraform.io" {{\n  token = "{t}"\n}}', "TF_TOKEN_app_terraform_io={t}"]).format(t=t), [t.split(".")[2]]


def mapbox():
    t = f"sk.eyJ1IjoiYWNtZSIsImEiOiJ{keyish(ALNUM, 20)}In0.{keyish(ALNUM + '-_', 22)}"
    return "mapbox_token", f"MAPBOX_SECRET_TOKEN={t}", [t.split(".")[-1]]


def discord():
    t = keyish(ALNUM + "-_", 68)
    return "discord_webhook", f"DISCORD_WEBHOOK=https://discord.com/api/webhooks/{rand(DIG, 18)}/{t}", [t]


def age_key():
    k = "AGE-SECRET-KEY-1" + rand(BECH32, 58)
    return "age_secret_key", f"# created: 2026-11-20T10:11:12+01:00\n# public key: age1{rand(BECH32.lower(), 58)}\n{k}", [k[16:]]


def putty():
    priv = [rand(B64, 64) for _ in range(R.randrange(1, 4))] + [rand(B64, 24) + "=="]
    text = ("PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: eddsa-key-20261120\nPublic-Lines: 2\n"
            + "\n".join(pem_lines(51)) + f"\nPrivate-Lines: {len(priv)}\n" + "\n".join(priv) + "\nPrivate-MAC: " + rand(HEX, 64))
    return "private_key", text, [p for p in priv if len(p) >= 20]


def b64_pem():
    pem = "-----BEGIN PRIVATE KEY-----\n" + "\n".join(pem_lines(R.randrange(600, 1200))) + "\n-----END PRIVATE KEY-----\n"
    k = base64.b64encode(pem.encode()).decode()
    return "private_key", R.choice(["apiVersion: v1\nkind: Secret\ntype: kubernetes.io/tls\ndata:\n  tls.crt: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==\n  tls.key: {k}", "TLS_KEY_B64={k}"]).format(k=k), [k[40:100]]


def docker_auth():
    a = base64.b64encode(f"acme:{keyish(ALNUM, 20)}".encode()).decode()
    return "docker_auth", '{\n  "auths": {\n    "https://index.docker.io/v1/": {\n      "auth": "' + a + '"\n    }\n  }\n}', [a]


PW = ALNUM + "!#%^*-_"


def passwords(i):
    pw = keyish(PW, R.randrange(10, 20))
    forms = [
        ("jdbc:postgresql://db.internal:5432/app?user=app&password={p}&sslmode=require", "password_assignment"),
        ("jdbc:sqlserver://sql01:1433;databaseName=shop;user=sa;password={p};encrypt=true", "password_assignment"),
        ("mysql -h 127.0.0.1 -u root -p'{p}' shop", "cli_password"),
        ("mysql -uroot -p{p} -e 'show databases'", "cli_password"),
        ("curl -u admin:{p} https://jenkins.internal/api/json", "basic_auth"),
        ("PGPASSWORD={p} psql -h db -U app app", "password_assignment"),
        ("sshpass -p '{p}' ssh deploy@10.0.0.7", "cli_password"),
        ("DB_PASSWORD={p}", "password_assignment"),
        ("export MYSQL_ROOT_PASSWORD='{p}'", "password_assignment"),
        ("spring.datasource.password={p}", "password_assignment"),
        ("  password: \"{p}\"", "password_assignment"),
        ('"password": "{p}"', "password_assignment"),
        ("[client]\nuser = root\npassword = {p}", "password_assignment"),
        ("| db_password | {p} |", "password_assignment"),
        ("redis-cli -h cache -a '{p}' ping", "cli_password"),
        ("<password>{p}</password>", "password_assignment"),
    ]
    text, rule = forms[i % len(forms)]
    return rule, text.format(p=pw), [pw]


def url_pw_more(i):
    pw = keyish(ALNUM, 8) + R.choice(["/", "?", "#", "%2F", "%40", "%23"]) + keyish(ALNUM, 6)
    form = ["postgres://app:{p}@db.internal:5432/app", "https://deploy:{p}@registry.acme.io/v2/", "amqps://worker:{p}@mq.internal/vhost"][i % 3]
    return "url_password", form.format(p=pw), [pw]


def auth_headers(i):
    if i % 3 == 0:
        c = base64.b64encode(f"admin:{keyish(ALNUM, 14)}".encode()).decode()
        return "basic_auth", R.choice(["Authorization: Basic {c}", "AUTHORIZATION: BASIC {c}", "curl -H 'authorization: basic {c}' http://localhost:9200"]).format(c=c), [c]
    if i % 3 == 1:
        t = keyish(ALNUM, 40)
        return "bearer_token", R.choice(["Authorization: Token {t}", "authorization: token {t}"]).format(t=t), [t]
    t = keyish(ALNUM, R.randrange(10, 19))
    return "bearer_token", R.choice(["Authorization: BEARER {t}", "-H 'Authorization: Bearer {t}'"]).format(t=t), [t]


def assignments(i):
    v = keyish(ALNUM + "-_", R.randrange(24, 48))
    forms = ["SECRET_KEY={v}", "export API_KEY={v}", "  client_secret: {v}", 'JWT_SECRET="{v}"', "apiKey: '{v}'",
             "STRIPE_KEY = \"{v}\"", "[auth]\ntoken = \"{v}\"", "X-Api-Key: {v}", "auth_token={v}", "| api_key | {v} |",
             "--token {v}", "ENCRYPTION_KEY={v}", '"accessToken":"{v}"', "webhook_secret: {v}", "const API_KEY = '{v}';"]
    return "secret_assignment", forms[i % len(forms)].format(v=v), [v]


def encoded(i):
    g = "ghp_" + keyish(ALNUM, 36)
    forms = [
        ("https://app.acme.io/oauth/cb?state=xyz&next=%2Fhome%3Ftoken%3D{g}", "github_pat"),
        ("https://app.acme.io/login?redirect=https%3A%2F%2Fx.io%2F%3Ftoken%3D{g}%26a%3D1", "github_pat"),
    ]
    text, rule = forms[i % 2]
    return rule, text.format(g=g), [g[4:]]


def escaped_slash():
    sec = keyish(ALNUM, 20) + "/" + keyish(ALNUM, 19)
    return "aws_secret_key", '{"aws_secret_access_key":"' + sec.replace("/", "\\/") + '"}', [sec.split("/")[1]]


def more_secrets():
    out = []
    out += [aws_more(i) for i in range(16)]
    out += [aws_session_blob(i) for i in range(6)]
    out += [gitlab(i) for i in range(12)]
    out += [slack_more(i) for i in range(6)]
    out += [stripe(i) for i in range(8)]
    out += [google(i) for i in range(9)]
    out += [azure(i) for i in range(6)]
    out += [jwt_any(i) for i in range(8)]
    out += [kube(i) for i in range(4)]
    out += [g() for g in SIMPLE]
    out += [g() for g in SIMPLE[:12]]
    out += [sendgrid() for _ in range(3)]
    out += [twilio() for _ in range(3)]
    out += [telegram() for _ in range(3)]
    out += [cloudflare() for _ in range(3)]
    out += [terraform() for _ in range(2)]
    out += [mapbox(), discord(), discord(), age_key(), age_key(), putty(), putty(), b64_pem(), b64_pem(), docker_auth(), docker_auth()]
    out += [passwords(i) for i in range(24)]
    out += [url_pw_more(i) for i in range(6)]
    out += [auth_headers(i) for i in range(9)]
    out += [assignments(i) for i in range(20)]
    out += [encoded(i) for i in range(4)]
    out += [escaped_slash() for _ in range(2)]
    return out


# --------------------------------------------------------------------------- look-alikes

def code_base64():
    code = R.choice([
        "fn main() {\n    let task_queue = TaskQueue::new();\n    task_queue.run();\n}\n",
        "import os\nSECRET_NAME = os.environ.get('SECRET_NAME', 'default')\nprint(SECRET_NAME)\n",
        "const mask = (s) => s.replace(/./g, '*');\nexport default mask;\n",
        "#!/bin/sh\nset -eu\naws s3 cp dist/ s3://bucket/ --recursive\n",
    ]) * R.randrange(2, 6)
    return base64.b64encode(code.encode()).decode()


def lookalikes():
    out = []
    out += [("uuid", uuid()) for _ in range(10)]
    out += [("git sha", rand(HEX, 40)) for _ in range(10)]
    out += [("git sha", f"commit {rand(HEX, 40)}") for _ in range(3)]
    out += [("sha256", rand(HEX, 64)) for _ in range(5)]
    out += [("sha256", f"sha256:{rand(HEX, 64)}") for _ in range(3)]
    for w in ["task", "mask", "disk", "desk", "risk", "ask", "flask", "kiosk"]:
        out.append((f"{w}- word", f"{w}-" + rand(LO, 24)))
        out.append((f"{w}- mixed", f"{w}-" + keyish(ALNUM, 24)))
    out += [("base64 of code", code_base64()) for _ in range(8)]
    out += [("long identifier", s) for s in [
        "ThisIsAVeryLongIdentifierNameForTestingPurposes123",
        "AbstractSingletonProxyFactoryBeanDefinitionParser",
        "test_secret_access_key_rotation_is_scheduled_weekly",
        "SECRET_KEY_BASE_DUMMY",
        "my_function_that_uses_hf_hub_download_to_fetch_models",
        "useSecretAccessKeyFromEnvironmentInsteadOfConfig",
        "sk_live_is_not_the_openai_prefix_AbCdEf0123",  # underscore: not an sk- key
    ]]
    out += [("aws-like word", s) for s in [
        "akiaiosfodnn7example",
        "XAKIAIOSFODNN7EXAMPLE",
        "AKIAIOSFODNN7EXAMPLE1234",
        "AKIA1234567890ABCDE",
        "ASIAN-PACIFIC-REGIONAL-OFFICE",
        "ASIA_PACIFIC_SOUTHEAST_REGION",
        "AKIA_PLACEHOLDER",
    ]]
    out += [("sk- word", s) for s in [
        "skeleton-key-" + keyish(ALNUM, 24),
        "sk-learn is the wrong name, use scikit-learn",
        "sk-some-long-kebab-case-identifier-name",
        "sk-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "sk-YOUR_KEY_HERE",
        "sk-proj-YOUR-OPENAI-API-KEY-GOES-HERE",
        "sk-ant-your-key-here-from-the-console",
        "husk-" + keyish(ALNUM, 30),
        "OPENAI_API_KEY=sk-...",
    ]]
    out += [("bearer word", s) for s in [
        "Authorization: Bearer token",
        "Authorization: Bearer ${API_TOKEN}",
        "Authorization: Bearer <your-token>",
        "the bearer of bad news is never welcome here",
        "Bearer authentication is described in RFC 6750",
        "BearerTokenAuthenticationMiddlewareForTheApiGateway",
        'headers["Authorization"] = "Bearer " + token',
        "Bearer $TOKEN",
    ]]
    out += [("token-like word", s) for s in [
        "hf_hub_download",
        "self.hf_model_name_or_path_for_the_tokenizer",
        "ghp_ prefixed tokens are classic personal access tokens",
        "gh_pages_deploy_branch_configuration_value",
        "github_pat_ is the fine-grained prefix",
        "xoxo-hugs-and-kisses-from-the-team",
        "xoxb-short",
        "mygh" + "p_" + keyish(ALNUM, 36),
    ]]
    out += [("url without password", s) for s in [
        "https://user@example.com/path",
        "http://localhost:8080/api?email=a@b.com",
        "git@github.com:owner/repo.git",
        "postgres://app@db.internal/app",
        "postgres://app:${DB_PASSWORD}@db.internal/app",
        "postgres://app:$DB_PASSWORD@db.internal/app",
        "https://example.com:443/login",
        "mailto:someone@example.com",
        "ssh://git@host.example.com:22/x.git",
        "redis://cache:6379/0",
        "postgres://app:****@db.internal/app",
        "http://[::1]:8080/health",
        "https://docs.rs/regex/latest/regex/",
        "postgres://app:{{ db_password }}@db/app",
    ]]
    out += [("pem look-alike", s) for s in [
        "-----BEGIN PUBLIC KEY-----\n" + "\n".join(pem_lines(294)) + "\n-----END PUBLIC KEY-----",
        "-----BEGIN CERTIFICATE-----\n" + "\n".join(pem_lines(900)) + "\n-----END CERTIFICATE-----",
        "paste it between the -----BEGIN PRIVATE KEY----- and -----END PRIVATE KEY----- lines",
        "-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----",
        "-----BEGIN OPENSSH PRIVATE KEY----- (redacted by the user)",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI" + rand(B64, 43) + " me@laptop",
    ]]
    out += [("aws secret look-alike", s) for s in [
        "AWS_SECRET_ACCESS_KEY=$AWS_SECRET_ACCESS_KEY_FROM_VAULT",
        "aws_secret_access_key: <your-secret-access-key>",
        keyish(B64, 40),
        "AWS_SECRET_ACCESS_KEY_ID=" + keyish(B64, 40),
        "the secret access key is " + keyish(B64, 40),
    ]]
    out += [("image data", rand(B64, 3000))]
    out += [("plain prose", s) for s in [
        "I'll fix the task-queue ordering and rerun the tests.",
        "The secret to fast builds is caching the registry.",
        "Rotate the AWS secret key every 90 days, per policy.",
    ]]
    out += [("npm integrity", f'"integrity": "sha512-{b64(64)}"') for _ in range(5)]
    out += [("sha512", rand(HEX, 128)) for _ in range(3)]
    out += [("data url", f"![screenshot](data:image/png;base64,{b64(1500)})") for _ in range(3)]
    out += [("id", f'"{k}": "{p}01{keyish(ALNUM, 22)}"') for k, p in
            [("id", "toolu_"), ("id", "msg_"), ("requestId", "req_"), ("tool_use_id", "srvtoolu_"), ("id", "toolu_vrtx_")]]
    out += [("task id", f"task-{keyish(ALNUM, 10)}") for _ in range(3)]
    out += [("code", c) for c in [
        "pub struct Credentials { pub user: String, pub password: String }",
        "api_key = os.environ[\"API_KEY\"]",
        "SECRET_KEY = os.getenv(\"SECRET_KEY\")",
        "const token = process.env.TOKEN;",
        "conn = psycopg2.connect(user=user, password=password)",
        "token = get_token()",
        "self.password = password",
        "if (!apiKey) throw new Error('missing API key');",
        "let secret = read_secret(&path)?;",
        "auth_token: Option<String>,",
        "def login(username: str, password: str) -> Session:",
        "password: string;",
        "export GITHUB_TOKEN=$(gh auth token)",
        "headers = {'Authorization': f'Bearer {token}'}",
        "client_secret=settings.CLIENT_SECRET,",
        "token: ${{ secrets.GITHUB_TOKEN }}",
        "password = config[\"db\"][\"password\"]",
        "if password == confirm_password:",
        "const [password, setPassword] = useState('');",
        "SECRET_KEY_FILE=/run/secrets/django_key",
        "PRIVATE_KEY_PATH=~/.ssh/id_ed25519",
        "\"max_tokens\": 4096, \"input_tokens\": 1523",
        "tokenizer = AutoTokenizer.from_pretrained(\"bert-base-uncased\")",
        "passwordless login via magic links",
        "PWD=/home/me/work/app\nOLDPWD=/home/me",
    ]]
    out += [("placeholder", p) for p in [
        "mysql://ro:%(password)s@replica/shop",
        "DB_PASSWORD=${DB_PASSWORD}",
        "password: $DB_PASSWORD",
        "password: {{ .Values.postgres.password }}",
        "secret: {{ secret }}",
        "API_KEY=YOUR_API_KEY",
        "OPENAI_API_KEY=<your-api-key>",
        "token: <token>",
        "SECRET_KEY=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "password=changeme",
        "password: '***'",
        "api_key: REDACTED",
        "password = \"example\"",
        "token=dummy",
        "PASSWORD=test",
        "STRIPE_SECRET_KEY=sk_live_...",
        "password: ********",
        "client_secret = \"<client-secret>\"",
        "AWS_SECRET_ACCESS_KEY=${{ secrets.AWS_SECRET_ACCESS_KEY }}",
        "GITHUB_TOKEN=ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "Authorization: Basic <base64(user:pass)>",
        "curl -u $USER:$PASS https://example.com",
        "docker run -u 1000:1000 image",
        "mysql -u root -p",
        "password = None",
        "\"password\": null",
        "password: true",
        "jdbc:postgresql://db/app?user=app&password=${DB_PASS}",
        "postgres://app:%(pw)s@db/app",
        "token: \"{{ vault_token }}\"",
    ]]
    out += [("prose", p) for p in [
        "The token limit is 200k tokens per request.",
        "Store the password in the keychain, never in the repo.",
        "Set an API key in the dashboard, then restart.",
        "Basic usage: run `make` then `make test`.",
        "keyboard shortcut: Ctrl+K",
        "The bearer of this letter is authorised.",
        "Using the secret manager is the recommended approach for credentials.",
    ]]
    out += [("uuid", f'"sessionId": "{uuid()}"') for _ in range(4)]
    out += [("git sha", f"Merge: {rand(HEX, 7)} {rand(HEX, 7)}\ncommit {rand(HEX, 40)}") for _ in range(3)]
    out += [("sha256", f"sha256:{rand(HEX, 64)} image digest") for _ in range(2)]
    return out


# --------------------------------------------------------------------------- transcript lines

SESSION = uuid()
CLOCK = [0]


def envelope(kind, message, extra=None):
    CLOCK[0] += 1
    line = {
        "parentUuid": uuid(), "isSidechain": False, "userType": "external", "cwd": "/home/me/work/app",
        "sessionId": SESSION, "version": "2.1.3", "gitBranch": "main", "type": kind,
        "uuid": uuid(), "timestamp": f"2026-11-21T10:{CLOCK[0] // 60 % 60:02d}:{CLOCK[0] % 60:02d}.000Z",
        "message": message,
    }
    line.update(extra or {})
    return line


def tool_result(content, extra):
    return envelope("user", {"role": "user", "content": [
        {"tool_use_id": "toolu_" + rand(ALNUM, 24), "type": "tool_result", "content": content}]}, extra)


def tool_use(name, inp):
    return envelope("assistant", {"id": "msg_" + rand(ALNUM, 24), "type": "message", "role": "assistant",
                                  "model": "claude-sonnet-4-5", "content": [
                                      {"type": "tool_use", "id": "toolu_" + rand(ALNUM, 24), "name": name,
                                       "input": inp}]})


def style_user(s):
    return envelope("user", {"role": "user", "content": f"Why does deploy fail? I have this set:\n{s}\nThanks"})


def style_assistant(s):
    return envelope("assistant", {"role": "assistant", "content": [
        {"type": "text", "text": f"I found a credential committed in the config: `{s}`. Rotate it."}]})


def style_bash(s):
    return tool_use("Bash", {"command": f"cat >> .env <<'EOF'\n{s}\nEOF", "description": "Append to .env"})


def style_read(s):
    lines = ["# app settings", "DEBUG=false", *s.split("\n"), "LOG_LEVEL=info"]
    gutter = "\n".join(f"{n:>6}\u2192{line}" for n, line in enumerate(lines, 1))
    plain = "\n".join(lines)
    return tool_result(gutter, {"toolUseResult": {"type": "text", "file": {
        "filePath": "/home/me/work/app/.env", "content": plain, "numLines": len(lines), "startLine": 1,
        "totalLines": len(lines)}}})


def style_env(s):
    out = f"HOME=/home/me\nSHELL=/bin/zsh\n{s}\nPATH=/usr/local/bin:/usr/bin:/bin\n"
    return tool_result(out, {"toolUseResult": {"stdout": out, "stderr": "", "interrupted": False,
                                               "isImage": False}})


def style_diff(s):
    plus = "\n".join("+" + line for line in s.split("\n"))
    out = f"diff --git a/.env b/.env\nindex 3b18e51..a1f2c3d 100644\n--- a/.env\n+++ b/.env\n@@ -1,2 +1,3 @@\n DEBUG=false\n{plus}\n"
    return tool_result(out, {"toolUseResult": {"stdout": out, "stderr": "", "interrupted": False,
                                               "isImage": False}})


def style_edit(s):
    return tool_use("Edit", {"file_path": "/home/me/work/app/config.py", "old_string": "API_KEY = None",
                             "new_string": f"API_KEY = None\n{s}"})


JSON_KEY = ["credentials"]


def style_json_file(s):
    """A JSON file read by a tool: the secret is escaped twice in the transcript."""
    doc = json.dumps({"profile": "default", JSON_KEY[0]: s, "region": "eu-west-1"}, indent=2)
    return tool_result(doc, {"toolUseResult": {"stdout": doc, "stderr": "", "interrupted": False,
                                               "isImage": False}})


def style_own_line(s):
    content = f"{s}\n"
    return tool_use("Write", {"file_path": "/home/me/work/app/secret.txt", "content": content})


STYLES = [style_user, style_assistant, style_bash, style_read, style_env, style_diff, style_edit,
          style_json_file, style_own_line]


def dump(obj, i):
    # Claude Code keeps UTF-8 as is; every 7th line uses \\uXXXX escapes like other writers.
    return json.dumps(obj, ensure_ascii=(i % 7 == 3), separators=(",", ":"))


# --------------------------------------------------------------------------- new shapes (speed work)
# Shapes the lines above do not have, per family of issue 11: what CLIs print, config files,
# logs, diffs, JSON escaped inside a tool_result string, %-encoded URLs, markdown tables, XML.
# Written after the lines above (their bytes do not change) and appended to both files.

def style_output(s):
    """Command output as a Bash tool_result (stdout)."""
    return tool_result(s, {"toolUseResult": {"stdout": s, "stderr": "", "interrupted": False, "isImage": False}})


def style_escaped(s):
    """A JSON document printed by a tool: every quote and line break of the file is escaped once
    more inside the tool_result string (and `/` written as `\\/`, as PHP and some loggers do)."""
    doc = json.dumps({"log": s}).replace("/", "\\/")
    return tool_result(doc, {"toolUseResult": {"stdout": doc, "stderr": "", "interrupted": False, "isImage": False}})


def new_secret_shapes():
    out = []  # (style, snippet, [(rule, needles)])
    kid, sec = "ASIA" + rand(B32, 16), keyish(B64, 40)
    blob = "IQoJb3JpZ2luX2VjE" + rand(B64, 600)
    out.append((style_output, '{\n    "Credentials": {\n        "AccessKeyId": "' + kid + '",\n        "SecretAccessKey": "' + sec
                + '",\n        "SessionToken": "' + blob + '",\n        "Expiration": "2026-11-22T10:00:00+00:00"\n    }\n}',
                [("aws_session_token", [kid[4:]]), ("aws_secret_key", [sec]), ("aws_session_token", [blob[30:80]])]))
    kid, sec = "AKIA" + rand(B32, 16), keyish(B64, 40)
    out.append((style_output, f"2026-11-21 10:00:03,112 DEBUG botocore.credentials Using access_key={kid} secret_key={sec} from env",
                [("aws_access_key", [kid[4:]]), ("aws_secret_key", [sec])]))
    sec = keyish(B64, 40)
    out.append((style_diff, f"[profile ci]\naws_access_key_id = AKIA{rand(B32, 16)}\naws_secret_access_key = {sec}", [("aws_secret_key", [sec])]))
    sec = keyish(B64, 40)
    out.append((style_output, f'"Env": [\n  "PATH=/usr/local/sbin:/usr/bin",\n  "AWS_SECRET_ACCESS_KEY={sec}",\n  "AWS_REGION=eu-west-1"\n]', [("aws_secret_key", [sec])]))
    sec = keyish(B64, 40)
    out.append((style_escaped, '{"type": "aws_iam_access_key", "instances": [{"attributes": {"id": "AKIA' + rand(B32, 16) + '", "secret": "' + sec + '"}}]}',
                [("aws_secret_key", [p for p in sec.split("/") if len(p) >= 8] or [sec])]))
    # GitLab
    t = "glpat-" + keyish(ALNUM + "-_", 20)
    out.append((style_output, f"origin\thttps://oauth2:{t}@gitlab.com/acme/api.git (fetch)\norigin\thttps://oauth2:{t}@gitlab.com/acme/api.git (push)", [("gitlab_token", [t[6:]])]))
    t = "glpat-" + keyish(ALNUM + "-_", 20)
    out.append((style_read, f"@acme:registry=https://gitlab.com/api/v4/projects/42/packages/npm/\n//gitlab.com/api/v4/projects/42/packages/npm/:_authToken={t}", [("gitlab_token", [t[6:]])]))
    t = "gldt-" + keyish(ALNUM + "-_", 20)
    out.append((style_output, f"| Name | Username | Token |\n|---|---|---|\n| deploy | gitlab+deploy-token-7 | {t} |", [("gitlab_token", [t[5:]])]))
    # Slack
    path = f"T{rand(UP + DIG, 8)}/B{rand(UP + DIG, 10)}/{keyish(ALNUM, 24)}"
    out.append((style_escaped, f"{{\"channel\": \"#ops\", \"url\": \"https://hooks.slack.com/services/{path}\"}}", [("slack_webhook", [path.rsplit("/", 1)[1]])]))
    t = f"xoxb-{rand(DIG, 12)}-{rand(DIG, 13)}-{keyish(ALNUM, 24)}"
    out.append((style_output, f"slack_sdk.errors.SlackApiError: The request to the Slack API failed. (url: https://slack.com/api/chat.postMessage?token={t})\nThe server responded with: {{'ok': False, 'error': 'not_in_channel'}}", [("slack_token", [t[-24:]])]))
    t = f"xapp-1-A{rand(UP + DIG, 10)}-{rand(DIG, 13)}-{rand(HEX, 64)}"
    out.append((style_read, f"[slack]\napp_token = \"{t}\"", [("slack_token", [t[-40:]])]))
    # Stripe
    t = "whsec_" + keyish(ALNUM, 32)
    out.append((style_output, f"> Ready! You are using Stripe API Version [2024-06-20]. Your webhook signing secret is {t} (^C to quit)", [("stripe_key", [t[6:]])]))
    t = "sk_live_" + keyish(ALNUM, 99)
    out.append((style_assistant, f"| Variable | Value |\n|---|---|\n| STRIPE_SECRET_KEY | `{t}` |", [("stripe_key", [t[8:60]])]))
    t = "rk_live_" + keyish(ALNUM, 99)
    out.append((style_output, f"POST /v1/payment_intents 401\nRequest-Id: req_{keyish(ALNUM, 14)}\nstripe.error.AuthenticationError: Invalid API Key provided: {t}", [("stripe_key", [t[8:60]])]))
    # Google
    k = "AIza" + keyish(ALNUM + "-_", 35)
    out.append((style_output, f"GET https://www.googleapis.com/youtube/v3/search?part=snippet&q=rust&key%3D{k} 403", [("google_api_key", [k[4:]])]))
    k = "GOCSPX-" + keyish(ALNUM + "-_", 28)
    out.append((style_json_file, '{"installed": {"client_id": "1234567890-abc.apps.googleusercontent.com", "client_secret": "' + k + '", "redirect_uris": ["http://localhost"]}}', [("google_oauth", [k[7:]])]))
    k = "ya29." + keyish(ALNUM + "-_", 150)
    out.append((style_output, f"$ gcloud auth application-default print-access-token\n{k}\n$ curl -H \"Authorization: Bearer $(gcloud auth print-access-token)\" https://x", [("google_oauth", [k[5:60]])]))
    # Azure
    k = b64(64)
    out.append((style_read, '{\n  "IsEncrypted": false,\n  "Values": {\n    "AzureWebJobsStorage": "DefaultEndpointsProtocol=https;AccountName=acmefn;AccountKey=' + k + ';EndpointSuffix=core.windows.net"\n  }\n}', [("azure_storage_key", [k[:40]])]))
    sig = b64(32).replace("+", "%2B").replace("/", "%2F").replace("=", "%3D")
    out.append((style_output, f"INFO: Uploading to https://acme.blob.core.windows.net/logs/app.log?sv=2022-11-02&ss=b&srt=o&sp=rwl&se=2026-12-01T00:00:00Z&sig={sig} (100%)", [("azure_sas", [sig[:30]])]))
    # JWT
    t = jwt({"sub": rand(DIG, 10), "scope": "admin", "exp": R.randrange(10**9, 2 * 10**9)})
    out.append((style_output, f"2026-11-21T10:00:05Z INFO auth issued access token {t} for user 42", [("jwt", [t.split(".")[2][:30]])]))
    t = jwt({"sub": rand(DIG, 10), "aud": "api"})
    out.append((style_read, f"<AuthResponse>\n  <AccessToken>{t}</AccessToken>\n  <ExpiresIn>3600</ExpiresIn>\n</AuthResponse>", [("jwt", [t.split(".")[2][:30]])]))
    # kubeconfig
    tok = keyish(ALNUM, 40)
    out.append((style_output, f"apiVersion: v1\nkind: Config\nusers:\n- name: ci\n  user:\n    token: {tok}", [("secret_assignment", [tok])]))
    pem = "-----BEGIN EC PRIVATE KEY-----\n" + "\n".join(pem_lines(121)) + "\n-----END EC PRIVATE KEY-----\n"
    k = base64.b64encode(pem.encode()).decode()
    out.append((style_escaped, "users:\n- name: admin\n  user:\n    client-key-data: " + k, [("private_key", [k[40:80]])]))
    # npm, PyPI, Docker
    t = "npm_" + keyish(ALNUM, 36)
    out.append((style_output, f"┌────────┬──────────────────────────────────────────┐\n│ token  │ {t} │\n├────────┼──────────────────────────────────────────┤\n│ cidr   │                                          │\n└────────┴──────────────────────────────────────────┘", [("npm_token", [t[4:]])]))
    t = "pypi-AgEIcHlwaS5vcmc" + keyish(ALNUM + "-_", 150)
    out.append((style_read, f"[distutils]\nindex-servers =\n    pypi\n\n[pypi]\nusername = __token__\npassword = {t}", [("pypi_token", [t[30:90]])]))
    a = base64.b64encode(f"acme:{keyish(ALNUM, 24)}".encode()).decode()
    out.append((style_json_file, '{"auths": {"ghcr.io": {"auth": "' + a + '"}}, "credsStore": ""}', [("docker_auth", [a])]))
    t = "dckr_pat_" + keyish(ALNUM + "-_", 27)
    out.append((style_output, f"$ docker login -u acme -p {t}\nWARNING! Using --password via the CLI is insecure. Use --password-stdin.\nLogin Succeeded", [("docker_token", [t[9:]])]))
    # Twilio, SendGrid, Databricks, DigitalOcean, Shopify, Vault
    tok = rand(HEX, 32)
    out.append((style_read, f"twilio:\n  account_sid: AC{rand(HEX, 32)}\n  auth_token: {tok}", [("secret_assignment", [tok])]))
    a, b = keyish(ALNUM + "-_", 22), keyish(ALNUM + "-_", 43)
    out.append((style_bash, f"curl --request POST --url https://api.sendgrid.com/v3/mail/send --header 'Authorization: Bearer SG.{a}.{b}'", [("sendgrid_key", [b])]))
    t = "dapi" + rand(HEX, 32)
    out.append((style_output, f"$ databricks auth env --profile prod\n{{\n  \"env\": {{\n    \"DATABRICKS_HOST\": \"https://adb-42.azuredatabricks.net\",\n    \"DATABRICKS_TOKEN\": \"{t}\"\n  }}\n}}", [("databricks_token", [t[4:]])]))
    t = "dop_v1_" + rand(HEX, 64)
    out.append((style_read, f"access-token: {t}\ncontext: default", [("digitalocean_token", [t[7:]])]))
    t = "shpat_" + rand(HEX, 32)
    out.append((style_output, f"<shop>\n  <domain>acme.myshopify.com</domain>\n  <access_token>{t}</access_token>\n</shop>", [("shopify_token", [t[6:]])]))
    t = "hvs." + keyish(ALNUM + "-_", 91)
    out.append((style_output, f"Key                  Value\n---                  -----\ntoken                {t}\ntoken_accessor       {keyish(ALNUM, 24)}\ntoken_duration       768h\ntoken_renewable      true\ntoken_policies       [\"default\"]", [("vault_token", [t[4:60]])]))
    # Telegram, Cloudflare, Notion, Linear, Groq, Atlassian, Sentry, Postman, Mailgun, Replicate
    t = f"{rand(DIG, 10)}:AA{keyish(ALNUM + '-_', 33)}"
    out.append((style_output, f"requests.exceptions.HTTPError: 409 Client Error: Conflict for url: https://api.telegram.org/bot{t}/getUpdates", [("telegram_bot_token", [t.split(":")[1]])]))
    t = keyish(ALNUM + "-_", 40)
    out.append((style_read, f"name = \"worker\"\nmain = \"src/index.ts\"\n\n[vars]\nCLOUDFLARE_API_TOKEN = \"{t}\"", [("secret_assignment", [t])]))
    k = rand(HEX, 37)
    out.append((style_bash, f"curl -X GET https://api.cloudflare.com/client/v4/zones -H 'X-Auth-Email: ops@acme.io' -H 'X-Auth-Key: {k}'", [("secret_assignment", [k])]))
    t = "ntn_" + rand(DIG, 11) + keyish(ALNUM, 35)
    out.append((style_escaped, '{"mcpServers": {"notion": {"command": "npx", "args": ["-y", "@notionhq/notion-mcp-server"], "env": {"NOTION_TOKEN": "' + t + '"}}}}', [("notion_token", [t[15:]])]))
    t = "lin_api_" + keyish(ALNUM, 40)
    out.append((style_json_file, '{"mcpServers": {"linear": {"env": {"LINEAR_API_KEY": "' + t + '"}}}}', [("linear_key", [t[8:]])]))
    t = "gsk_" + keyish(ALNUM, 52)
    out.append((style_edit, f"from groq import Groq\n\nclient = Groq(\n    api_key=\"{t}\",\n)", [("groq_key", [t[4:]])]))
    t = "ATATT3xFfGF0" + keyish(ALNUM + "-_", 170) + "=1A2B3C4D"
    out.append((style_read, f"machine acme.atlassian.net\n  login me@acme.com\n  password {t}", [("atlassian_token", [t[20:80]])]))
    t = "sntrys_" + base64.b64encode(json.dumps({"iat": 1732183200, "url": "https://sentry.io", "org": "acme"}).encode()).decode().rstrip("=") + "_" + keyish(ALNUM, 43)
    out.append((style_read, f"[defaults]\norg = acme\n\n[auth]\ntoken = {t}", [("sentry_token", [t[-43:]])]))
    t = "PMAK-" + rand(HEX, 24) + "-" + rand(HEX, 34)
    out.append((style_output, f"[newman] using API key {t} to fetch collection 1234-abcd", [("postman_key", [t[5:]])]))
    t = "key-" + rand(HEX, 32)
    out.append((style_bash, f"curl -s https://api:{t}@api.mailgun.net/v3/mg.acme.com/messages -F to=a@b.c", [("mailgun_key", [t[4:]])]))
    t = "r8_" + keyish(ALNUM, 37)
    out.append((style_output, f"$ cog login --token-stdin <<< {t}\nYou've successfully authenticated as acme!", [("replicate_token", [t[3:]])]))
    # age, PuTTY, base64 PEM
    k = "AGE-SECRET-KEY-1" + rand(BECH32, 58)
    out.append((style_output, f"$ age-keygen\n# created: 2026-11-21T10:00:00Z\n# public key: age1{rand(BECH32.lower(), 58)}\n{k}", [("age_secret_key", [k[16:]])]))
    k = "AGE-SECRET-KEY-1" + rand(BECH32, 58)
    out.append((style_bash, f"export SOPS_AGE_KEY={k}", [("age_secret_key", [k[16:]])]))
    priv = [rand(B64, 64) for _ in range(8)] + [rand(B64, 20) + "="]
    text = ("PuTTY-User-Key-File-2: ssh-rsa\nEncryption: none\nComment: rsa-key-20261121\nPublic-Lines: 6\n"
            + "\n".join(pem_lines(270)) + f"\nPrivate-Lines: {len(priv)}\n" + "\n".join(priv) + "\nPrivate-MAC: " + rand(HEX, 40))
    out.append((style_read, text, [("private_key", [p for p in priv if len(p) >= 20])]))
    pem = "-----BEGIN RSA PRIVATE KEY-----\n" + "\n".join(pem_lines(900)) + "\n-----END RSA PRIVATE KEY-----\n"
    k = base64.b64encode(pem.encode()).decode()
    out.append((style_output, '{\n    "apiVersion": "v1",\n    "data": {\n        "tls.crt": "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==",\n        "tls.key": "' + k + '"\n    },\n    "kind": "Secret"\n}', [("private_key", [k[40:100], k[-60:-10]])]))
    # Passwords
    pw = keyish(ALNUM + "!#%^*", 14)
    out.append((style_read, f'<bean id="ds" class="com.zaxxer.hikari.HikariDataSource">\n  <property name="jdbcUrl" value="jdbc:mysql://db:3306/shop?user=app&amp;password={pw}&amp;useSSL=true"/>\n</bean>', [("password_assignment", [pw])]))
    pw = keyish(ALNUM, 8) + "#" + keyish(ALNUM, 6)
    out.append((style_output, f"redis.exceptions.AuthenticationError: invalid password for redis://:{pw}@cache.internal:6379/0", [("url_password", [pw])]))
    pw = keyish(ALNUM + "!%*", 14)
    out.append((style_bash, f"mysqldump --user=root --password='{pw}' --all-databases > all.sql", [("password_assignment", [pw])]))
    c = base64.b64encode(f"admin:{keyish(ALNUM, 16)}".encode()).decode()
    out.append((style_output, f"*   Trying 10.0.0.9:9200...\n* Connected to es.internal (10.0.0.9) port 9200\n> GET /_cluster/health HTTP/1.1\n> Host: es.internal:9200\n> Authorization: Basic {c}\n> User-Agent: curl/8.5.0\n>\n< HTTP/1.1 200 OK", [("basic_auth", [c])]))
    pw = keyish(ALNUM, 16)
    out.append((style_bash, f"kubectl create secret generic db-creds --from-literal=username=app --from-literal=password={pw}", [("password_assignment", [pw])]))
    pw = keyish(ALNUM + "!#*", 16)
    out.append((style_bash, f"docker run -d -e POSTGRES_PASSWORD='{pw}' -p 5432:5432 postgres:16", [("password_assignment", [pw])]))
    pw = keyish(ALNUM, 18)
    out.append((style_read, f"spring:\n  datasource:\n    url: jdbc:postgresql://db:5432/app\n    username: app\n    password: {pw}", [("password_assignment", [pw])]))
    t = keyish(ALNUM, 12)
    out.append((style_output, f"HTTP/1.1 401 Unauthorized\n> authorization: BEARER {t}", [("bearer_token", [t])]))
    pw = keyish(ALNUM, 10) + "%2F" + keyish(ALNUM, 6)
    out.append((style_output, f"sqlalchemy.exc.OperationalError: (psycopg2.OperationalError) connection to server failed\n(Background on this error at: https://sqlalche.me/e/20/e3q8) url=postgresql://svc:{pw}@10.0.3.7:5432/prod", [("url_password", [pw])]))
    # .env-style assignments
    v = "django-insecure-" + keyish(ALNUM + "!@#%^&*(-_=+)", 50).replace("&", "x")
    out.append((style_edit, f"SECRET_KEY = '{v}'", [("secret_assignment", [v[16:]])]))
    v = keyish(ALNUM, 32)
    out.append((style_read, f"jobs:\n  deploy:\n    env:\n      API_KEY: {v}\n      REGION: eu-west-1", [("secret_assignment", [v])]))
    pw = keyish(ALNUM, 20)
    out.append((style_read, f"[tool.poetry.http-basic.internal]\nusername = \"ci\"\npassword = \"{pw}\"", [("password_assignment", [pw])]))
    v = keyish(ALNUM, 40)
    out.append((style_json_file, '{"service": {"name": "billing", "apiKey": "' + v + '"}}', [("secret_assignment", [v])]))
    v = keyish(ALNUM + "-_", 32)
    out.append((style_output, f"$ cat .env\nNODE_ENV=production\nSESSION_SECRET={v}\nPORT=3000", [("secret_assignment", [v])]))
    v = "-----BEGIN OPENSSH PRIVATE KEY-----\\n" + "\\n".join(pem_lines(400, 70)) + "\\n-----END OPENSSH PRIVATE KEY-----"
    out.append((style_read, f"DEPLOY_PRIVATE_KEY=\"{v}\"", [("private_key", [v.split("\\n")[2]])]))
    # Encodings
    g = "ghp_" + keyish(ALNUM, 36)
    out.append((style_output, f"127.0.0.1 - - [21/Nov/2026:10:00:00 +0000] \"GET /login/callback?next=%2Fsettings%3Faccess_token%3D{g}%26tab%3D1 HTTP/1.1\" 302 0", [("github_pat", [g[4:]])]))
    sec = keyish(ALNUM, 12) + "/" + keyish(ALNUM, 12) + "/" + keyish(ALNUM, 14)
    out.append((style_escaped, '{"AWS_SECRET_ACCESS_KEY": "' + sec + '"}', [("aws_secret_key", [p for p in sec.split("/")])]))
    v = keyish(ALNUM, 32)
    out.append((style_read, f'<appSettings>\n  <add key="Environment" value="prod" />\n  <add key="ApiKey" value="{v}" />\n</appSettings>', [("secret_assignment", [v])]))
    path = f"T{rand(UP + DIG, 8)}%2FB{rand(UP + DIG, 10)}%2F{keyish(ALNUM, 24)}"
    out.append((style_output, f"GET /oauth/done?redirect_uri=https%3A%2F%2Fhooks.slack.com%2Fservices%2F{path} 200", [("slack_webhook", [path.rsplit("%2F", 1)[1]])]))
    kid, sec = "AKIA" + rand(B32, 16), keyish(ALNUM, 40)
    out.append((style_bash, f"echo {kid}:{sec} > ~/.passwd-s3fs && chmod 600 ~/.passwd-s3fs", [("aws_access_key", [kid[4:]]), ("aws_secret_key", [sec])]))
    sec = keyish(ALNUM, 12) + "/" + keyish(ALNUM, 12) + "+" + keyish(ALNUM, 14)
    enc = sec.replace("/", "%2F").replace("+", "%2B")
    out.append((style_output, f"GET /sync?aws_access_key_id=AKIA{rand(B32, 16)}&aws_secret_access_key={enc}&region=eu-west-1 400", [("aws_secret_key", [enc[:12], enc[-14:]])]))
    return out


def new_lookalike_shapes():
    out = []  # (style, kind, text)
    out.append((style_output, "git log", f"commit {rand(HEX, 40)}\nAuthor: Jane Doe <jane@acme.io>\nDate:   Fri Nov 21 10:00:00 2026 +0100\n\n    fix token refresh\n\n    Change-Id: I{rand(HEX, 40)}"))
    out.append((style_output, "rev-parse", f"$ git rev-parse HEAD\n{rand(HEX, 40)}\n$ git rev-parse --short HEAD\n{rand(HEX, 7)}"))
    out.append((style_output, "docker digests", f"REPOSITORY   TAG    DIGEST                                                                    IMAGE ID\npostgres     16     sha256:{rand(HEX, 64)}   {rand(HEX, 12)}"))
    out.append((style_diff, "lockfile integrity", f"\"node_modules/left-pad\": {{\n  \"version\": \"1.3.0\",\n  \"resolved\": \"https://registry.npmjs.org/left-pad/-/left-pad-1.3.0.tgz\",\n  \"integrity\": \"sha512-{b64(64)}\"\n}}"))
    out.append((style_read, "yarn.lock", f"left-pad@^1.3.0:\n  version \"1.3.0\"\n  resolved \"https://registry.yarnpkg.com/left-pad/-/left-pad-1.3.0.tgz#{rand(HEX, 40)}\"\n  integrity sha1-{b64(20)}"))
    out.append((style_output, "request ids", f"x-request-id: {uuid()}\nx-amzn-requestid: {uuid()}\nrequest-id: req_{keyish(ALNUM, 24)}"))
    out.append((style_output, "stripe object ids", f"{{\"id\": \"pi_{keyish(ALNUM, 24)}\", \"customer\": \"cus_{keyish(ALNUM, 14)}\", \"latest_charge\": \"ch_{keyish(ALNUM, 24)}\"}}"))
    out.append((style_assistant, "publishable key", f"STRIPE_PUBLISHABLE_KEY=pk_live_{keyish(ALNUM, 99)}"))
    out.append((style_output, "ssh public key", f"$ cat ~/.ssh/id_ed25519.pub\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{rand(B64, 43)} jane@laptop"))
    out.append((style_output, "age public key", f"# public key: age1{rand(BECH32.lower(), 58)}"))
    out.append((style_read, "jwk public", '{"kty": "RSA", "use": "sig", "kid": "' + rand(HEX, 16) + '", "e": "AQAB", "n": "' + b64u(256) + '"}'))
    out.append((style_output, "sentry dsn", f"SENTRY_DSN=https://{rand(HEX, 32)}@o{rand(DIG, 6)}.ingest.sentry.io/{rand(DIG, 7)}"))
    out.append((style_output, "eth address", f"deployed to 0x{rand(HEX, 40)} (tx 0x{rand(HEX, 64)})"))
    out.append((style_read, "markdown image", f"![chart](data:image/jpeg;base64,{b64(2400)})"))
    out.append((style_edit, "code names a secret", "const apiKey = useApiKey();\nconst token = req.headers.get(\"authorization\");"))
    out.append((style_edit, "code names a secret", "type Config struct {\n\tPassword string `json:\"password\"`\n\tAPIKey   string `json:\"api_key\"`\n}"))
    out.append((style_edit, "code names a secret", "variable \"db_password\" {\n  type      = string\n  sensitive = true\n}"))
    out.append((style_edit, "code names a secret", "val password: String by lazy { System.getenv(\"DB_PASSWORD\") ?: error(\"missing\") }"))
    out.append((style_edit, "code names a secret", "password_hash = bcrypt.hashpw(password.encode(), bcrypt.gensalt())"))
    out.append((style_read, "placeholder", "AWS_ACCESS_KEY_ID=AKIAXXXXXXXXXXXXXXXX\nAWS_SECRET_ACCESS_KEY=<your-secret-access-key>"))
    out.append((style_read, "placeholder", "NPM_TOKEN=${{ secrets.NPM_TOKEN }}\nPYPI_TOKEN=${PYPI_TOKEN:?missing}"))
    out.append((style_read, "placeholder", "password: \"{password}\"\napi_key: REPLACE_WITH_YOUR_KEY"))
    out.append((style_read, "placeholder", "DB_PASSWORD=$(cat /run/secrets/db_password)"))
    out.append((style_output, "masked", "Access Key ID     ****************WXYZ shared-credentials-file\nSecret Access Key ****************abcd shared-credentials-file"))
    out.append((style_output, "prose", "The tokenizer splits the secret sauce into tokens; pass --key-file to override the keyboard layout."))
    out.append((style_output, "url no password", f"Cloning into 'api'...\nremote: Enumerating objects: 42, done.\nFrom https://github.com/acme/api\n * branch main -> FETCH_HEAD {rand(HEX, 40)}"))
    out.append((style_output, "base64 of a certificate", "tls.crt: " + base64.b64encode(("-----BEGIN CERTIFICATE-----\n" + "\n".join(pem_lines(600)) + "\n-----END CERTIFICATE-----\n").encode()).decode()))
    out.append((style_output, "uuid list", "\n".join(uuid() for _ in range(6))))
    out.append((style_read, "appSettings", '<appSettings>\n  <add key="ApiKeyHeader" value="X-Api-Key" />\n  <add key="TokenLifetime" value="3600" />\n</appSettings>'))
    return out


def main():
    secrets = all_secrets()
    lines, manifest = [], []
    for i, (rule, snippet, needles) in enumerate(secrets):
        entries = [{"rule": rule, "needles": needles}]
        if i % 10 == 9 and rule != "aws_access_key":
            # An AWS credentials pair in the same line as the secret.
            k = "AKIA" + rand(B32, 16)
            snippet = f"AWS_ACCESS_KEY_ID={k}\n{snippet}"
            entries.append({"rule": "aws_access_key", "needles": [k[4:]]})
        style = STYLES[i % len(STYLES)]
        lines.append(dump(style(snippet), i))
        manifest.append({"style": style.__name__, "secrets": entries})
    secret_lines, secret_manifest = lines, manifest

    looks = lookalikes()
    # A look-alike under a key named "credentials" would be a secret-named assignment.
    JSON_KEY[0] = "notes"
    lines, manifest = [], []
    for i, (kind, text) in enumerate(looks):
        style = STYLES[i % len(STYLES)]
        lines.append(dump(style(text), i))
        manifest.append({"style": style.__name__, "kind": kind, "text": text})
    # The new shapes come last, so that the lines above keep their bytes.
    new_secrets = new_secret_shapes()
    for i, (style, snippet, entries) in enumerate(new_secrets):
        secret_lines.append(dump(style(snippet), i))
        secret_manifest.append({"style": style.__name__, "secrets": [{"rule": r, "needles": n} for r, n in entries]})
    new_looks = new_lookalike_shapes()
    for i, (style, kind, text) in enumerate(new_looks):
        lines.append(dump(style(text), i))
        manifest.append({"style": style.__name__, "kind": kind, "text": text})
    for name, rows in [("secrets", secret_lines), ("secrets.manifest", [json.dumps(m) for m in secret_manifest]),
                       ("lookalikes", lines), ("lookalikes.manifest", [json.dumps(m) for m in manifest])]:
        with open(os.path.join(HERE, name + ".jsonl"), "w") as f:
            f.writelines(row + "\n" for row in rows)
    print(f"{len(secrets) + len(new_secrets)} secret lines, {len(looks) + len(new_looks)} look-alike lines")


if __name__ == "__main__":
    main()
