//! The sliding-window layer macros (`conv1d!`, `conv2d!`, `max_pool1d!`,
//! `max_pool2d!`, `avg_pool1d!`, `avg_pool2d!`): a PyTorch-like line and the
//! input shape become the runtime's const-generic layer type with every size
//! filled in, output sizes included. A parse / validate / expand pipeline
//! like the attributes', with the kinds as data in `kind.rs`.

mod expand;
mod kind;
mod parse;
mod valid;

pub use kind::Window;

use crate::errors::Errors;
use proc_macro2::TokenStream;
use quote::quote;

/// The whole pipeline. In type position only one item can come out, so on
/// error the messages are `compile_error!`s inside one array type: the
/// last one its length, the others its element (a tuple). An array whose
/// length is an error is rustc's error type, which keeps quiet about the
/// uses of the type (`Conv::new()`), where a tuple of `compile_error!`s is
/// a tuple of units that the user's code then fails on a second time.
pub fn window(window: Window, tokens: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let args = parse::parse(window, tokens, &mut errors);
    let config = args.and_then(|args| valid::validate(window, args, &mut errors));
    match (errors.finish(), config) {
        (Ok(()), Some(config)) => expand::window_type(&config),
        (Err(e), _) => quiet_error_type(e.into_iter().map(|e| e.to_compile_error()).collect()),
        (Ok(()), None) => quiet_error_type(vec![
            crate::errors::internal(window.name()).to_compile_error(),
        ]),
    }
}

/// `[(e1, .., en-1); en]`: every error reported, and a type rustc treats as
/// already failed.
fn quiet_error_type(mut errors: Vec<TokenStream>) -> TokenStream {
    let last = errors.pop();
    quote!([(#(#errors,)*); #last])
}

#[cfg(test)]
mod tests {
    use super::{Window, window};
    use std::str::FromStr;

    fn expand(w: Window, args: &str) -> String {
        window(w, proc_macro2::TokenStream::from_str(args).expect("tokens")).to_string()
    }

    #[test]
    fn literal_sizes_give_literal_types() {
        let t = expand(Window::Conv2d, "1, 4, 3, padding = 1, input = [1, 8, 8]");
        assert_eq!(
            t.replace(' ', ""),
            ":: constnorm :: nn :: Conv2d < 1 , 4 , 1 , 1 , 8 , 8 , 8 , 8 , 3 , 3 , 1 , 1 , 1 , 1 , 1 , 1 , true , f32 >".replace(' ', "")
        );
        let t = expand(Window::MaxPool2d, "2, input = [4, 8, 8]");
        assert_eq!(
            t.replace(' ', ""),
            "::constnorm::nn::MaxPool2d<4,8,8,4,4,2,2,2,2,0,0,1,1,f32>"
        );
    }

    #[test]
    fn every_kind_expands_without_errors() {
        for w in Window::ALL {
            let args = match w.family() {
                super::kind::Family::Conv if w.rank() == 1 => "2, 4, 3, input = [2, 10]",
                super::kind::Family::Conv => "2, 4, 3, input = [2, 10, 10]",
                _ if w.rank() == 1 => "3, input = [2, 10]",
                _ => "3, input = [2, 10, 10]",
            };
            let out = expand(*w, args);
            assert!(!out.contains("compile_error"), "{w:?}: {out}");
        }
    }

    #[test]
    fn every_problem_is_reported() {
        let out = expand(
            Window::Conv2d,
            "3, 4, 0, stride = 0, groups = 3, colour = 1, input = [2, 4, 4]",
        );
        // unknown `colour`, kernel 0, stride 0, in_channels 3 against the
        // input's 2, and groups 3 dividing neither the 2 input nor the 4
        // output channels.
        assert_eq!(out.matches("compile_error").count(), 6, "{out}");
    }
}
