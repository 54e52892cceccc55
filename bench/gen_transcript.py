#!/usr/bin/env python3
"""Write Claude Code-like transcript JSONL of an exact size, fast (hundreds of MB/s).

A pool of a few thousand realistic lines (prompts, assistant text, tool_use, tool results
with code, git logs and diffs, file reads with the Read tool's gutter) is built once with a
fixed seed; the output samples it. Every output ends with a newline and with the same
assistant line, whose text is LAST_TEXT (a hook payload's `last_assistant_message` can
name it). A filler user prompt before it pads the output to the exact size.

    gen_transcript.py OUT SIZE [--append] [--seed N] [--secret-every N] [--unicode]

SIZE accepts K/M/G suffixes (powers of 1024). --secret-every N puts a fake credential in
about one pool line out of N (0: none). --unicode: the shape of issue 15's slow transcript,
multi-line Unicode tool outputs (test runners with box drawing and check marks, logs in
French, German, Japanese, Chinese, Russian, emoji, `ls` of accented names) in about half
the lines, assistant prose in the same languages: ~1.3 KB a line on average, so 50 MiB is
about 40,000 lines, nearly every one with JSON escapes (newlines) and non-ASCII bytes.
"""

import argparse
import json
import os
import random
import string
import sys

LAST_TEXT = "Done: the tests pass and the change is committed."

PROSE = [
    "I'll look at the failing test first and then fix the task-queue ordering.",
    "The build fails because `disk-usage` is computed before the mask-layer is applied.",
    "Let me check the secret handling in the config loader; it reads the key from the env.",
    "See https://docs.rs/regex/latest/regex/bytes/struct.Regex.html for the API.",
    "The Bearer scheme is used by the upload client; tokens come from the keychain.",
    "Refactor: move the retry loop into its own function and add a backoff with jitter.",
    "Running `cargo test` now. The flaky test was `ask-for-confirmation` in the CLI suite.",
    "This PR updates the README and fixes a typo in the install script (http://localhost:8080).",
]
CODE = [
    "fn main() -> Result<(), Box<dyn std::error::Error>> {\n    let cfg = Config::load()?;\n    run(cfg)\n}\n",
    "impl Drop for Guard {\n    fn drop(&mut self) {\n        let _ = std::fs::remove_file(&self.path);\n    }\n}\n",
    'def handler(event, context):\n    client = boto3.client("s3")\n'
    '    return client.list_objects_v2(Bucket=event["bucket"])\n',
    "export function useTaskQueue(opts: Options): TaskQueue {\n"
    "  const [tasks, setTasks] = useState<Task[]>([]);\n  return { tasks };\n}\n",
    "SELECT id, name, created_at FROM users WHERE org_id = $1 ORDER BY created_at DESC LIMIT 50;\n",
]
ALNUM = string.ascii_letters + string.digits
B64 = ALNUM + "+/"


def parse_size(s):
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    s = s.strip().upper().rstrip("B")
    if s and s[-1] in mult:
        return int(float(s[:-1]) * mult[s[-1]])
    return int(s)


def secret(rng):
    k = rng.randrange(6)
    chars = lambda alpha, n: "".join(rng.choice(alpha) for _ in range(n))  # noqa: E731
    if k == 0:
        return "AWS_ACCESS_KEY_ID=AKIA" + chars("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)
    if k == 1:
        return "ANTHROPIC_API_KEY=sk-ant-api03-" + chars(ALNUM, 93) + "AA"
    if k == 2:
        return "OPENAI_API_KEY=sk-proj-" + chars(ALNUM, 120)
    if k == 3:
        return "git remote set-url origin https://ghp_" + chars(ALNUM, 36) + "@github.com/o/r"
    if k == 4:
        return "curl -H 'Authorization: Bearer " + chars(ALNUM, 48) + "' https://api.example.com"
    return "DATABASE_URL=postgres://app:" + chars(ALNUM, 24) + "@db.internal:5432/app"


def uuid(rng):
    h = "%032x" % rng.getrandbits(128)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def common(rng, session):
    return {
        "parentUuid": uuid(rng),
        "isSidechain": False,
        "userType": "external",
        "cwd": "/home/me/work/project",
        "sessionId": session,
        "version": "2.1.3",
        "gitBranch": "main",
        "uuid": uuid(rng),
        "timestamp": "2026-11-21T19:15:12.167Z",
    }


def line(obj):
    return (json.dumps(obj, separators=(",", ":"), ensure_ascii=False) + "\n").encode()


def pool_line(rng, session, secret_every):
    text = " ".join(rng.choice(PROSE) for _ in range(1 + rng.randrange(4)))
    if secret_every and rng.randrange(secret_every) == 0:
        text += " " + secret(rng)
    tid = "toolu_" + "".join(rng.choice(ALNUM) for _ in range(24))
    kind = rng.randrange(100)
    if kind < 15:
        body = {"type": "user", "message": {"role": "user", "content": text}}
    elif kind < 40:
        body = {
            "type": "assistant",
            "message": {
                "role": "assistant",
                "model": "claude-sonnet-4-5",
                "content": [{"type": "text", "text": text}],
                "usage": {"input_tokens": rng.randrange(5000), "output_tokens": rng.randrange(900)},
            },
        }
    elif kind < 60:
        cmd = "cd /home/me/work/project && " + text
        body = {
            "type": "assistant",
            "message": {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": tid, "name": "Bash", "input": {"command": cmd}}],
            },
        }
    elif kind < 78:
        f = "".join(
            f"{n:>6}\u2192{rng.choice(CODE).splitlines()[0]}\n" for n in range(1, 21 + rng.randrange(120))
        )
        f += text
        body = {
            "type": "user",
            "message": {"role": "user", "content": [{"tool_use_id": tid, "type": "tool_result", "content": f}]},
            "toolUseResult": {"type": "text", "file": {"filePath": "/home/me/work/project/src/lib.rs", "content": f}},
        }
    else:
        out = ""
        for _ in range(5 + rng.randrange(40)):
            out += rng.choice(CODE)
            out += "commit %040x\n+    let id = \"%s\";\n" % (rng.getrandbits(160), uuid(rng))
        out += text
        body = {
            "type": "user",
            "message": {"role": "user", "content": [{"tool_use_id": tid, "type": "tool_result", "content": out}]},
            "toolUseResult": {"stdout": out, "stderr": "", "interrupted": False, "isImage": False},
        }
    return line({**body, **common(rng, session)})


UNI_PROSE = [
    "Je vais d'abord regarder le test qui échoue, puis corriger l'ordre de la file d'attente.",
    "Die Konfiguration wird beim Start gelesen; der Schlüssel kommt aus der Umgebung.",
    "テストが失敗しているので、まずログを確認します。修正後にもう一度実行します。",
    "先查看失败的测试，然后修复任务队列的顺序问题。",
    "Сначала посмотрю на падающий тест, потом исправлю порядок задач в очереди.",
    "Listo ✅ — the build passes now 🎉; next: the README (naïve → naive).",
]
UNI_OUT = [
    "  ✓ parses café-crème order (3 ms)",
    "  ✗ rejects naïve résumé ➜ expected «ok», got «erreur»",
    "│ 名前        │ サイズ │ 更新日時            │",
    "├─────────────┼────────┼─────────────────────┤",
    "│ données.csv │ 1,2 Mo │ 2026-11-21 19:15:12 │",
    "WARN  [Überprüfung] Datei „Straße.txt“ nicht gefunden — übersprungen",
    "INFO  任务 #4471 已完成 (耗时 12.5 秒) ✔",
    "ERROR Не удалось подключиться к базе данных: тайм-аут 30 с",
    "drwxr-xr-x  2 me me 4096 nov. 21 19:15 Résumés/",
    "-rw-r--r--  1 me me  812 nov. 21 19:15 Ünïcödé-名前.md",
    "   Compiling tracecraft-hook v0.1.0 (/home/me/work/projet-été)",
    "🚀 deploy ok · 🔒 tls ok · ⚠️ 2 warnings · ❌ 0 errors",
]


def pool_line_unicode(rng, session, secret_every):
    text = " ".join(rng.choice(UNI_PROSE) for _ in range(1 + rng.randrange(3)))
    if secret_every and rng.randrange(secret_every) == 0:
        text += " " + secret(rng)
    tid = "toolu_" + "".join(rng.choice(ALNUM) for _ in range(24))
    kind = rng.randrange(100)
    if kind < 10:
        body = {"type": "user", "message": {"role": "user", "content": text}}
    elif kind < 35:
        body = {
            "type": "assistant",
            "message": {
                "id": "msg_" + "".join(rng.choice(ALNUM) for _ in range(24)),
                "role": "assistant",
                "model": "claude-sonnet-4-5",
                "content": [{"type": "text", "text": text + "\n\n" + rng.choice(UNI_PROSE)}],
                "usage": {"input_tokens": rng.randrange(5000), "output_tokens": rng.randrange(900),
                          "cache_read_input_tokens": rng.randrange(90000)},
            },
        }
    elif kind < 50:
        body = {
            "type": "assistant",
            "message": {
                "id": "msg_" + "".join(rng.choice(ALNUM) for _ in range(24)),
                "role": "assistant",
                "model": "claude-sonnet-4-5",
                "content": [{"type": "tool_use", "id": tid, "name": "Bash",
                             "input": {"command": "cd ~/projet-été && cargo test", "description": text}}],
                "usage": {"input_tokens": rng.randrange(5000), "output_tokens": rng.randrange(900)},
            },
        }
    else:
        out = "\n".join(rng.choice(UNI_OUT) for _ in range(3 + rng.randrange(15)))
        body = {
            "type": "user",
            "message": {"role": "user", "content": [{"tool_use_id": tid, "type": "tool_result", "content": out}]},
            "toolUseResult": {"stdout": out, "stderr": "", "interrupted": False, "isImage": False},
        }
    return line({**body, **common(rng, session)})


def last_line(session):
    rng = random.Random(1)
    body = {"type": "assistant", "message": {"role": "assistant", "content": [{"type": "text", "text": LAST_TEXT}]}}
    return line({**body, **common(rng, session)})


def filler(session, size):
    """A user prompt line of exactly `size` bytes (size >= its empty form)."""
    rng = random.Random(2)
    base = line({"type": "user", "message": {"role": "user", "content": ""}, **common(rng, session)})
    if size < len(base):
        return b"\n" * size if size < 2 else b" " * (size - 1) + b"\n"  # tiny: blank-ish line
    rng = random.Random(2)
    return line({"type": "user", "message": {"role": "user", "content": "p" * (size - len(base))}, **common(rng, session)})


def generate(out, size, seed, secret_every, unicode=False):
    rng = random.Random(seed)
    session = uuid(rng)
    make = pool_line_unicode if unicode else pool_line
    pool = [make(rng, session, secret_every) for _ in range(3000)]
    tail = last_line(session)
    budget = size - len(tail)
    if budget < 0:
        out.write(tail[-size:] if size else b"")
        return
    block = []
    block_len = 0
    written = 0
    reserve = 4096  # leave room for the filler line
    while written + block_len < budget - reserve:
        ln = rng.choice(pool)
        if written + block_len + len(ln) > budget - reserve:
            break
        block.append(ln)
        block_len += len(ln)
        if block_len >= 8 << 20:
            out.write(b"".join(block))
            written += block_len
            block, block_len = [], 0
    out.write(b"".join(block))
    written += block_len
    out.write(filler(session, budget - written))
    out.write(tail)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("size")
    ap.add_argument("--append", action="store_true")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--secret-every", type=int, default=0)
    ap.add_argument("--unicode", action="store_true", help="multi-line Unicode tool outputs (see above)")
    a = ap.parse_args()
    size = parse_size(a.size)
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "ab" if a.append else "wb") as f:
        generate(f, size, a.seed, a.secret_every, a.unicode)
    return 0


if __name__ == "__main__":
    sys.exit(main())
