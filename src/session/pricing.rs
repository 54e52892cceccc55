//! What tokens cost: a table of the Claude models' published prices (USD per million tokens:
//! input, output, cache write, cache read), shipped in the binary and overridable per model
//! with the config's `"pricing"`. A model the table does not know has NO price: `stats` shows
//! its tokens and no cost, it never guesses one from a similar name.
//!
//! A model name matches a table entry when it is the entry's name, or that name followed by
//! `-YYYYMMDD` or `@YYYYMMDD` (a dated snapshot: `claude-sonnet-4-5-20250929`). So
//! `claude-opus-4-7` is unknown rather than priced as `claude-opus-4`. Config entries match
//! the same way and win over the table.
//!
//! Deliberately not modelled: the long-context tier (Sonnet 4 / 4.5 above 200K input tokens
//! in one request costs more), because what is counted per model and day is a sum over
//! requests, not each request's size; the 1-hour cache write (2x input instead of 1.25x);
//! batch discounts. Costs are therefore the standard-tier list price.

use std::collections::BTreeMap;

use crate::config::Price;
use crate::session::insight::Tokens;

/// The built-in table: (model, input, output, cache write (5 min), cache read), USD per
/// million tokens, from Anthropic's published pricing.
const TABLE: &[(&str, f64, f64, f64, f64)] = &[
    ("claude-opus-4-5", 5.0, 25.0, 6.25, 0.50),
    ("claude-opus-4-1", 15.0, 75.0, 18.75, 1.50),
    ("claude-opus-4", 15.0, 75.0, 18.75, 1.50),
    ("claude-sonnet-4-5", 3.0, 15.0, 3.75, 0.30),
    ("claude-sonnet-4", 3.0, 15.0, 3.75, 0.30),
    ("claude-3-7-sonnet", 3.0, 15.0, 3.75, 0.30),
    ("claude-3-5-sonnet", 3.0, 15.0, 3.75, 0.30),
    ("claude-haiku-4-5", 1.0, 5.0, 1.25, 0.10),
    ("claude-3-5-haiku", 0.80, 4.0, 1.0, 0.08),
    ("claude-3-opus", 15.0, 75.0, 18.75, 1.50),
    ("claude-3-haiku", 0.25, 1.25, 0.30, 0.03),
];

/// Prices by model: the built-in table under the config's overrides.
#[derive(Debug, Clone, Default)]
pub struct Pricing {
    overrides: BTreeMap<String, Price>,
}

impl Pricing {
    /// The table with `overrides` (the config's `"pricing"`) on top.
    pub fn new(overrides: &BTreeMap<String, Price>) -> Pricing {
        Pricing { overrides: overrides.clone() }
    }

    /// The price of `model`, `None` when neither the config nor the table knows it.
    pub fn price(&self, model: &str) -> Option<Price> {
        if let Some(p) = self.overrides.iter().find(|(k, _)| matches(model, k)).map(|(_, p)| *p) {
            return Some(p);
        }
        TABLE.iter().find(|(k, ..)| matches(model, k)).map(|&(_, input, output, cache_write, cache_read)| Price {
            input,
            output,
            cache_write,
            cache_read,
        })
    }

    /// What `t` tokens of `model` cost in USD, `None` for an unknown model.
    pub fn cost(&self, model: &str, t: &Tokens) -> Option<f64> {
        self.price(model).map(|p| cost_at(&p, t))
    }
}

/// `t` at price `p` (USD per million tokens).
pub fn cost_at(p: &Price, t: &Tokens) -> f64 {
    (t.input as f64 * p.input
        + t.output as f64 * p.output
        + t.cache_creation as f64 * p.cache_write
        + t.cache_read as f64 * p.cache_read)
        / 1_000_000.0
}

/// `model` is `name`, or `name` followed by `-YYYYMMDD` / `@YYYYMMDD`.
fn matches(model: &str, name: &str) -> bool {
    match model.strip_prefix(name) {
        Some("") => true,
        Some(rest) => {
            let date = rest.strip_prefix('-').or_else(|| rest.strip_prefix('@'));
            date.is_some_and(|d| d.len() == 8 && d.bytes().all(|b| b.is_ascii_digit()))
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(input: u64, output: u64, cache_creation: u64, cache_read: u64) -> Tokens {
        Tokens { input, output, cache_creation, cache_read }
    }

    #[test]
    fn costs_by_hand() {
        let p = Pricing::default();
        // Sonnet 4.5: 1,000 in x $3 + 2,000 out x $15 + 10,000 cache write x $3.75 + 100,000
        // cache read x $0.30, per million: 0.003 + 0.03 + 0.0375 + 0.03 = 0.1005.
        let c = p.cost("claude-sonnet-4-5-20250929", &t(1_000, 2_000, 10_000, 100_000)).unwrap();
        assert!((c - 0.1005).abs() < 1e-12, "{c}");
        // Opus 4.5 ($5/$25/$6.25/$0.50): 1M each = 36.75.
        let c = p.cost("claude-opus-4-5-20251101", &t(1_000_000, 1_000_000, 1_000_000, 1_000_000)).unwrap();
        assert!((c - 36.75).abs() < 1e-9, "{c}");
        // Opus 4.1 is not Opus 4.5; Haiku 4.5: 3 in + 7 out = 3e-6 + 35e-6.
        assert_eq!(p.price("claude-opus-4-1-20250805").unwrap().input, 15.0);
        let c = p.cost("claude-haiku-4-5-20251001", &t(3, 7, 0, 0)).unwrap();
        assert!((c - 0.000_038).abs() < 1e-15, "{c}");
    }

    #[test]
    fn unknown_models_have_no_price() {
        let p = Pricing::default();
        for m in ["claude-opus-4-7", "claude-sonnet-4-5-2025", "gpt-5", "unknown", "<synthetic>", "claude-sonnet-4-5x"]
        {
            assert_eq!(p.price(m), None, "{m}");
        }
        assert!(p.price("claude-sonnet-4-5@20250929").is_some());
        assert!(p.price("claude-sonnet-4").is_some());
    }

    #[test]
    fn config_overrides_win() {
        let mine = Price { input: 1.0, output: 2.0, cache_write: 0.0, cache_read: 0.5 };
        let p = Pricing::new(&BTreeMap::from([("claude-sonnet-4-5".to_string(), mine), ("gpt-5".to_string(), mine)]));
        assert_eq!(p.price("claude-sonnet-4-5-20250929"), Some(mine));
        let c = p.cost("gpt-5", &t(1_000_000, 1_000_000, 5, 2_000_000)).unwrap();
        assert!((c - 4.0).abs() < 1e-12, "{c}");
        assert_eq!(p.price("claude-opus-4-5").unwrap().input, 5.0);
    }
}
