//! Collects every error of one expansion, so a single build reports them all.

use proc_macro2::Span;
use std::fmt::Display;

#[derive(Default)]
pub struct Errors(Option<syn::Error>);

impl Errors {
    pub fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(error),
            None => self.0 = Some(error),
        }
    }

    pub fn at(&mut self, span: Span, message: impl Display) {
        self.push(syn::Error::new(span, message));
    }

    pub fn finish(self) -> Result<(), syn::Error> {
        self.0.map_or(Ok(()), Err)
    }
}

/// "; did you mean `x`?" for the closest candidate, or for a known alias.
pub fn did_you_mean(found: &str, candidates: &[&str]) -> String {
    let alias = crate::symbol::ALIASES
        .iter()
        .find(|(alias, ours)| alias.eq_ignore_ascii_case(found) && candidates.contains(ours))
        .map(|(_, ours)| *ours);
    let close = || {
        candidates
            .iter()
            .map(|c| (strsim::jaro_winkler(found, c), *c))
            .filter(|(score, _)| *score > 0.8)
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, c)| c)
    };
    alias
        .or_else(close)
        .map_or_else(String::new, |c| format!("; did you mean `{c}`?"))
}

/// "`a`, `b` or `c`".
pub fn one_of(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        Some((last, _)) => last.clone(),
        None => String::new(),
    }
}
