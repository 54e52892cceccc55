//! The built-in redaction rules, as data: name, prefilter keywords, pattern, secret group and
//! the checks a candidate must pass. Written from the vendors' documented token formats and
//! from what gitleaks, trufflehog and GitHub secret scanning detect.
//!
//! Pattern templates (expanded by [`expand`] before compiling, all byte-oriented, `(?-u)`):
//! - `{Q}`: an optional quote, JSON-escaped any number of times (`"`, `\"`, `\\\"`, `'`).
//! - `{W}`: blanks, including a JSON-escaped tab.
//! - `{NL}`: a line break, real or JSON-escaped (`\n`, `\r\n`, `\\n`).
//! - `{S}`: a `/` as written in JSON (`/` or `\/`).
//! - `{GUTTER}`: an optional line-number gutter of the Read tool (`    12→`, `\u2192` or a tab).
//! - `{SEP}`: an assignment: optional closing quote, `=`, `:`, `=>`, `:=`, `|` (markdown
//!   tables) or `>` (XML), optional opening quote.
//!
//! The secret is the capture group named `s` when the pattern has one, else the whole match.
//! Keywords are literal and case-sensitive (case variants are listed): a case-insensitive
//! prefilter would rule out the SIMD (Teddy) search that keeps clean text at >= 1 GB/s.

/// How a rule finds its matches around a keyword hit.
#[derive(Debug, Clone, Copy)]
pub(super) enum Find {
    /// A `regex::bytes` pattern (template, see the module doc).
    Regex(&'static str),
    /// PEM private key blocks (`-----BEGIN ... PRIVATE KEY-----`), with real or escaped breaks.
    Pem,
    /// `scheme://user:password@host`.
    UrlPassword,
    /// A secret-named assignment (`DB_PASSWORD=...`, `"apiKey": "..."`), see `assignment`.
    Assignment,
}

/// A named check on the secret's bytes, beyond its pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Check {
    None,
    /// `sk-...` without a known prefix: 20 letters or digits first (not `sk-some-kebab-name`).
    OpenAi,
    /// Base64 whose decoding starts with a PEM private key header.
    Base64Pem,
    /// Base64 whose decoding is `user:password`.
    Base64UserPass,
    /// A URL query parameter: preceded by `?`, `&`, `;`, `\u0026` or `&amp;`.
    QueryParam,
    /// Not a placeholder (`$VAR`, `<token>`, `changeme`, `xxxx`, ...).
    NotPlaceholder,
}

/// Byte classes a secret may grow over, leftwards from its keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Grow {
    Digits,
    Hex,
    Alnum,
    Base64,
}

impl Grow {
    pub(super) fn accepts(self, b: u8) -> bool {
        match self {
            Grow::Digits => b.is_ascii_digit(),
            Grow::Hex => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
            Grow::Alnum => b.is_ascii_alphanumeric(),
            Grow::Base64 => b.is_ascii_alphanumeric() || b == b'+' || b == b'/',
        }
    }
}

/// One rule.
#[derive(Debug, Clone, Copy)]
pub(super) struct Spec {
    /// Stable name: the key in `redaction_counts` and `[REDACTED:<name>]`.
    pub name: &'static str,
    /// Literals, one of which every match contains (the prefilter).
    pub keywords: &'static [&'static str],
    pub find: Find,
    /// How far before its keyword a match may start, and after it end.
    pub before: usize,
    pub after: usize,
    /// The match must start a word (not glued to letters, digits or `_`; a JSON escape like
    /// `\n` or a `%3D` before it counts as a separator), and the secret must end one.
    pub left_word: bool,
    pub right_word: bool,
    /// Minimum Shannon entropy of the secret, bits per byte (0: none).
    pub entropy: f32,
    /// Minimum number of character classes (lower, upper, digit) in the secret.
    pub classes: u8,
    pub check: Check,
    pub grow: Option<(Grow, u8, u8)>,
    /// Lower ranks win when two rules match at the same place (a vendor token behind
    /// `Bearer` counts under the vendor's name).
    pub rank: u8,
}

const fn token(name: &'static str, keywords: &'static [&'static str], pattern: &'static str) -> Spec {
    Spec {
        name,
        keywords,
        find: Find::Regex(pattern),
        before: 0,
        after: 512,
        left_word: true,
        right_word: true,
        entropy: 0.0,
        classes: 2,
        check: Check::None,
        grow: None,
        rank: 0,
    }
}

impl Spec {
    /// A rule whose match starts inside a larger text (a key name, a URL, a command): no word
    /// boundary on the left.
    const fn ctx(mut self) -> Self {
        self.left_word = false;
        self
    }
    /// A match may start `n` bytes before its keyword (the keyword is not the token's start).
    const fn back(mut self, n: usize) -> Self {
        self.before = n;
        self
    }
    /// The secret also takes up to `max` bytes of `class` right before the keyword (at least
    /// `min`): for tokens whose distinctive part is not their start (`<bot id>:AA...`).
    const fn grow(mut self, class: Grow, min: u8, max: u8) -> Self {
        self.grow = Some((class, min, max));
        self.left_word = false;
        self
    }
    const fn after(mut self, after: usize) -> Self {
        self.after = after;
        self
    }
    const fn classes(mut self, n: u8) -> Self {
        self.classes = n;
        self
    }
    const fn check(mut self, c: Check) -> Self {
        self.check = c;
        self
    }
    const fn rank(mut self, r: u8) -> Self {
        self.rank = r;
        self
    }
    const fn open_right(mut self) -> Self {
        self.right_word = false;
        self
    }
    const fn special(name: &'static str, keywords: &'static [&'static str], find: Find, rank: u8) -> Spec {
        Spec {
            name,
            keywords,
            find,
            before: 0,
            after: 0,
            left_word: false,
            right_word: false,
            entropy: 0.0,
            classes: 0,
            check: Check::None,
            grow: None,
            rank,
        }
    }
}

/// Expands the templates of the module doc.
pub(super) fn expand(pattern: &str) -> String {
    let q = r#"(?:\\{0,7}["'`])?"#;
    let w = r"(?:[ \t]|\\t)*";
    let sep = format!(r"{q}{w}(?:=>|:=|[:=|>]){w}{q}");
    format!("(?-u){pattern}")
        .replace("{SEP}", &sep)
        .replace("{Q}", q)
        .replace("{W}", w)
        .replace("{NL}", r"(?:\\{1,3}r)?(?:\\{1,3}n|\r?\n)")
        .replace("{S}", r"\\{0,7}/")
        .replace("{GUTTER}", r"(?:[ \t]*[0-9]+(?:\xE2\x86\x92|\\u2192|\t|\\t))?")
}

/// Keywords of the generic assignment rule (case variants of the name parts it looks for).
pub(super) const ASSIGNMENT_KEYWORDS: &[&str] = &[
    "pass", "Pass", "PASS", "pwd", "PWD", "secret", "Secret", "SECRET", "token", "Token", "TOKEN", "key", "Key", "KEY",
    "cred", "Cred", "CRED", "auth", "Auth", "AUTH",
];

/// Every built-in rule. Order only matters for equal ranks at the same spot.
pub(super) const SPECS: &[Spec] = &[
    // ---- AWS
    token("aws_access_key", &["AKIA", "ABIA"], r"A(?:KIA|BIA)[A-Z0-9]{16}").classes(1),
    token("aws_session_token", &["ASIA"], r"ASIA[A-Z0-9]{16}").classes(1),
    // STS session tokens: base64 of a binary blob whose 4th byte starts `origin_ec` / `er/aws`.
    token(
        "aws_session_token",
        &["b3JpZ2luX2Vj", "ZXIvYXdz"],
        r"(?:b3JpZ2luX2Vj|ZXIvYXdz)(?:[A-Za-z0-9+=]|\\{0,7}/){80,}",
    )
    .grow(Grow::Base64, 2, 8)
    .after(8200)
    .open_right(),
    // A 40-character secret next to its name, in any notation (`aws configure` prompts with
    // `[None]` / `[****EKEY]`, XML `<SecretAccessKey>`, markdown tables, CLI flags).
    token(
        "aws_secret_key",
        &["secret", "Secret", "SECRET"],
        r"(?i)secret[ _-]?(?:access[ _-]?)?key(?:[ \t]*\[[^\]\\\n]{0,32}\])?(?:{SEP}|{Q}[ \t]+{Q})(?P<s>(?:[A-Za-z0-9+=]|\\{0,7}/|%2[FfBb]|%3[Dd]){40})",
    )
    .ctx()
    .after(160),
    // terraform state: `"secret": "..."` of an aws_iam_access_key resource.
    token(
        "aws_secret_key",
        &["secret"],
        r#"secret\\{0,7}"[ \t]*:[ \t]*\\{0,7}"(?P<s>(?:[A-Za-z0-9+=]|\\{0,7}/){40})\\{0,7}""#,
    )
    .ctx()
    .after(80),
    // IAM console CSV (`AKIA...,<secret>`), tables, `aws configure list`-like rows and s3fs's
    // `.passwd-s3fs` (`AKIA...:<secret>`).
    token(
        "aws_secret_key",
        &["AKIA", "ASIA"],
        r"A[KS]IA[A-Z0-9]{16}{Q}(?:[ \t]*[,;|:][ \t]*|[ \t]+|(?:\\t)+){Q}(?P<s>(?:[A-Za-z0-9+=]|\\{0,7}/){40})",
    )
    .after(120),
    // ---- AI vendors
    token("anthropic_key", &["sk-ant-"], r"sk-ant-[A-Za-z0-9_-]{20,}"),
    token("openai_key", &["sk-"], r"sk-(?:(?:proj|svcacct|admin|None|or-v1)-)?[A-Za-z0-9_-]{20,}").check(Check::OpenAi),
    token("hf_token", &["hf_"], r"hf_[A-Za-z0-9]{30,64}"),
    token("hf_token", &["api_org_"], r"api_org_[A-Za-z0-9]{30,40}"),
    token("xai_key", &["xai-"], r"xai-[A-Za-z0-9]{70,90}"),
    token("groq_key", &["gsk_"], r"gsk_[A-Za-z0-9]{48,56}"),
    token("replicate_token", &["r8_"], r"r8_[A-Za-z0-9]{37,40}"),
    token("perplexity_key", &["pplx-"], r"pplx-[A-Za-z0-9]{40,64}"),
    token("langsmith_key", &["lsv2_"], r"lsv2_(?:pt|sk)_[a-f0-9]{32}_[a-f0-9]{10}"),
    token("pinecone_key", &["pcsk_"], r"pcsk_[A-Za-z0-9_]{50,100}"),
    token("tavily_key", &["tvly-"], r"tvly-(?:dev-|prod-)?[A-Za-z0-9]{32}"),
    // ---- code hosting
    token("github_pat", &["ghp_", "gho_", "ghu_", "ghs_", "ghr_"], r"gh[pousr]_[A-Za-z0-9]{30,255}"),
    token("github_pat", &["github_pat_"], r"github_pat_[A-Za-z0-9_]{22,255}"),
    token(
        "gitlab_token",
        &[
            "glpat-", "glrt-", "gldt-", "glptt-", "gloas-", "glft-", "glimt-", "glsoat-", "glagent-", "glffct-",
            "glwt-", "glcbt-", "GR1348941",
        ],
        r"(?:gl(?:pat|rt|dt|ptt|oas|ft|imt|soat|agent|ffct|wt)-|glcbt-[0-9a-fA-F]{1,5}_|GR1348941)[A-Za-z0-9_.-]{20,300}",
    ),
    token("bitbucket_token", &["ATBB"], r"ATBB[A-Za-z0-9_=.-]{32,100}"),
    token("atlassian_token", &["ATATT3", "ATCTT3"], r"AT[AC]TT3[A-Za-z0-9_=-]{60,400}"),
    // ---- chat
    token("slack_token", &["xox"], r"xox[abcdeprs](?:\.xox[abcdeprs])?-[A-Za-z0-9-]{10,250}"),
    token("slack_token", &["xapp-"], r"xapp-[0-9]-[A-Za-z0-9-]{20,250}"),
    token(
        "slack_webhook",
        &["hooks.slack.com"],
        r"hooks\.slack\.com(?:{S}|%2[Ff])(?:services|workflows|triggers)(?:{S}|%2[Ff])(?P<s>(?:[A-Za-z0-9_-]|\\{0,7}/|%2[Ff]){20,200})",
    )
    .ctx(),
    token("telegram_bot_token", &[":AA"], r":AA[A-Za-z0-9_-]{30,40}").ctx().grow(Grow::Digits, 6, 12),
    token(
        "discord_webhook",
        &["discord"],
        r"discord(?:app)?\.com{S}api{S}(?:v[0-9]+{S})?webhooks{S}[0-9]{15,22}{S}(?P<s>[A-Za-z0-9_-]{50,100})",
    )
    .ctx(),
    // ---- payments
    token(
        "stripe_key",
        &["k_live_", "k_test_"],
        r"[sr]k_(?:live|test)_[A-Za-z0-9]{20,255}",
    )
    .back(1),
    token("stripe_key", &["whsec_"], r"whsec_[A-Za-z0-9+/=]{24,255}"),
    token("square_token", &["EAAA", "sq0"], r"(?:EAAA[A-Za-z0-9_-]{56,100}|sq0atp-[A-Za-z0-9_-]{22}|sq0csp-[A-Za-z0-9_-]{43})"),
    token("paypal_braintree_token", &["access_token$"], r"access_token\$(?:production|sandbox)\$[0-9a-z]{16}\$[0-9a-f]{32}"),
    token("shopify_token", &["shp"], r"shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}"),
    // ---- cloud
    token("google_api_key", &["AIza"], r"AIza[A-Za-z0-9_-]{35}"),
    token("google_oauth", &["GOCSPX-", "ya29.", "1//0"], r"(?:GOCSPX-[A-Za-z0-9_-]{24,64}|ya29\.[A-Za-z0-9_-]{30,}|1//0[A-Za-z0-9_-]{40,512})")
        .after(2100),
    token(
        "azure_storage_key",
        &["ccountKey", "ccountkey", "CCOUNTKEY"],
        r"(?i)accountkey{Q}[ \t]*[=:][ \t]*{Q}(?P<s>(?:[A-Za-z0-9+]|\\{0,7}/){40,88}={0,2})",
    )
    .ctx()
    .back(1)
    .after(200)
    .open_right(),
    // `az storage account keys list` prints the keys under "value".
    token(
        "azure_storage_key",
        &["keyName"],
        r#"keyName\\{0,7}"[^\n]{0,160}?value\\{0,7}"[ \t]*:[ \t]*\\{0,7}"(?P<s>(?:[A-Za-z0-9+]|\\{0,7}/){86}==)"#,
    )
    .ctx()
    .after(400),
    token("azure_sas", &["sig="], r"sig=(?P<s>(?:[A-Za-z0-9+=]|%[0-9A-Fa-f]{2}|\\{0,7}/){20,256})")
        .ctx()
        .check(Check::QueryParam)
        .open_right(),
    token("alibaba_key", &["LTAI"], r"LTAI[A-Za-z0-9]{12,24}"),
    token("digitalocean_token", &["_v1_"], r"do[por]_v1_[a-f0-9]{64}").back(3),
    token("heroku_key", &["HRKU-"], r"HRKU-[A-Za-z0-9_-]{20,128}"),
    token("flyio_token", &["fm1", "fm2_", "fo1_"], r"(?:fm[12][a-z]?_[A-Za-z0-9+/=_-]{40,}|fo1_[A-Za-z0-9_-]{43})").after(4100),
    token("vault_token", &["hvs.", "hvb."], r"hv[sbr]\.[A-Za-z0-9_-]{24,400}"),
    // Legacy `s.` tokens only next to the word vault (`VAULT_TOKEN=s.`, `X-Vault-Token:`).
    token(
        "vault_token",
        &["vault", "Vault", "VAULT"],
        r"(?i)vault[a-z_-]{0,12}(?:{SEP}|[ \t]+(?:login[ \t]+)?(?:token=)?{Q})(?P<s>s\.[A-Za-z0-9]{24})",
    )
    .ctx()
    .after(200),
    token("doppler_token", &["dp."], r"dp\.(?:pt|st|sa|ct|scim|audit)\.(?:[a-z0-9_-]{2,35}\.)?[A-Za-z0-9]{40,44}"),
    token("pulumi_token", &["pul-"], r"pul-[a-f0-9]{40}"),
    token("terraform_token", &[".atlasv1."], r"\.atlasv1\.[A-Za-z0-9_=-]{60,90}").ctx().grow(Grow::Alnum, 14, 14),
    token("cloudflare_key", &["v1.0-"], r"v1\.0-[a-f0-9]{24}-[a-f0-9]{146}"),
    token("databricks_token", &["dapi"], r"dapi[a-f0-9]{32}(?:-[0-9])?"),
    token("supabase_token", &["sbp_", "sb_secret_"], r"(?:sbp_[a-f0-9]{40}|sb_secret_[A-Za-z0-9_-]{20,64})"),
    token("dropbox_token", &["sl.B", "sl.u."], r"sl\.(?:u\.)?[A-Za-z0-9_-]{120,}").after(1100),
    // ---- registries
    token("npm_token", &["npm_"], r"npm_[A-Za-z0-9]{36}"),
    token("pypi_token", &["pypi-Ag"], r"pypi-Ag[A-Za-z0-9_-]{50,}"),
    token("docker_token", &["dckr_"], r"dckr_(?:pat|oat)_[A-Za-z0-9_-]{20,64}"),
    token(
        "docker_auth",
        &["auth"],
        r#"auth\\{0,7}"[ \t]*:[ \t]*\\{0,7}"(?P<s>[A-Za-z0-9+/]{8,}={0,2})\\{0,7}""#,
    )
    .ctx()
    .after(4200)
    .classes(1)
    .check(Check::Base64UserPass),
    // ---- SaaS
    token("sendgrid_key", &["SG."], r"SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}"),
    token("twilio_key", &["twilio", "Twilio", "TWILIO"], r"(?i:twilio)[^\n]{0,300}?(?P<s>(?:SK|AC)[0-9a-f]{32})")
        .ctx()
        .after(340)
        .open_right(),
    token("mailgun_key", &["key-"], r"key-[a-f0-9]{32}"),
    token("notion_token", &["ntn_", "secret_"], r"(?:ntn_[0-9]{11}[A-Za-z0-9]{32,40}|secret_[A-Za-z0-9]{43})"),
    token("linear_key", &["lin_"], r"(?:lin_api_[A-Za-z0-9]{40}|lin_oauth_[a-f0-9]{64})"),
    token("sentry_token", &["sntry"], r"(?:sntrys_eyJ[A-Za-z0-9+/=_-]{30,}|sntryu_[a-f0-9]{64})").after(2100),
    token("postman_key", &["PMAK-"], r"PMAK-[A-Fa-f0-9]{24}-[A-Fa-f0-9]{34}"),
    token("newrelic_key", &["NRAK-", "NRJS-"], r"NR(?:AK|JS|II|AA)-[A-Za-z0-9]{19,42}"),
    token("newrelic_key", &["NRAL"], r"NRAL").ctx().grow(Grow::Hex, 36, 36),
    token("grafana_token", &["glsa_", "glc_", "eyJrIjoi"], r"(?:glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}|glc_[A-Za-z0-9+/=_-]{32,400}|eyJrIjoi[A-Za-z0-9+/=_-]{40,400})"),
    token("mapbox_token", &["sk.eyJ"], r"sk\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,200}"),
    token("age_secret_key", &["AGE-SECRET-KEY-1"], r"AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}").classes(1),
    // ---- generic credentials
    Spec::special("private_key", &["-----BEGIN "], Find::Pem, 0),
    token("private_key", &["Private-Lines:"], r"Private-Lines:[ \t]*[0-9]+(?P<s>(?:{NL}{GUTTER}[A-Za-z0-9+/]{1,128}={0,2})+)")
        .ctx()
        .after(16 * 1024)
        .classes(0)
        .open_right(),
    // base64 of a PEM private key (kubeconfig client-key-data, Kubernetes TLS secrets).
    token("private_key", &["LS0tLS1CRUdJTi"], r"LS0tLS1CRUdJTi(?:[A-Za-z0-9+=]|\\{0,7}/){40,}")
        .after(66 * 1024)
        .classes(0)
        .check(Check::Base64Pem)
        .open_right(),
    token("jwt", &["eyJ"], r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}").after(28 * 1024).rank(2),
    // `Bearer <token>` anywhere, any case; the word is kept.
    token(
        "bearer_token",
        &["earer", "EARER"],
        r"(?i)bearer(?:[ \t]|%20|\+)+(?P<s>[A-Za-z0-9._~+/-]{6,}=*)",
    )
    .ctx()
    .back(1)
    .after(8300)
    .check(Check::NotPlaceholder)
    .rank(1),
    // Other schemes of an Authorization header (`Token`, Okta's `SSWS`, Discord's `Bot`...).
    token(
        "bearer_token",
        &["uthorization", "UTHORIZATION"],
        r"(?i)authorization{SEP}(?:token|ssws|bot|apikey|api-key|key|jwt|dpop)[ \t]+(?P<s>[A-Za-z0-9._~+/-]{6,}=*)",
    )
    .ctx()
    .back(1)
    .after(4200)
    .check(Check::NotPlaceholder)
    .rank(1),
    token("basic_auth", &["asic", "ASIC"], r"(?i)basic(?:[ \t]|%20|\+)+(?P<s>[A-Za-z0-9+/]{6,}={0,2})")
        .ctx()
        .back(1)
        .after(4200)
        .classes(1)
        .check(Check::Base64UserPass)
        .rank(1),
    // `curl -u user:password`, `--user user:password`.
    token("basic_auth", &[" -u", " --user"], r#" (?:-u|--user)(?:[ \t]+|=){Q}[^\s:'"\\\[\]]{1,64}:(?P<s>[^\s'"\\]{0,128}[^\s'"\\0-9][^\s'"\\]{0,128})"#)
        .ctx()
        .after(340)
        .classes(1)
        .check(Check::NotPlaceholder)
        .open_right()
        .rank(1),
    // `mysql -pSecret`, `mysql -p'Secret'`, `sshpass -p pw`, `redis-cli -a pw`.
    token(
        "cli_password",
        &["mysql", "mariadb"],
        r#"(?:mysql|mysqldump|mysqladmin|mariadb)[^\n|;&]{0,200}?[ \t]-p(?:'|\\{0,3}")?(?P<s>[^\s'"\\]{1,128})"#,
    )
    .ctx()
    .after(360)
    .classes(1)
    .check(Check::NotPlaceholder)
    .open_right()
    .rank(1),
    token("cli_password", &["sshpass"], r#"sshpass[ \t]+-p[ \t]*(?:'|\\{0,3}")?(?P<s>[^\s'"\\]{1,128})"#)
        .ctx()
        .after(200)
        .classes(1)
        .check(Check::NotPlaceholder)
        .open_right()
        .rank(1),
    token("cli_password", &["redis-cli"], r#"redis-cli[^\n|;&]{0,120}?[ \t]-a[ \t]+(?:'|\\{0,3}")?(?P<s>[^\s'"\\]{1,128})"#)
        .ctx()
        .after(300)
        .classes(1)
        .check(Check::NotPlaceholder)
        .open_right()
        .rank(1),
    Spec::special("url_password", &["://", r":\/\/"], Find::UrlPassword, 1),
    Spec::special("secret_assignment", ASSIGNMENT_KEYWORDS, Find::Assignment, 3),
];

/// Extra names the assignment matcher reports (password-ish key names).
pub(super) const PASSWORD_ASSIGNMENT: &str = "password_assignment";
