//! Names the fields of a mapped [`Net`] after the ONNX nodes' module paths
//! and writes the crate: `src/lib.rs` (the `#[network]` structs),
//! `src/bin/check.rs`, `Cargo.toml` and the weights.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;

use crate::graph::Data;
use crate::map::{Act, Block, Cell, Chain, Item, Kind, Layer, Net};

/// The words of a module path, from a PyTorch exporter's node name
/// (`/layer1/dw_relu/Relu` is `layer1`, `dw`, `relu` and the operator), or
/// `None` for a name that is no path (`Conv@3`, `Conv_12`).
fn node_path(name: &str) -> Option<Vec<String>> {
    if !name.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = name.split('/').filter(|p| !p.is_empty()).collect();
    parts.pop();
    let mut out: Vec<String> = Vec::new();
    let mut prev: Option<&str> = None;
    for p in parts {
        // `/features/features.0/Conv`: the component repeats its parent.
        let p = prev
            .and_then(|prev| p.strip_prefix(prev)?.strip_prefix('.'))
            .unwrap_or(p);
        prev = Some(p);
        out.extend(words(p));
    }
    Some(out)
}

fn words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect()
}

/// The words of a module path from an initializer's name, without the
/// tensor's own name (`conv2_expand_bn_variance` is `conv2`, `expand`,
/// `bn`; `layer1.conv1.weight` is `layer1`, `conv1`; `fc_0.w_0` is `fc`,
/// `0`); `None` for a generated name (`onnx::Conv_123`).
fn tensor_path(source: &str) -> Option<Vec<String>> {
    let name = source.split_whitespace().next()?;
    if name.contains("::") || name.starts_with('(') {
        return None;
    }
    let mut w = words(name);
    if w.len() >= 2 && w[w.len() - 1] == "0" && matches!(w[w.len() - 2].as_str(), "w" | "b") {
        w.truncate(w.len() - 2);
    }
    while w.len() > 1
        && matches!(
            w[w.len() - 1].as_str(),
            "weight"
                | "weights"
                | "bias"
                | "biases"
                | "scale"
                | "offset"
                | "mean"
                | "variance"
                | "var"
                | "running"
                | "gamma"
                | "beta"
        )
    {
        w.pop();
    }
    Some(w)
}

/// The module path of a layer: its nodes' (PyTorch) or its tensors' common
/// prefix (Paddle and others), if either is meaningful.
fn layer_path(l: &Layer) -> Option<Vec<String>> {
    let from_nodes: Option<Vec<Vec<String>>> = l.nodes.iter().map(|n| node_path(n)).collect();
    if let Some(paths) = from_nodes {
        // A layer made of nodes of different modules (a batch norm folded
        // into a Linear) is named after its first.
        let common = common_prefix(&paths);
        return Some(if common.is_empty() {
            paths[0].clone()
        } else {
            common
        });
    }
    // The weights name a layer best (a bias may have been made or renamed).
    let weights: Vec<Vec<String>> = l
        .params
        .iter()
        .filter(|p| p.key.ends_with("weight"))
        .filter_map(|p| tensor_path(&p.source))
        .collect();
    let from_tensors: Vec<Vec<String>> = if weights.is_empty() {
        l.params
            .iter()
            .filter_map(|p| tensor_path(&p.source))
            .collect()
    } else {
        weights
    };
    (!from_tensors.is_empty()).then(|| common_prefix(&from_tensors))
}

fn common_prefix(paths: &[Vec<String>]) -> Vec<String> {
    let Some(first) = paths.first() else {
        return Vec::new();
    };
    let mut n = first.len();
    for p in &paths[1..] {
        n = n.min(first.iter().zip(p).take_while(|(a, b)| a == b).count());
    }
    first[..n].to_vec()
}

const KEYWORDS: &[&str] = &[
    "as", "async", "await", "box", "break", "const", "continue", "crate", "dyn", "else", "enum",
    "extern", "false", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod",
    "move", "mut", "pub", "ref", "return", "self", "static", "struct", "super", "trait", "true",
    "try", "type", "unsafe", "use", "where", "while", "yield",
];

/// A snake-case identifier from `parts`.
fn ident(parts: &[String], fallback: &str) -> String {
    let raw = if parts.is_empty() {
        fallback.to_string()
    } else {
        parts.join("_")
    };
    let mut s = String::new();
    for c in raw.chars() {
        let c = if c.is_ascii_alphanumeric() {
            c.to_ascii_lowercase()
        } else {
            '_'
        };
        if !(c == '_' && (s.is_empty() || s.ends_with('_'))) {
            s.push(c);
        }
    }
    let mut s = s.trim_end_matches('_').to_string();
    if s.is_empty() {
        s = fallback.to_string();
    }
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        s = format!("layer_{s}");
    }
    if KEYWORDS.contains(&s.as_str()) {
        s.push('_');
    }
    s
}

/// `block1_dw_bn` -> `Block1DwBn`.
fn camel(snake: &str) -> String {
    snake
        .split('_')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let mut c = p.chars();
            c.next().map_or_else(String::new, |f| {
                f.to_ascii_uppercase().to_string() + c.as_str()
            })
        })
        .collect()
}

/// The module paths of an item's layers (and its `Add`'s, for a block).
fn item_paths(item: &Item) -> Vec<Vec<String>> {
    match item {
        Item::Layer(l) => layer_path(l).into_iter().collect(),
        Item::Residual(b) => {
            let mut paths: Vec<Vec<String>> = b.items.iter().flat_map(item_paths).collect();
            paths.extend(b.shortcut.as_deref().map(item_paths).unwrap_or_default());
            paths.extend(node_path(&b.node));
            paths
        }
        Item::Chain(c) => c.items.iter().flat_map(item_paths).collect(),
    }
}

fn op_of(kind: &Kind) -> &'static str {
    match kind {
        Kind::Conv { .. } => "conv",
        Kind::Pad { .. } => "pad",
        Kind::BatchNorm { .. } => "bn",
        Kind::LayerNorm { .. } => "ln",
        Kind::GroupNorm { .. } => "gn",
        Kind::InstanceNorm { .. } => "norm",
        Kind::Linear => "fc",
        Kind::Recurrent {
            cell: Cell::Gru, ..
        } => "gru",
        Kind::Recurrent {
            cell: Cell::Lstm, ..
        } => "lstm",
        Kind::Recurrent { .. } => "rnn",
        Kind::LastStep => "last_step",
        Kind::Act(Act::Relu) => "relu",
        Kind::Act(Act::Relu6) => "relu6",
        Kind::Act(Act::LeakyRelu(..)) => "leaky_relu",
        Kind::Act(Act::Sigmoid) => "sigmoid",
        Kind::Act(Act::Tanh) => "tanh",
        Kind::Act(Act::Hardswish) => "hardswish",
        Kind::Act(Act::Hardsigmoid(_)) => "hardsigmoid",
        Kind::Act(Act::Gelu) => "gelu",
        Kind::Act(Act::Softmax) => "softmax",
        Kind::GlobalAvgPool => "gap",
        Kind::Pool { max: true, .. } => "max_pool",
        Kind::Pool { .. } => "avg_pool",
        Kind::Flatten => "flatten",
        Kind::SqueezeExcitation { .. } => "se",
    }
}

/// Names every field of `items`, whose module paths start with `prefix`:
/// a layer after the rest of its path, a block after the first word of
/// its layers' common path; a layer without a path (an activation of a
/// Paddle export) after the layer before it and its operator
/// (`expand_bn`, `expand_relu`).
fn name_items(items: &mut [Item], prefix: &[String]) {
    let mut used: HashMap<String, usize> = HashMap::new();
    let mut blocks = 0;
    let mut previous: Option<String> = None;
    let below = |path: Vec<String>| -> Vec<String> {
        if path.starts_with(prefix) {
            path[prefix.len()..].to_vec()
        } else {
            path
        }
    };
    // A padding layer made from the node of the convolution after it (an
    // asymmetric pad) is named after that convolution, `_pad`.
    let pads_for: Vec<bool> = items
        .windows(2)
        .map(|w| matches!((&w[0], &w[1]), (Item::Layer(p), Item::Layer(c)) if matches!(p.kind, Kind::Pad { .. }) && c.nodes.first() == p.nodes.first()))
        .chain(std::iter::once(false))
        .collect();
    for (k, item) in items.iter_mut().enumerate() {
        let paths = item_paths(item);
        let rest = (!paths.is_empty()).then(|| below(common_prefix(&paths)));
        let (mut field, inner) = match item {
            Item::Layer(l) => {
                let op = op_of(&l.kind);
                let field = match (&rest, &previous) {
                    (rest, _) if pads_for[k] => {
                        format!("{}_pad", ident(rest.as_deref().unwrap_or_default(), "conv"))
                    }
                    // A block's own activation (`/block/Relu` after the
                    // block `block`): its path and its operator.
                    (Some(rest), _)
                        if !rest.is_empty()
                            && l.params.is_empty()
                            && used.contains_key(&ident(rest, op)) =>
                    {
                        format!("{}_{op}", ident(rest, op))
                    }
                    (Some(rest), _) if !rest.is_empty() => ident(rest, op),
                    (_, Some(prev)) => {
                        let base = prev.strip_suffix("_bn").unwrap_or(prev);
                        format!("{base}_{op}")
                    }
                    _ => op.to_string(),
                };
                (field, Vec::new())
            }
            Item::Residual(_) | Item::Chain(_) => {
                blocks += 1;
                // The block's own path: its first word below `prefix`.
                let own: Vec<String> = rest.iter().flatten().take(1).cloned().collect();
                let mut inner = prefix.to_vec();
                inner.extend(own.iter().cloned());
                (ident(&own, &format!("block{blocks}")), inner)
            }
        };
        let n = used.entry(field.clone()).or_insert(0);
        *n += 1;
        if *n > 1 {
            field = format!("{field}_{n}");
        }
        previous = Some(field.clone());
        match item {
            Item::Layer(l) => l.field = field,
            Item::Chain(c) => {
                c.field = field;
                name_items(&mut c.items, &inner);
            }
            Item::Residual(b) => {
                b.field = field;
                name_items(&mut b.items, &inner);
                if let Some(s) = b.shortcut.as_deref_mut() {
                    let paths = item_paths(s);
                    let mut rest = if paths.is_empty() {
                        Vec::new()
                    } else {
                        common_prefix(&paths)
                    };
                    if rest.starts_with(&inner) {
                        rest.drain(..inner.len());
                    }
                    if matches!(s, Item::Chain(_)) {
                        rest.truncate(1);
                    }
                    let mut f = ident(&rest, "shortcut");
                    if b.items.iter().any(|i| field_of(i) == f) {
                        f = format!("{f}_shortcut");
                    }
                    match s {
                        Item::Layer(l) => l.field = f,
                        Item::Chain(c) => {
                            let mut inner = inner.clone();
                            inner.extend(rest);
                            c.field = f;
                            name_items(&mut c.items, &inner);
                        }
                        Item::Residual(r) => r.field = f,
                    }
                }
            }
        }
    }
}

fn field_of(item: &Item) -> &str {
    match item {
        Item::Layer(l) => &l.field,
        Item::Residual(b) => &b.field,
        Item::Chain(c) => &c.field,
    }
}

/// Names every field of `net` after its nodes' module paths.
pub fn name(net: &mut Net) {
    name_items(&mut net.items, &[]);
}

/// `[[[f32; W]; H]; C]` for `[C, H, W]`.
fn row(shape: &[usize]) -> String {
    shape
        .iter()
        .rev()
        .fold("f32".to_string(), |inner, d| format!("[{inner}; {d}]"))
}

fn list(v: &[usize]) -> String {
    format!(
        "[{}]",
        v.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// `L` or `[H, W]`.
fn axes_list(v: &[usize]) -> String {
    if let [n] = v { n.to_string() } else { list(v) }
}

/// A window argument: one number when every axis agrees.
fn axes(v: &[usize]) -> String {
    if v.windows(2).all(|w| w[0] == w[1]) && !v.is_empty() {
        v[0].to_string()
    } else {
        list(v)
    }
}

/// What the generated source uses, for its `use` lines.
#[derive(Default)]
struct Uses {
    nn: BTreeSet<&'static str>,
    macros: BTreeSet<&'static str>,
}

fn act_fn(a: Act, uses: &mut Uses) -> String {
    let (name, gate) = match a {
        Act::Relu => ("ReluFn", ""),
        Act::Relu6 => ("Relu6Fn", ""),
        Act::Sigmoid => ("SigmoidFn", ""),
        Act::Tanh => ("TanhFn", ""),
        Act::Hardswish => ("HardswishFn", ""),
        Act::Hardsigmoid(false) => ("HardsigmoidFn", ""),
        Act::Hardsigmoid(true) => ("HardsigmoidFn", "PaddleGate"),
        Act::Gelu => ("GeluFn", ""),
        Act::Softmax => ("SoftmaxFn", ""),
        Act::LeakyRelu(n, d) => {
            uses.nn.insert("LeakyReluFn");
            return if (n, d) == (1, 100) {
                "LeakyReluFn".into()
            } else {
                format!("LeakyReluFn<{n}, {d}>")
            };
        }
    };
    uses.nn.insert(name);
    if gate.is_empty() {
        name.to_string()
    } else {
        uses.nn.insert(gate);
        format!("{name}<{gate}>")
    }
}

fn act_type(a: Act, shape: &[usize], uses: &mut Uses) -> String {
    let alias = match a {
        Act::Relu => Some("Relu"),
        Act::Relu6 => Some("Relu6"),
        Act::Sigmoid => Some("Sigmoid"),
        Act::Tanh => Some("Tanh"),
        Act::Hardswish => Some("Hardswish"),
        Act::Hardsigmoid(false) => Some("Hardsigmoid"),
        Act::Gelu => Some("Gelu"),
        Act::Softmax => Some("Softmax"),
        Act::LeakyRelu(1, 100) => Some("LeakyRelu"),
        Act::LeakyRelu(..) | Act::Hardsigmoid(true) => None,
    };
    match (alias, shape) {
        (Some(alias), [n]) => {
            uses.nn.insert(alias);
            format!("{alias}<{n}>")
        }
        (Some(alias), _) => {
            let on: &'static str = match alias {
                "Relu" => "ReluOn",
                "Relu6" => "Relu6On",
                "Sigmoid" => "SigmoidOn",
                "Tanh" => "TanhOn",
                "Hardswish" => "HardswishOn",
                "Hardsigmoid" => "HardsigmoidOn",
                "Gelu" => "GeluOn",
                "Softmax" => "SoftmaxOn",
                _ => "LeakyReluOn",
            };
            uses.nn.insert(on);
            format!("{on}<{}>", row(shape))
        }
        (None, _) => {
            uses.nn.insert("ActivationOn");
            format!("ActivationOn<{}, {}>", act_fn(a, uses), row(shape))
        }
    }
}

/// Every name the generated source may import from `constnorm` or the
/// prelude: a marker or block struct named after a field (`linear` ->
/// `Linear`) must not take one of them.
const IMPORTED: &[&str] = &[
    "ActivationOn",
    "AdaptiveAvgPool1d",
    "AdaptiveAvgPool2d",
    "Flatten",
    "Gelu",
    "GeluFn",
    "GeluOn",
    "Gru",
    "GruCell",
    "Hardsigmoid",
    "HardsigmoidFn",
    "HardsigmoidOn",
    "Hardswish",
    "HardswishFn",
    "HardswishOn",
    "LastStep",
    "LeakyRelu",
    "LeakyReluFn",
    "LeakyReluOn",
    "Linear",
    "Lstm",
    "LstmCell",
    "Network",
    "PaddleGate",
    "ReflectionPad1d",
    "ReflectionPad2d",
    "Relu",
    "Relu6",
    "Relu6Fn",
    "Relu6On",
    "ReluFn",
    "ReluOn",
    "Result",
    "Rnn",
    "RnnCell",
    "Row",
    "Sigmoid",
    "SigmoidFn",
    "SigmoidOn",
    "Softmax",
    "SoftmaxFn",
    "SoftmaxOn",
    "SqueezeExcitation",
    "Tanh",
    "TanhFn",
    "TanhOn",
    "Vec",
    "ZeroPad1d",
    "ZeroPad2d",
];

/// The generated source of `lib.rs` and the weights' tensors by key.
pub struct Source {
    /// `src/lib.rs`.
    pub lib: String,
    /// `(key, tensor, ONNX source)` for the safetensors file.
    pub tensors: Vec<(String, crate::graph::Tensor, String)>,
}

struct Writer<'a> {
    uses: Uses,
    /// Normalization marker structs: `(name, attribute, nodes, what)`.
    norms: Vec<(String, String, String, &'static str)>,
    /// Block structs, innermost first.
    blocks: Vec<String>,
    type_names: BTreeSet<String>,
    tensors: Vec<(String, crate::graph::Tensor, String)>,
    _net: &'a Net,
}

impl Writer<'_> {
    fn unique_type(&mut self, base: &str) -> String {
        let mut name = base.to_string();
        let mut n = 1;
        while !self.type_names.insert(name.clone()) {
            n += 1;
            name = format!("{base}{n}");
        }
        name
    }

    fn layer_type(&mut self, l: &Layer, path: &str) -> String {
        let shape = &l.input;
        match &l.kind {
            Kind::Conv {
                cin,
                cout,
                kernel,
                stride,
                padding,
                dilation,
                groups,
                bias,
            } => {
                let mac = if kernel.len() == 1 {
                    "conv1d"
                } else {
                    "conv2d"
                };
                self.uses.macros.insert(mac);
                let mut s = format!("{mac}!({cin}, {cout}, {}", axes(kernel));
                if stride.iter().any(|&x| x != 1) {
                    let _ = write!(s, ", stride = {}", axes(stride));
                }
                if padding.iter().any(|&x| x != 0) {
                    let _ = write!(s, ", padding = {}", axes(padding));
                }
                if dilation.iter().any(|&x| x != 1) {
                    let _ = write!(s, ", dilation = {}", axes(dilation));
                }
                if *groups != 1 {
                    let _ = write!(s, ", groups = {groups}");
                }
                if !bias {
                    s.push_str(", bias = false");
                }
                let _ = write!(s, ", input = {})", list(shape));
                s
            }
            Kind::Pad {
                reflect,
                begin,
                end,
                ..
            } => {
                let kind = if *reflect { "Reflection" } else { "Zero" };
                let name: &'static str = match (reflect, begin.len()) {
                    (true, 1) => "ReflectionPad1d",
                    (true, _) => "ReflectionPad2d",
                    (false, 1) => "ZeroPad1d",
                    (false, _) => "ZeroPad2d",
                };
                let _ = kind;
                self.uses.nn.insert(name);
                let o = &l.output;
                if begin.len() == 1 {
                    format!(
                        "{name}<{}, {}, {}, {}, {}>",
                        shape[0], shape[1], begin[0], end[0], o[1]
                    )
                } else {
                    // PyTorch's (left, right, top, bottom).
                    format!(
                        "{name}<{}, {}, {}, {}, {}, {}, {}, {}, {}>",
                        shape[0],
                        shape[1],
                        shape[2],
                        begin[1],
                        end[1],
                        begin[0],
                        end[0],
                        o[1],
                        o[2]
                    )
                }
            }
            Kind::BatchNorm { eps, momentum } => {
                self.uses.macros.insert("normalize");
                let name = self.unique_type(&camel(path));
                let mut attr = format!("batch, dims = {}", shape[0]);
                match &shape[1..] {
                    [] => {}
                    [s] => {
                        let _ = write!(attr, ", spatial = {s}");
                    }
                    s => {
                        let _ = write!(attr, ", spatial = {}", list(s));
                    }
                }
                if *eps != 1e-5 {
                    let _ = write!(attr, ", eps = {eps:?}");
                }
                if (momentum - 0.1).abs() > 1e-12 {
                    let _ = write!(attr, ", momentum = {momentum:?}");
                }
                self.norms
                    .push((name.clone(), attr, l.nodes.join("`, `"), "Batch norm"));
                name
            }
            Kind::LayerNorm { eps, bias } => {
                let dims = if let [n] = shape.as_slice() {
                    n.to_string()
                } else {
                    list(shape)
                };
                let mut attr = format!("layer, dims = {dims}");
                if *eps != 1e-5 {
                    let _ = write!(attr, ", eps = {eps:?}");
                }
                if !bias {
                    attr.push_str(", bias = false");
                }
                self.norm(l, path, attr)
            }
            Kind::GroupNorm { groups, eps } => {
                let mut attr = format!(
                    "group, dims = {}, groups = {groups}, spatial = {}",
                    shape[0],
                    axes_list(&shape[1..])
                );
                if *eps != 1e-5 {
                    let _ = write!(attr, ", eps = {eps:?}");
                }
                self.norm(l, path, attr)
            }
            Kind::InstanceNorm { eps } => {
                let mut attr = format!(
                    "instance, dims = {}, spatial = {}, affine = true",
                    shape[0],
                    axes_list(&shape[1..])
                );
                if *eps != 1e-5 {
                    let _ = write!(attr, ", eps = {eps:?}");
                }
                self.norm(l, path, attr)
            }
            Kind::Recurrent {
                cell,
                steps,
                input,
                hidden,
                bidirectional,
            } => {
                let (layer, cell_type, extra) = match cell {
                    Cell::Gru => ("Gru", "GruCell", ""),
                    Cell::Lstm => ("Lstm", "LstmCell", ""),
                    Cell::Rnn => ("Rnn", "RnnCell", ""),
                    Cell::RnnRelu => ("Rnn", "RnnCell", ", f32, true, ReluFn"),
                };
                if !extra.is_empty() {
                    self.uses.nn.insert("ReluFn");
                }
                if *bidirectional {
                    self.uses.nn.insert(cell_type);
                    format!(
                        "constnorm::stacked!({cell_type}<{input}, {hidden}{extra}>, steps = {steps}, layers = 1, bidirectional = true)"
                    )
                } else {
                    self.uses.nn.insert(layer);
                    format!("{layer}<{input}, {hidden}, {steps}{extra}>")
                }
            }
            Kind::LastStep => {
                self.uses.nn.insert("LastStep");
                format!("LastStep<{}, {}>", row(&shape[1..]), shape[0])
            }
            Kind::Linear => {
                self.uses.nn.insert("Linear");
                format!("Linear<{}, {}>", shape[0], l.output[0])
            }
            Kind::Act(a) => act_type(*a, shape, &mut self.uses),
            Kind::GlobalAvgPool => {
                let name = if shape.len() == 2 {
                    "AdaptiveAvgPool1d"
                } else {
                    "AdaptiveAvgPool2d"
                };
                self.uses.nn.insert(name);
                format!(
                    "{name}<{}>",
                    shape
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
            Kind::Pool {
                max,
                kernel,
                stride,
                padding,
                dilation,
                ceil,
                count_include_pad,
            } => {
                let mac: &'static str = match (max, kernel.len()) {
                    (true, 1) => "max_pool1d",
                    (true, _) => "max_pool2d",
                    (false, 1) => "avg_pool1d",
                    (false, _) => "avg_pool2d",
                };
                self.uses.macros.insert(mac);
                let mut s = format!("{mac}!({}", axes(kernel));
                if stride != kernel {
                    let _ = write!(s, ", stride = {}", axes(stride));
                }
                if padding.iter().any(|&x| x != 0) {
                    let _ = write!(s, ", padding = {}", axes(padding));
                    if !max && !count_include_pad {
                        s.push_str(", count_include_pad = false");
                    }
                }
                if dilation.iter().any(|&x| x != 1) {
                    let _ = write!(s, ", dilation = {}", axes(dilation));
                }
                if *ceil {
                    s.push_str(", ceil_mode = true");
                }
                let _ = write!(s, ", input = {})", list(shape));
                s
            }
            Kind::Flatten => {
                self.uses.nn.insert("Flatten");
                format!("Flatten<{}, {}>", row(shape), l.output[0])
            }
            Kind::SqueezeExcitation { squeeze, act, gate } => {
                self.uses.nn.insert("SqueezeExcitation");
                let a = act_fn(*act, &mut self.uses);
                let g = act_fn(*gate, &mut self.uses);
                format!(
                    "SqueezeExcitation<{}, {squeeze}, {}, {}, f32, {a}, {g}>",
                    shape[0], shape[1], shape[2]
                )
            }
        }
    }

    /// The fields of `items` (keys under `prefix`), writing block structs
    /// as it goes.
    fn fields(&mut self, items: &[Item], prefix: &str, type_prefix: &str) -> String {
        let mut out = String::new();
        for item in items {
            let key = if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}.")
            };
            match item {
                Item::Layer(l) => self.field(&mut out, l, &key, type_prefix, ""),
                Item::Residual(b) => {
                    let name = self.block(
                        b,
                        &format!("{key}{}", b.field),
                        &format!("{type_prefix}_{}", b.field),
                    );
                    let _ = writeln!(out, "    /// ONNX `{}`: {}.", b.node, describe_block(b));
                    let _ = writeln!(out, "    #[nested]\n    pub {}: {name},", b.field);
                }
                Item::Chain(c) => {
                    let name = self.chain(
                        c,
                        &format!("{key}{}", c.field),
                        &format!("{type_prefix}_{}", c.field),
                    );
                    let _ = writeln!(
                        out,
                        "    /// {} layers.\n    #[nested]\n    pub {}: {name},",
                        c.items.len(),
                        c.field
                    );
                }
            }
        }
        out
    }

    fn field(&mut self, out: &mut String, l: &Layer, key: &str, type_prefix: &str, attr: &str) {
        let path = format!("{type_prefix}_{}", l.field);
        let ty = self.layer_type(l, &path);
        let nodes = l
            .nodes
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(
            out,
            "    /// ONNX {nodes}: {} -> {}.",
            list(&l.input),
            list(&l.output)
        );
        if !attr.is_empty() {
            let _ = writeln!(out, "    {attr}");
        }
        let _ = writeln!(out, "    pub {}: {ty},", l.field);
        for p in &l.params {
            self.tensors.push((
                format!("{key}{}.{}", l.field, p.key),
                p.tensor.clone(),
                p.source.clone(),
            ));
        }
    }

    fn block(&mut self, b: &Block, key: &str, type_prefix: &str) -> String {
        let name = self.unique_type(&camel(type_prefix));
        let mut body = self.fields(&b.items, key, type_prefix);
        match b.shortcut.as_deref() {
            Some(Item::Layer(s)) => {
                self.field(&mut body, s, &format!("{key}."), type_prefix, "#[shortcut]")
            }
            Some(Item::Chain(c)) => {
                let name = self.chain(
                    c,
                    &format!("{key}.{}", c.field),
                    &format!("{type_prefix}_{}", c.field),
                );
                let _ = writeln!(
                    body,
                    "    /// The shortcut, {} layers.\n    #[shortcut]\n    #[nested]\n    pub {}: {name},",
                    c.items.len(),
                    c.field
                );
            }
            // `map` nests a residual shortcut in a chain.
            Some(Item::Residual(_)) | None => {}
        }
        let what = describe_block(b);
        self.uses.macros.insert("network");
        self.blocks.push(format!(
            "/// Residual block: {what} (ONNX `{}`).\n#[network(residual)]\n#[derive(Clone, Debug, Default)]\npub struct {name} {{\n{body}}}\n",
            b.node
        ));
        name
    }
}

impl Writer<'_> {
    /// A `#[normalize(attr)]` marker struct for `l`; its name.
    fn norm(&mut self, l: &Layer, path: &str, attr: String) -> String {
        self.uses.macros.insert("normalize");
        let name = self.unique_type(&camel(path));
        let what = match attr.split(',').next() {
            Some("layer") => "Layer norm",
            Some("group") => "Group norm",
            Some("instance") => "Instance norm",
            _ => "Batch norm",
        };
        self.norms
            .push((name.clone(), attr, l.nodes.join("`, `"), what));
        name
    }

    /// A chain's `#[network]` struct; its name.
    fn chain(&mut self, c: &Chain, key: &str, type_prefix: &str) -> String {
        let name = self.unique_type(&camel(type_prefix));
        let body = self.fields(&c.items, key, type_prefix);
        self.uses.macros.insert("network");
        self.blocks.push(format!(
            "/// A chain of layers.\n#[network]\n#[derive(Clone, Debug, Default)]\npub struct {name} {{\n{body}}}\n"
        ));
        name
    }
}

fn describe_block(b: &Block) -> &'static str {
    if b.shortcut.is_some() {
        "`shortcut(x) + body(x)`"
    } else {
        "`x + body(x)`"
    }
}

/// Writes `lib.rs` for `net` (fields already named).
pub fn source(
    net: &Net,
    model: &str,
    struct_name: &str,
    batch: usize,
    graph: &crate::graph::Graph,
) -> Source {
    let mut w = Writer {
        uses: Uses::default(),
        norms: Vec::new(),
        blocks: Vec::new(),
        type_names: [struct_name, "Input", "Output", "Box"]
            .iter()
            .chain(IMPORTED)
            .map(ToString::to_string)
            .collect(),
        tensors: Vec::new(),
        _net: net,
    };
    w.uses.macros.insert("network");
    let fields = w.fields(&net.items, "", "");
    let mut s = String::new();
    let _ = writeln!(
        s,
        "//! `{model}` imported by constnorm-onnx {} (opset {}, written by {}).\n//!\n//! Input `{}`: one example is {}; output `{}`: {}. Every field names\n//! the ONNX nodes it maps; `weights.safetensors` holds the weights under\n//! the fields' keys, with the ONNX names in its metadata.\n",
        env!("CARGO_PKG_VERSION"),
        graph.opset,
        if graph.producer.is_empty() {
            "an unnamed producer"
        } else {
            &graph.producer
        },
        net.input_name,
        list(&net.input),
        net.output_name,
        list(&net.output),
    );
    let nn: Vec<&str> = w.uses.nn.iter().copied().collect();
    if !nn.is_empty() {
        let _ = writeln!(s, "use constnorm::nn::{{{}}};", nn.join(", "));
    }
    let macros: Vec<&str> = w.uses.macros.iter().copied().collect();
    let _ = writeln!(s, "use constnorm::{{{}}};\n", macros.join(", "));
    let _ = writeln!(
        s,
        "/// One example's input shape (`{}`, without the batch dimension).\npub const INPUT_SHAPE: [usize; {}] = {};",
        net.input_name,
        net.input.len(),
        list(&net.input)
    );
    let _ = writeln!(
        s,
        "/// One example's output shape (`{}`).\npub const OUTPUT_SHAPE: [usize; {}] = {};",
        net.output_name,
        net.output.len(),
        list(&net.output)
    );
    let _ = writeln!(
        s,
        "/// One example's input.\npub type Input = {};",
        row(&net.input)
    );
    let _ = writeln!(
        s,
        "/// One example's output.\npub type Output = {};\n",
        row(&net.output)
    );
    for (name, attr, nodes, what) in &w.norms {
        let _ = writeln!(
            s,
            "/// {what} of ONNX `{nodes}`.\n#[normalize({attr})]\npub struct {name};\n"
        );
    }
    for b in &w.blocks {
        let _ = writeln!(s, "{b}");
    }
    let _ = writeln!(
        s,
        "/// The network of `{model}`.\n#[network]\n#[derive(Clone, Debug, Default)]\npub struct {struct_name} {{\n{fields}}}\n"
    );
    let _ = write!(
        s,
        r#"/// `weights.safetensors`, where the importer wrote it.
pub const WEIGHTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/weights.safetensors");

/// The network with the weights of a safetensors file's bytes, on the heap.
/// Every tensor is checked (shape, dtype, finite values) and the file must
/// hold nothing else.
///
/// # Errors
/// A [`constnorm::safetensors::LoadError`] naming the key at fault.
pub fn from_bytes(bytes: &[u8]) -> Result<Box<{struct_name}>, constnorm::safetensors::LoadError> {{
    use constnorm::safetensors::{{LoadOptions, StateDictFile}};
    let file = StateDictFile::parse(bytes)?;
    let mut net = {struct_name}::new_boxed();
    file.load("", &mut *net, LoadOptions::default())?;
    Ok(net)
}}

/// The network with the weights of the safetensors file at `path`
/// ([`WEIGHTS`] for the imported ones), on the heap.
///
/// # Errors
/// The file cannot be read, or [`from_bytes`]'s.
pub fn load(
    path: impl AsRef<std::path::Path>,
) -> Result<Box<{struct_name}>, Box<dyn std::error::Error + Send + Sync>> {{
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| format!("{{}}: {{e}}", path.display()))?;
    Ok(from_bytes(&bytes)?)
}}
"#
    );
    s.push_str(&check_fn(struct_name, batch, &net.input, &net.output));
    Source {
        lib: s,
        tensors: w.tensors,
    }
}

/// `src/bin/check.rs`.
pub fn check_bin(krate: &str) -> String {
    format!(
        r#"//! `check INPUT.npy OUTPUT.npy`: the eval forward of the imported network
//! on every example of `INPUT.npy`, written to `OUTPUT.npy`
//! ([`{krate}::check`]), to compare with ONNX Runtime.

use std::process::ExitCode;

fn main() -> ExitCode {{
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output] = args.as_slice() else {{
        eprintln!("usage: check INPUT.npy OUTPUT.npy");
        return ExitCode::from(2);
    }};
    let run = || -> Result<(), Box<dyn std::error::Error + Send + Sync>> {{
        let x = std::fs::read(input).map_err(|e| format!("{{input}}: {{e}}"))?;
        let net = {krate}::load({krate}::WEIGHTS)?;
        let y = {krate}::check(&net, &x).map_err(|e| format!("{{input}}: {{e}}"))?;
        std::fs::write(output, y).map_err(|e| format!("{{output}}: {{e}}"))?;
        Ok(())
    }};
    match run() {{
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {{
            eprintln!("check: {{e}}");
            ExitCode::FAILURE
        }}
    }}
}}
"#
    )
}

/// The generated `check` function (in `lib.rs`): `.npy` in, `.npy` out.
fn check_fn(struct_name: &str, batch: usize, input: &[usize], output: &[usize]) -> String {
    let dims = |d: &[usize]| {
        d.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        r#"
/// The eval forward of `net` on every example of a `.npy` file's bytes
/// (`f32`, C order, `[N, {dims}]` for any `N`; run {batch} at a time, the
/// last chunk partial, nothing allocated per chunk), as the bytes of a
/// `.npy` file of `[N, {out_dims}]` (`constnorm::runtime::npy::forward_eval`).
///
/// # Errors
/// A file that is not such an array, or what a layer reports.
pub fn check(
    net: &{struct_name},
    npy_bytes: &[u8],
) -> Result<Vec<u8>, Box<dyn std::error::Error + Send + Sync>> {{
    let mut workspace = {struct_name}Workspace::<{batch}>::new_boxed();
    constnorm::runtime::npy::forward_eval(net, &mut *workspace, npy_bytes)
}}
"#,
        dims = dims(input),
        out_dims = dims(output),
    )
}

/// `Cargo.toml` of the generated crate.
pub fn cargo_toml(krate: &str, constnorm: &str) -> String {
    let dep = if constnorm.starts_with(|c: char| c.is_ascii_digit()) {
        format!("version = \"{constnorm}\"")
    } else {
        format!("path = {constnorm:?}")
    };
    format!(
        "[package]\nname = \"{krate}\"\nversion = \"0.1.0\"\nedition = \"2024\"\npublish = false\n\n[dependencies]\nconstnorm = {{ {dep}, features = [\"safetensors\"] }}\n\n[profile.dev]\nopt-level = 1\n\n# Its own workspace, wherever it is written.\n[workspace]\n"
    )
}

/// The safetensors bytes of `tensors` with their ONNX names as metadata.
///
/// # Errors
/// What `safetensors` reports (it does not for tensors the mapping made).
pub fn weights(
    tensors: &[(String, crate::graph::Tensor, String)],
    model: &str,
) -> Result<Vec<u8>, String> {
    use safetensors::tensor::{Dtype, TensorView};
    let bytes: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(key, t, _)| match &t.data {
            Data::F32(v) => (
                key.clone(),
                Dtype::F32,
                t.dims.clone(),
                v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            ),
            Data::I64(v) => (
                key.clone(),
                Dtype::I64,
                t.dims.clone(),
                v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            ),
        })
        .collect();
    let views = bytes
        .iter()
        .map(|(k, d, s, b)| TensorView::new(*d, s.clone(), b).map(|v| (k.clone(), v)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let mut meta: BTreeMap<String, String> = BTreeMap::new();
    meta.insert("format".into(), "pt".into());
    meta.insert("constnorm-onnx.model".into(), model.into());
    for (key, _, source) in tensors {
        meta.insert(format!("onnx:{key}"), source.clone());
    }
    safetensors::tensor::serialize(views, Some(meta.into_iter().collect()))
        .map_err(|e| e.to_string())
}
