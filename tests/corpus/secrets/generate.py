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
    """Random, with at least lower case, upper case and a digit (as real keys have)."""
    while True:
        s = rand(alphabet, n)
        if any(c in LO for c in s) and any(c in UP for c in s) and any(c in DIG for c in s):
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
        "SECRET_KEY_BASE=" + rand(HEX, 128),
        "AWS_SECRET_ACCESS_KEY_ID=" + keyish(B64, 40),
        "secret_access_key = " + keyish(B64, 41),
        "the secret access key is " + keyish(B64, 40),
    ]]
    out += [("image data", rand(B64, 3000))]
    out += [("plain prose", s) for s in [
        "I'll fix the task-queue ordering and rerun the tests.",
        "The secret to fast builds is caching the registry.",
        "Rotate the AWS secret key every 90 days, per policy.",
    ]]
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


def style_json_file(s):
    """A JSON file read by a tool: the secret is escaped twice in the transcript."""
    doc = json.dumps({"profile": "default", "credentials": s, "region": "eu-west-1"}, indent=2)
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
    with open(os.path.join(HERE, "secrets.jsonl"), "w") as f:
        f.writelines(line + "\n" for line in lines)
    with open(os.path.join(HERE, "secrets.manifest.jsonl"), "w") as f:
        f.writelines(json.dumps(m) + "\n" for m in manifest)

    looks = lookalikes()
    lines, manifest = [], []
    for i, (kind, text) in enumerate(looks):
        style = STYLES[i % len(STYLES)]
        lines.append(dump(style(text), i))
        manifest.append({"style": style.__name__, "kind": kind, "text": text})
    with open(os.path.join(HERE, "lookalikes.jsonl"), "w") as f:
        f.writelines(line + "\n" for line in lines)
    with open(os.path.join(HERE, "lookalikes.manifest.jsonl"), "w") as f:
        f.writelines(json.dumps(m) + "\n" for m in manifest)
    print(f"{len(secrets)} secret lines, {len(looks)} look-alike lines")


if __name__ == "__main__":
    main()
