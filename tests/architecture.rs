//! The layers of ARCHITECTURE.md, checked: every module of `src/` belongs to a layer (its
//! top folder), may import only layers below its own (or modules of its own folder), and no
//! two modules import each other, directly or round a longer circle.
//!
//! Imports are read from the source text with comments and string literals removed:
//! `crate::`, `super::` and `self::` paths anywhere (with `use` groups expanded), and paths
//! through child modules a file declares (`mod x;` then `x::f`). `src/main.rs` is the binary
//! crate and only calls `cli::main`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Bottom to top. A module may import a layer of lower rank, or its own folder.
/// `hook` and `cmd` share a rank: neither may import the other.
const LAYERS: &[(&str, u32)] = &[
    ("base", 0),
    ("host", 1),
    ("config", 2),
    ("store", 3),
    ("session", 4),
    ("engine", 5),
    ("hook", 6),
    ("cmd", 6),
    ("cli", 7),
    // lib.rs: declares the layers and re-exports `Error`/`Result` from base.
    ("", 8),
];

/// One import: which module, the path as written, and the file it is in.
#[derive(Debug, Clone)]
struct Import {
    from: String,
    to: String,
    path: String,
    file: PathBuf,
}

#[test]
fn layers_point_down_and_modules_form_no_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let problems = check(&src);
    assert!(problems.is_empty(), "the module graph breaks ARCHITECTURE.md's rules:\n{}", problems.join("\n"));
}

/// The checker itself is tested on small trees: it must see a cycle, an upward import,
/// a module outside every layer, and imports written in each way it understands.
#[test]
fn the_checker_sees_cycles_upward_imports_and_unknown_modules() {
    let d = tempfile::tempdir().unwrap();
    let src = d.path();
    let w = |p: &str, text: &str| {
        let p = src.join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    w("lib.rs", "pub mod base;\npub mod engine;\npub mod session;\npub use base::error::Error;\n");
    w("base/mod.rs", "pub mod error;\npub mod util;\n");
    w("base/error.rs", "pub struct Error;\n");
    w("base/util.rs", "use super::error::Error;\n// crate::engine::flush in a comment is no import\nconst S: &str = \"crate::engine::flush\";\n");
    w("session/mod.rs", "pub mod meta;\npub mod state;\n");
    w("session/meta.rs", "use crate::{base::util, session::state::{self, load}};\n");
    w("session/state.rs", "pub fn load() { crate::session::meta::f() }\n");
    w("engine/mod.rs", "pub mod flush;\n");
    w("engine/flush.rs", "use crate::session::meta;\n#[cfg(test)]\nmod tests {\n    use super::*;\n    fn t() { super::super::flush::g() }\n}\n");
    let problems = check(src).join("\n");
    assert!(problems.contains("cycle: session::meta -> session::state -> session::meta"), "{problems}");
    assert!(!problems.contains("engine::flush -> engine::flush"), "{problems}");
    assert!(!problems.contains("base/util.rs"), "comments and strings are no imports: {problems}");

    // An upward import, through `super::` from a child module, and a module in no layer.
    w("session/state.rs", "pub fn load() {}\n");
    w("session/meta.rs", "");
    w("base/util.rs", "use super::super::engine::flush::g;\n");
    w("lib.rs", "pub mod base;\npub mod engine;\npub mod session;\npub mod extra;\n");
    w("extra.rs", "");
    let problems = check(src).join("\n");
    assert!(
        problems.contains("base/util.rs: `super::super::engine::flush::g`: layer base may not import layer engine"),
        "{problems}"
    );
    assert!(problems.contains("extra.rs: module extra is in no layer"), "{problems}");
    assert!(!problems.contains("cycle"), "{problems}");

    // A child module used by its plain name.
    w("base/util.rs", "");
    w("lib.rs", "pub mod base;\npub mod engine;\npub mod session;\n");
    std::fs::remove_file(src.join("extra.rs")).unwrap();
    w("engine/mod.rs", "pub mod flush;\npub fn go() { flush::g() }\n");
    w("engine/flush.rs", "pub fn g() { crate::engine::go() }\n");
    let problems = check(src).join("\n");
    assert!(problems.contains("cycle: engine -> engine::flush -> engine"), "{problems}");
}

/// Every rule broken under `src`, one line each (empty when all hold).
fn check(src: &Path) -> Vec<String> {
    let mut files = Vec::new();
    walk(src, &mut files);
    files.sort();
    let modules: BTreeMap<String, PathBuf> = files
        .iter()
        .filter(|f| f.file_name().is_some_and(|n| n != "main.rs") || f.parent() != Some(src))
        .map(|f| (module_of(src, f), f.clone()))
        .collect();
    let mut problems = Vec::new();
    let mut imports = Vec::new();
    for (m, file) in &modules {
        if layer(m).is_none() {
            problems.push(format!("{}: module {m} is in no layer (add its folder to LAYERS)", rel(src, file)));
        }
        let text = strip(&std::fs::read_to_string(file).unwrap());
        imports.extend(imports_of(m, file, &text, &modules));
    }
    for i in &imports {
        if let (Some((fl, fr)), Some((tl, tr))) = (layer(&i.from), layer(&i.to)) {
            if fl != tl && tr >= fr {
                problems.push(format!(
                    "{}: `{}`: layer {} may not import layer {} (layers point down only)",
                    rel(src, &i.file),
                    i.path,
                    show(fl),
                    show(tl)
                ));
            }
        }
    }
    problems.extend(cycles(&imports));
    problems
}

fn show(layer: &str) -> &str {
    if layer.is_empty() {
        "lib.rs"
    } else {
        layer
    }
}

fn rel(src: &Path, f: &Path) -> String {
    f.strip_prefix(src).unwrap_or(f).display().to_string()
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `src/a/b.rs` -> `a::b`, `src/a/mod.rs` -> `a`, `src/lib.rs` -> ``.
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap().with_extension("");
    let mut segs: Vec<String> = rel.iter().map(|s| s.to_string_lossy().into_owned()).collect();
    if segs.last().is_some_and(|s| s == "mod" || s == "lib") {
        segs.pop();
    }
    segs.join("::")
}

/// The layer of a module (its first segment) and its rank.
fn layer(module: &str) -> Option<(&'static str, u32)> {
    let top = module.split("::").next().unwrap_or("");
    LAYERS.iter().find(|(name, _)| *name == top).copied()
}

/// Source text with comments, string and char literals blanked out (newlines kept).
fn strip(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        let rest = &text[i..];
        if rest.starts_with("//") {
            let end = rest.find('\n').map_or(b.len(), |n| i + n);
            i = end;
        } else if rest.starts_with("/*") {
            let mut depth = 0;
            while i < b.len() {
                if text[i..].starts_with("/*") {
                    depth += 1;
                    i += 2;
                } else if text[i..].starts_with("*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if b[i] == b'\n' {
                        out.push('\n');
                    }
                    i += 1;
                }
            }
        } else if let Some(hashes) = raw_string_start(rest) {
            let close = format!("\"{}", "#".repeat(hashes));
            let body = i + 2 + hashes + usize::from(rest.starts_with("br"));
            let end = text[body..].find(&close).map_or(b.len(), |n| body + n + close.len());
            out.push_str("\"\"");
            out.extend(text[i..end].chars().filter(|&c| c == '\n'));
            i = end;
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    i += 1;
                }
                if i < b.len() && b[i] == b'\n' {
                    out.push('\n');
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if b[i] == b'\'' {
            // A char literal ('x', '\n', '\''), else a lifetime: keep the quote.
            let lit = if let Some(esc) = rest.strip_prefix("'\\") {
                esc.get(1..).and_then(|r| r.find('\'')).map(|n| n + 4)
            } else {
                rest.char_indices().nth(2).filter(|&(_, c)| c == '\'').map(|(n, _)| n + 1)
            };
            match lit {
                Some(n) => {
                    out.push_str("' '");
                    i += n;
                }
                None => {
                    out.push('\'');
                    i += 1;
                }
            }
        } else {
            let c = rest.chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// `r"`, `r#"`, `br##"`...: the number of `#`.
fn raw_string_start(s: &str) -> Option<usize> {
    let s = s.strip_prefix('b').unwrap_or(s);
    let s = s.strip_prefix('r')?;
    let hashes = s.len() - s.trim_start_matches('#').len();
    s[hashes..].starts_with('"').then_some(hashes)
}

/// The imports of one file (`module` is the file's module).
fn imports_of(module: &str, file: &Path, text: &str, modules: &BTreeMap<String, PathBuf>) -> Vec<Import> {
    let children: BTreeSet<String> = declared_mods(text);
    let mut out = Vec::new();
    let segs: Vec<&str> = if module.is_empty() { Vec::new() } else { module.split("::").collect() };
    // Inline `mod x { ... }` blocks (tests): inside them `super` is the file's module.
    let inline = inline_mod_spans(text);
    for (at, path) in paths(text) {
        let depth = inline.iter().filter(|(s, e)| *s <= at && at < *e).count();
        let mut here: Vec<&str> = segs.clone();
        here.extend(std::iter::repeat_n("<inline>", depth));
        let mut parts: Vec<&str> = path.split("::").collect();
        let mut base: Vec<&str> = match parts[0] {
            "crate" => {
                parts.remove(0);
                Vec::new()
            }
            "self" => {
                parts.remove(0);
                here.clone()
            }
            "super" => {
                let mut b = here.clone();
                while parts.first() == Some(&"super") {
                    parts.remove(0);
                    b.pop();
                }
                b
            }
            first if children.contains(first) && depth == 0 => segs.clone(),
            first if module.is_empty() && modules.contains_key(first) => Vec::new(),
            _ => continue,
        };
        base.retain(|s| *s != "<inline>");
        // The longest prefix that is a module.
        let mut target = None;
        for n in (0..=parts.len()).rev() {
            let mut cand = base.clone();
            cand.extend(&parts[..n]);
            let cand = cand.join("::");
            if modules.contains_key(&cand) {
                target = Some(cand);
                break;
            }
        }
        if let Some(to) = target {
            if to != module {
                out.push(Import { from: module.to_string(), to, path: path.clone(), file: file.to_path_buf() });
            }
        }
    }
    out
}

/// `mod x;` declarations (out-of-line child modules).
fn declared_mods(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let l = line.trim();
        let l = l.strip_prefix("pub(crate) ").or_else(|| l.strip_prefix("pub ")).unwrap_or(l);
        if let Some(name) = l.strip_prefix("mod ").and_then(|r| r.strip_suffix(';')) {
            out.insert(name.trim().to_string());
        }
    }
    out
}

/// Byte spans of inline `mod x { ... }` blocks.
fn inline_mod_spans(text: &str) -> Vec<(usize, usize)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(n) = text[i..].find("mod ") {
        let at = i + n;
        i = at + 4;
        if at > 0 && (b[at - 1].is_ascii_alphanumeric() || b[at - 1] == b'_') {
            continue;
        }
        let rest = &text[i..];
        let name_len = rest.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(rest.len());
        let after = rest[name_len..].trim_start();
        if name_len == 0 || !after.starts_with('{') {
            continue;
        }
        let open = i + name_len + (rest[name_len..].len() - after.len());
        let mut depth = 0;
        let mut end = b.len();
        for (k, &c) in b.iter().enumerate().skip(open) {
            match c {
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = k;
                        break;
                    }
                }
                _ => {}
            }
        }
        out.push((open, end));
    }
    out
}

/// Every path that may name a module, with its byte offset: `use` trees expanded, and
/// `a::b::c` sequences elsewhere.
fn paths(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let b = text.as_bytes();
    let is_id = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut i = 0;
    while i < b.len() {
        // `use` statements: expand the tree.
        if text[i..].starts_with("use ") && (i == 0 || !is_id(b[i - 1])) {
            let end = text[i..].find(';').map_or(b.len(), |n| i + n);
            for p in expand(text[i + 4..end].trim()) {
                out.push((i, p));
            }
            i = end;
            continue;
        }
        if is_id(b[i]) && (i == 0 || (!is_id(b[i - 1]) && !text[..i].ends_with("::"))) {
            let mut j = i;
            let mut segs = 0;
            loop {
                let s = j;
                while j < b.len() && is_id(b[j]) {
                    j += 1;
                }
                if j == s {
                    break;
                }
                segs += 1;
                if text[j..].starts_with("::") && j + 2 < b.len() && is_id(b[j + 2]) {
                    j += 2;
                } else {
                    break;
                }
            }
            if segs > 1 {
                out.push((i, text[i..j].to_string()));
            }
            i = j.max(i + 1);
            continue;
        }
        i += 1;
    }
    out
}

/// `crate::{a, b::{c, d as e}, f::*}` -> `crate::a`, `crate::b::c`, `crate::b::d`, `crate::f`.
fn expand(tree: &str) -> Vec<String> {
    let tree: String = tree.split_whitespace().collect::<Vec<_>>().join(" ");
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        let p = tree.split(" as ").next().unwrap_or("").trim();
        let p = p.trim_end_matches("::*").trim_end_matches("::self");
        return if p.is_empty() { Vec::new() } else { vec![p.to_string()] };
    };
    let prefix = tree[..open].trim_end_matches("::");
    let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let mut items = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (k, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&inner[start..k]);
                start = k + 1;
            }
            _ => {}
        }
    }
    items.push(&inner[start..]);
    let mut out = Vec::new();
    for item in items {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        if item == "self" {
            out.push(prefix.to_string());
            continue;
        }
        for p in expand(item) {
            out.push(if prefix.is_empty() { p } else { format!("{prefix}::{p}") });
        }
    }
    out
}

/// Each circle of imports, once, as `cycle: a -> b -> a` with the paths that close it.
fn cycles(imports: &[Import]) -> Vec<String> {
    let mut graph: BTreeMap<&str, BTreeMap<&str, &Import>> = BTreeMap::new();
    for i in imports {
        graph.entry(&i.from).or_default().entry(&i.to).or_insert(i);
    }
    // Tarjan's strongly connected components; every component of two or more is a cycle.
    struct T<'a> {
        graph: &'a BTreeMap<&'a str, BTreeMap<&'a str, &'a Import>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        sccs: Vec<Vec<&'a str>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a str) {
        let n = t.index.len();
        t.index.insert(v, n);
        t.low.insert(v, n);
        t.stack.push(v);
        t.on.insert(v);
        let next: Vec<&str> = t.graph.get(v).map(|m| m.keys().copied().collect()).unwrap_or_default();
        for w in next {
            if !t.index.contains_key(w) {
                visit(t, w);
                let lw = t.low[w];
                let lv = t.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if t.on.contains(w) {
                let iw = t.index[w];
                let lv = t.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if t.low[v] == t.index[v] {
            let mut scc = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on.remove(w);
                scc.push(w);
                if w == v {
                    break;
                }
            }
            if scc.len() > 1 {
                t.sccs.push(scc);
            }
        }
    }
    let mut t = T {
        graph: &graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        sccs: Vec::new(),
    };
    let nodes: Vec<&str> = graph.keys().copied().collect();
    for v in nodes {
        if !t.index.contains_key(v) {
            visit(&mut t, v);
        }
    }
    let mut out = Vec::new();
    for scc in t.sccs {
        let members: BTreeSet<&str> = scc.iter().copied().collect();
        // The shortest circle through each module of the component (breadth-first), once each.
        let mut seen: BTreeSet<Vec<&str>> = BTreeSet::new();
        for &start in &members {
            let mut prev: BTreeMap<&str, &str> = BTreeMap::new();
            let mut queue = std::collections::VecDeque::from([start]);
            let mut closing = None;
            'search: while let Some(v) = queue.pop_front() {
                for &w in graph[v].keys().filter(|w| members.contains(*w)) {
                    if w == start {
                        closing = Some(v);
                        break 'search;
                    }
                    if !prev.contains_key(w) {
                        prev.insert(w, v);
                        queue.push_back(w);
                    }
                }
            }
            let mut path = vec![start];
            let mut v = closing.expect("a strongly connected module lies on a circle");
            while v != start {
                path.push(v);
                v = prev[v];
            }
            path[1..].reverse();
            let mut key = path.clone();
            key.sort();
            if !seen.insert(key) {
                continue;
            }
            path.push(start);
            let edges: Vec<String> = path
                .windows(2)
                .map(|w| {
                    let i = graph[w[0]][w[1]];
                    format!("    {} uses `{}`", i.file.display(), i.path)
                })
                .collect();
            out.push(format!("cycle: {}\n{}", path.join(" -> "), edges.join("\n")));
        }
    }
    out
}
