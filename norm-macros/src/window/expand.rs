//! Expand: the validated window layer into its runtime type, every const
//! argument filled: a literal where the macro knows the value, else a const
//! expression over the user's sizes and the runtime's `const fn`s.

use super::kind::{Family, Window};
use super::valid::{Config, Pad};
use crate::args::Size;
use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};

/// A generic argument: known, or a const expression.
#[derive(Clone)]
enum Value {
    Known(usize),
    Expr(TokenStream),
}

impl Value {
    fn of(size: &Size) -> Self {
        match size.value() {
            Some(v) => Self::Known(v),
            None => {
                let tokens = &size.tokens;
                Self::Expr(quote!((#tokens)))
            }
        }
    }

    /// As a generic argument.
    fn arg(&self) -> TokenStream {
        match self {
            Self::Known(v) => {
                let v = Literal::usize_unsuffixed(*v);
                quote!(#v)
            }
            Self::Expr(e) => quote!({ #e }),
        }
    }

    /// As an operand of a const expression.
    fn expr(&self) -> TokenStream {
        match self {
            Self::Known(v) => {
                let v = Literal::usize_unsuffixed(*v);
                quote!(#v)
            }
            Self::Expr(e) => e.clone(),
        }
    }
}

/// One spatial axis: its input length, output length, kernel, stride,
/// leading padding and dilation.
struct Axis {
    len: Value,
    out: Value,
    kernel: Value,
    stride: Value,
    pad: Value,
    dilation: Value,
}

pub fn window_type(c: &Config) -> TokenStream {
    let krate = &c.krate;
    let ty = format_ident!("{}", c.window.runtime_type());
    let t = format_ident!("{}", c.dtype.name());
    let axes: Vec<Axis> = (0..c.spatial.len()).map(|i| axis(c, i)).collect();
    let (c_in, c_out) = (Value::of(&c.c_in), Value::of(&c.c_out));
    let mut args: Vec<TokenStream> = vec![c_in.arg()];
    if c.window.family() == Family::Conv {
        let groups = Value::of(&c.groups);
        let per_group = match (&c_in, &groups) {
            (Value::Known(a), Value::Known(g)) => Value::Known(a / g),
            _ => {
                let (a, g) = (c_in.expr(), groups.expr());
                Value::Expr(quote!(#a / #g))
            }
        };
        args.extend([c_out.arg(), groups.arg(), per_group.arg()]);
    }
    args.extend(axes.iter().map(|a| a.len.arg()));
    args.extend(axes.iter().map(|a| a.out.arg()));
    args.extend(axes.iter().map(|a| a.kernel.arg()));
    args.extend(axes.iter().map(|a| a.stride.arg()));
    args.extend(axes.iter().map(|a| a.pad.arg()));
    match c.window.family() {
        Family::Conv => {
            args.extend(axes.iter().map(|a| a.dilation.arg()));
            let bias = c.bias;
            args.push(quote!(#bias));
        }
        Family::MaxPool => args.extend(axes.iter().map(|a| a.dilation.arg())),
        Family::AvgPool => {
            let include = c.count_include_pad;
            args.push(quote!(#include));
        }
    }
    quote!(#krate::nn::#ty<#(#args,)* #t>)
}

fn axis(c: &Config, i: usize) -> Axis {
    let window = {
        let krate = &c.krate;
        quote!(#krate::runtime::kernels::window)
    };
    let (len, kernel, stride, dilation) = (
        Value::of(&c.spatial[i]),
        Value::of(&c.kernel[i]),
        Value::of(&c.stride[i]),
        Value::of(&c.dilation[i]),
    );
    let (pad, padding_expr) = match &c.padding {
        Pad::Each(p) => {
            let pad = Value::of(&p[i]);
            let e = pad.expr();
            (pad, quote!(#window::Padding::symmetric(#e)))
        }
        Pad::Same => {
            let (k, d) = (kernel.expr(), dilation.expr());
            let padding = quote!(#window::same_padding(#k, #d));
            let left = match (&kernel, &dilation) {
                (Value::Known(k), Value::Known(d)) => Value::Known(d * (k - 1) / 2),
                _ => Value::Expr(quote!(#padding.left)),
            };
            (left, padding)
        }
    };
    let out = output(c.window, c, &len, &kernel, &stride, &pad, &dilation).unwrap_or_else(|| {
        let (l, k, s, d) = (len.expr(), kernel.expr(), stride.expr(), dilation.expr());
        match c.window.family() {
            Family::Conv => {
                Value::Expr(quote!(#window::conv_out_len(#l, #k, #s, #padding_expr, #d)))
            }
            Family::MaxPool | Family::AvgPool => {
                let (p, ceil) = (pad.expr(), c.ceil_mode);
                Value::Expr(quote!(#window::pool_out_len(#l, #k, #s, #p, #d, #ceil)))
            }
        }
    });
    Axis {
        len,
        out,
        kernel,
        stride,
        pad,
        dilation,
    }
}

/// The output length where every size is known (validation has checked
/// that it is at least 1).
fn output(
    window: Window,
    c: &Config,
    len: &Value,
    kernel: &Value,
    stride: &Value,
    pad: &Value,
    dilation: &Value,
) -> Option<Value> {
    let (Value::Known(len), Value::Known(k), Value::Known(s), Value::Known(d)) =
        (len, kernel, stride, dilation)
    else {
        return None;
    };
    let same = matches!(c.padding, Pad::Same);
    let p = match pad {
        Value::Known(p) => *p,
        Value::Expr(_) if same => 0,
        Value::Expr(_) => return None,
    };
    Some(Value::Known(out_len(
        window.family(),
        same,
        c.ceil_mode,
        *len,
        *k,
        *s,
        p,
        *d,
    )))
}

/// PyTorch's output length of one axis (`p` is the padding on each side;
/// `same` pads `d * (k - 1)` in all).
#[allow(clippy::too_many_arguments)]
fn out_len(
    family: Family,
    same: bool,
    ceil_mode: bool,
    len: usize,
    k: usize,
    s: usize,
    p: usize,
    d: usize,
) -> usize {
    let span = d * (k - 1) + 1;
    if same {
        return (len + d * (k - 1) - span) / s + 1;
    }
    let room = len + 2 * p - span;
    if family == Family::Conv || !ceil_mode {
        return room / s + 1;
    }
    let out = room.div_ceil(s) + 1;
    if (out - 1) * s >= len + p {
        out - 1
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::{Family, out_len};
    use constnorm::runtime::kernels::window::{Padding, conv_out_len, pool_out_len, same_padding};

    /// The macro's arithmetic is the runtime's, which the kernels assert.
    #[test]
    fn output_lengths_are_the_runtimes() {
        for len in 1..12 {
            for k in 1..5 {
                for s in 1..4 {
                    for d in 1..3 {
                        for p in 0..3 {
                            if len + 2 * p < d * (k - 1) + 1 {
                                continue;
                            }
                            let conv = conv_out_len(len, k, s, Padding::symmetric(p), d);
                            assert_eq!(out_len(Family::Conv, false, false, len, k, s, p, d), conv);
                            if p <= k / 2 {
                                for ceil in [false, true] {
                                    let pool = pool_out_len(len, k, s, p, d, ceil);
                                    assert_eq!(
                                        out_len(Family::MaxPool, false, ceil, len, k, s, p, d),
                                        pool
                                    );
                                }
                            }
                        }
                        let same = conv_out_len(len, k, 1, same_padding(k, d), d);
                        assert_eq!(out_len(Family::Conv, true, false, len, k, 1, 0, d), same);
                    }
                }
            }
        }
    }
}
