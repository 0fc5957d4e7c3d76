//! Collects every error of one expansion, so a single build reports them all.

use proc_macro2::{Span, TokenStream};
use quote::quote;
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

    pub fn spanned(&mut self, tokens: impl quote::ToTokens, message: impl Display) {
        self.push(syn::Error::new_spanned(tokens, message));
    }
}

/// What an attribute expands to when it was misused: every error, then the
/// user's item unchanged, so the rest of their code does not drown in
/// follow-up errors (thiserror's `fallback.rs`).
pub fn fallback(input: TokenStream, error: &syn::Error) -> TokenStream {
    let errors = error.to_compile_error();
    quote! { #errors #input }
}

/// The error for a pipeline that failed without saying why: a bug of ours.
pub fn internal(attribute: &str) -> syn::Error {
    syn::Error::new(
        Span::call_site(),
        format!(
            "internal error in #[{attribute}]: invalid input without an error message; please report it"
        ),
    )
}

/// The candidate `found` most likely meant: a known alias (PyTorch's name for
/// it), or a close spelling.
pub fn suggest(found: &str, candidates: &[&'static str]) -> Option<&'static str> {
    let kinds = crate::kind::Kind::ALL
        .iter()
        .flat_map(|k| k.aliases().iter().map(move |alias| (*alias, k.name())));
    let alias = crate::symbol::ALIASES
        .iter()
        .copied()
        .chain(kinds)
        .find(|(alias, ours)| alias.eq_ignore_ascii_case(found) && candidates.contains(ours))
        .map(|(_, ours)| ours);
    alias.or_else(|| {
        candidates
            .iter()
            .map(|c| (strsim::jaro_winkler(found, c), *c))
            .filter(|(score, _)| *score > 0.8)
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, c)| c)
    })
}

/// "unknown X `found`: did you mean `c`?", or "unknown X `found`; expected
/// `a` or `b`" when nothing is close.
pub fn unknown(what: &str, found: &str, candidates: &[&'static str]) -> String {
    match suggest(found, candidates) {
        Some(c) => format!("unknown {what} `{found}`: did you mean `{c}`?"),
        None => format!("unknown {what} `{found}`; expected {}", one_of(candidates)),
    }
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
