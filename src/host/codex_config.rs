//! Codex CLI's `config.toml`, edited as text (no TOML library: the file is the user's, with
//! their comments and layout, and we change at most a few values in place).
//!
//! What hooks need there (Codex CLI 0.171): the hooks feature is on by default, so nothing,
//! unless the user turned it off (`[features]` `hooks = false`, or the older alias
//! `codex_hooks = false`, also as a dotted `features.hooks = false` key). [`enable_hooks`]
//! turns such a value on and marks the line with [`MARK`] (the old value kept in the
//! comment); [`restore`] puts exactly those lines back. Nothing else is touched.
//!
//! Trust: Codex runs a hooks.json handler only once the user trusted it (recorded as
//! `[hooks.state."<hooks.json>:<event>:<group>:<handler>"] trusted_hash = "sha256:..."`;
//! `codex exec` skips untrusted hooks without a word). [`trusted_keys`] reads which handlers
//! are trusted, for `doctor`; the hash is Codex's own and is not computed here.

/// The comment that marks a line install changed (followed by the old value).
pub const MARK: &str = "# tracecraft-hook install, was:";

/// The feature keys that switch Codex hooks (current name and deprecated alias).
const FEATURE_KEYS: &[&str] = &["hooks", "codex_hooks"];

/// One TOML line split into (key, value, comment), for the simple `key = value # c` lines we
/// edit; `None` for anything else (tables, arrays over several lines, strings with `#`...).
fn split_kv(line: &str) -> Option<(&str, &str, &str)> {
    let (k, rest) = line.split_once('=')?;
    let (v, c) = match rest.find('#') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    Some((k.trim(), v.trim(), c))
}

/// A table header `[name]` (not `[[array]]`), trimmed.
fn header(line: &str) -> Option<String> {
    let t = line.trim();
    let t = t.split('#').next()?.trim();
    if t.starts_with("[[") || !t.starts_with('[') || !t.ends_with(']') {
        return None;
    }
    Some(t[1..t.len() - 1].trim().to_string())
}

/// Whether `key` (as written, in table `table`) is a hooks feature switch.
fn is_feature_key(table: &str, key: &str) -> bool {
    let key = key.trim_matches('"');
    if table == "features" {
        return FEATURE_KEYS.contains(&key);
    }
    table.is_empty() && key.strip_prefix("features.").is_some_and(|k| FEATURE_KEYS.contains(&k.trim_matches('"')))
}

/// Turn every `false` hooks switch on (marked with [`MARK`]). Returns the new text and the
/// keys changed (empty: nothing to do, the text is returned as is).
pub fn enable_hooks(text: &str) -> (String, Vec<String>) {
    let mut table = String::new();
    let mut out = String::with_capacity(text.len() + 64);
    let mut changed = Vec::new();
    for line in text.split_inclusive('\n') {
        let (body, nl) = match line.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (line, ""),
        };
        if let Some(h) = header(body) {
            table = h;
        } else if let Some((k, v, c)) = split_kv(body) {
            if v == "false" && is_feature_key(&table, k) && !c.contains(MARK) {
                // `<key as written>= true <MARK><everything after '=' as it was>`
                let (kraw, rest) = body.split_once('=').unwrap_or((body, ""));
                out.push_str(&format!("{kraw}= true {MARK}{rest}{nl}"));
                changed.push(if table.is_empty() { k.to_string() } else { format!("{table}.{k}") });
                continue;
            }
        }
        out.push_str(line);
    }
    if changed.is_empty() {
        (text.to_string(), changed)
    } else {
        (out, changed)
    }
}

/// Undo [`enable_hooks`]: every line carrying [`MARK`] gets its old value and comment back.
pub fn restore(text: &str) -> (String, Vec<String>) {
    let mut out = String::with_capacity(text.len());
    let mut changed = Vec::new();
    for line in text.split_inclusive('\n') {
        let (body, nl) = match line.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (line, ""),
        };
        if let Some(i) = body.find(MARK) {
            if let Some((kraw, _)) = body[..i].split_once('=') {
                out.push_str(&format!("{kraw}={}{nl}", &body[i + MARK.len()..]));
                changed.push(kraw.trim().to_string());
                continue;
            }
        }
        out.push_str(line);
    }
    if changed.is_empty() {
        (text.to_string(), changed)
    } else {
        (out, changed)
    }
}

/// The comment that marks a trust entry `install --codex --trust` wrote.
pub const TRUST_MARK: &str = "# tracecraft-hook install --codex --trust";

/// Record trust for `(key, hash)` pairs (the `key` and `currentHash` Codex reports for our
/// handlers): an existing `[hooks.state."<key>"]` table gets its `trusted_hash` set in
/// place, a missing one is appended (marked with [`TRUST_MARK`] for uninstall). Returns the
/// new text and the keys changed.
pub fn set_trust(text: &str, entries: &[(String, String)]) -> (String, Vec<String>) {
    let mut out = String::with_capacity(text.len() + 128 * entries.len());
    let mut changed = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    let mut current: Option<String> = None;
    for line in text.split_inclusive('\n') {
        let body = line.strip_suffix('\n').unwrap_or(line);
        if let Some(h) = header(body) {
            current = h.strip_prefix("hooks.state.").map(|k| unquote(k.trim()));
        } else if let (Some(k), Some((key, v, c))) = (&current, split_kv(body)) {
            if let Some((_, hash)) = entries.iter().find(|(ek, _)| ek == k).filter(|_| key == "trusted_hash") {
                seen.push(k.clone());
                if unquote(v) != *hash {
                    let nl = if line.ends_with('\n') { "\n" } else { "" };
                    let c = if c.is_empty() { String::new() } else { format!(" {}", c.trim_end()) };
                    out.push_str(&format!("trusted_hash = {}{c}{nl}", quote(hash)));
                    changed.push(k.clone());
                    continue;
                }
            }
        }
        out.push_str(line);
    }
    for (k, hash) in entries.iter().filter(|(k, _)| !seen.contains(k)) {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&format!("\n[hooks.state.{}]\ntrusted_hash = {} {TRUST_MARK}\n", quote(k), quote(hash)));
        changed.push(k.clone());
    }
    if changed.is_empty() {
        (text.to_string(), changed)
    } else {
        (out, changed)
    }
}

/// Remove the trust tables [`set_trust`] appended (their `trusted_hash` line carries
/// [`TRUST_MARK`]), with the blank line before each. Returns the new text and the keys removed.
pub fn remove_trust(text: &str) -> (String, Vec<String>) {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut drop = vec![false; lines.len()];
    let mut removed = Vec::new();
    for i in 0..lines.len() {
        let Some(h) = header(lines[i]) else { continue };
        let Some(k) = h.strip_prefix("hooks.state.") else { continue };
        // Ours: exactly a header and one marked trusted_hash line.
        let next = lines.get(i + 1).copied().unwrap_or("");
        let table_ends = lines.get(i + 2).is_none_or(|l| l.trim().is_empty() || header(l).is_some());
        if next.contains(TRUST_MARK) && next.trim_start().starts_with("trusted_hash") && table_ends {
            drop[i] = true;
            drop[i + 1] = true;
            if i > 0 && lines[i - 1].trim().is_empty() {
                drop[i - 1] = true;
            }
            removed.push(unquote(k.trim()));
        }
    }
    if removed.is_empty() {
        return (text.to_string(), removed);
    }
    let out: String = lines.iter().zip(&drop).filter(|(_, d)| !**d).map(|(l, _)| *l).collect();
    (out, removed)
}

/// A TOML basic string (JSON's escapes are TOML's).
fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

/// The value of a TOML basic string (or the text itself when it is not one).
fn unquote(s: &str) -> String {
    serde_json::from_str::<String>(s.trim()).unwrap_or_else(|_| s.trim().trim_matches('"').to_string())
}

/// Whether the text turns Codex hooks off (a hooks switch set to `false`).
pub fn hooks_disabled(text: &str) -> bool {
    !enable_hooks(text).1.is_empty()
}

/// The `[hooks.state."<key>"]` tables that carry a `trusted_hash`: the keys trusted.
pub fn trusted_keys(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if let Some(h) = header(line) {
            current = h.strip_prefix("hooks.state.").map(|k| unquote(k.trim()));
            continue;
        }
        if let (Some(k), Some((key, _, _))) = (&current, split_kv(line)) {
            if key == "trusted_hash" && !out.contains(k) {
                out.push(k.clone());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hooks_switched_off_are_turned_on_and_restored_exactly() {
        let text = "model = \"m\" # mine\n\n[features]\nplugins = false   # keep\nhooks = false # I said so\ncodex_hooks=false\n\n[other]\nhooks = false\n";
        let (on, keys) = enable_hooks(text);
        assert_eq!(keys, ["features.hooks", "features.codex_hooks"]);
        assert!(on.contains("hooks = true # tracecraft-hook install, was: false # I said so\n"), "{on}");
        assert!(on.contains("codex_hooks= true # tracecraft-hook install, was:false\n"), "{on}");
        assert!(on.contains("plugins = false   # keep\n") && on.contains("[other]\nhooks = false\n"), "{on}");
        assert!(!hooks_disabled(&on));
        assert_eq!(enable_hooks(&on).1.len(), 0, "idempotent");
        let (back, keys) = restore(&on);
        assert_eq!(keys.len(), 2);
        assert_eq!(back, text, "byte for byte");
        // Nothing to do: the very same text.
        let plain = "[features]\nplugins = false\n";
        assert_eq!(enable_hooks(plain), (plain.to_string(), vec![]));
        assert_eq!(restore(plain), (plain.to_string(), vec![]));
        assert!(hooks_disabled("features.hooks = false\n"));
    }

    #[test]
    fn trust_is_recorded_updated_and_removed_exactly() {
        let text = "model = \"m\"\n\n[hooks.state.\"/u/hooks.json:stop:0:0\"]\ntrusted_hash = \"sha256:old\" # mine\n";
        let entries = vec![
            ("/u/hooks.json:stop:0:0".to_string(), "sha256:new".to_string()),
            ("/h/hooks.json:session_end:0:0".to_string(), "sha256:ab".to_string()),
        ];
        let (t, keys) = set_trust(text, &entries);
        assert_eq!(keys.len(), 2);
        assert!(t.contains("[hooks.state.\"/u/hooks.json:stop:0:0\"]\ntrusted_hash = \"sha256:new\" # mine\n"), "{t}");
        assert!(t.ends_with("\n\n[hooks.state.\"/h/hooks.json:session_end:0:0\"]\ntrusted_hash = \"sha256:ab\" # tracecraft-hook install --codex --trust\n"), "{t}");
        assert_eq!(trusted_keys(&t).len(), 2);
        assert_eq!(set_trust(&t, &entries).1.len(), 0, "idempotent");
        let (back, removed) = remove_trust(&t);
        assert_eq!(removed, ["/h/hooks.json:session_end:0:0"]);
        assert_eq!(back, text.replace("sha256:old", "sha256:new"), "only our table goes");
        let (plain, _) = set_trust("", &entries[1..]);
        assert_eq!(remove_trust(&plain).0, "");
    }

    #[test]
    fn trusted_keys_are_read() {
        let text = "[hooks.state.\"/h/hooks.json:stop:0:0\"]\ntrusted_hash = \"sha256:ab\"\n[hooks.state.\"/h/hooks.json:session_end:0:0\"]\nenabled = false\n";
        assert_eq!(trusted_keys(text), ["/h/hooks.json:stop:0:0"]);
    }
}
