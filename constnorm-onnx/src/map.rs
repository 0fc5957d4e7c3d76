//! From the data path of a [`Graph`] to a network of constnorm layers: a
//! chain of layers from the input to the output, where a fork that joins
//! again in an `Add` is a residual block and one that joins in a `Mul` by
//! per-channel gates is squeeze-and-excitation. Every node the mapping
//! cannot take is recorded as a [`Refusal`] and the walk goes on, so one
//! run names them all.

use std::collections::HashMap;

use crate::graph::{Graph, Node, Tensor, axis};
use crate::{Options, Refusal};

/// The network: its layers and blocks in order, with the shapes of one
/// example (no batch dimension).
#[derive(Clone, Debug)]
pub struct Net {
    /// The graph input's name.
    pub input_name: String,
    /// The graph output's name.
    pub output_name: String,
    /// One example's input shape.
    pub input: Vec<usize>,
    /// One example's output shape.
    pub output: Vec<usize>,
    /// The layers and blocks.
    pub items: Vec<Item>,
}

/// A field of a network.
#[derive(Clone, Debug)]
pub enum Item {
    /// One layer.
    Layer(Layer),
    /// A residual block: `x + body(x)` or `shortcut(x) + body(x)`.
    Residual(Block),
    /// A plain chain of layers as a nested network (a shortcut of more
    /// than one layer).
    Chain(Chain),
}

/// A chain of layers written as a nested `#[network]`.
#[derive(Clone, Debug)]
pub struct Chain {
    /// Its field name (set by naming).
    pub field: String,
    /// Its layers and blocks.
    pub items: Vec<Item>,
}

/// A residual block.
#[derive(Clone, Debug)]
pub struct Block {
    /// Its field name (set when the fields are named).
    pub field: String,
    /// The body's layers and blocks.
    pub items: Vec<Item>,
    /// The projection shortcut, if not the identity: a layer, or a
    /// [`Chain`] of them.
    pub shortcut: Option<Box<Item>>,
    /// The `Add` node.
    pub node: String,
}

/// One layer: what it is, the nodes it came from, its shapes and its
/// parameters under their state-dict names.
#[derive(Clone, Debug)]
pub struct Layer {
    /// Its field name (set when the fields are named).
    pub field: String,
    /// The ONNX nodes it maps.
    pub nodes: Vec<String>,
    /// What it is.
    pub kind: Kind,
    /// One example's input shape.
    pub input: Vec<usize>,
    /// One example's output shape.
    pub output: Vec<usize>,
    /// Its tensors: state-dict suffix (`weight`), values, ONNX name.
    pub params: Vec<Param>,
}

/// A tensor of a layer.
#[derive(Clone, Debug)]
pub struct Param {
    /// The state-dict suffix: `weight`, `running_var`, `fc1.bias`.
    pub key: String,
    /// PyTorch's shape and the values.
    pub tensor: Tensor,
    /// Where it came from in the ONNX file (an initializer's name, or a
    /// description for a tensor the importer made).
    pub source: String,
}

/// The kinds of layers the importer writes.
#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    /// `Conv1d` / `Conv2d` (spatial rank = `kernel.len()`).
    Conv {
        /// Input channels.
        cin: usize,
        /// Output channels.
        cout: usize,
        /// Kernel size per axis.
        kernel: Vec<usize>,
        /// Stride per axis.
        stride: Vec<usize>,
        /// Symmetric padding per axis.
        padding: Vec<usize>,
        /// Dilation per axis.
        dilation: Vec<usize>,
        /// Groups.
        groups: usize,
        /// Whether it has a bias.
        bias: bool,
    },
    /// Constant (zero by default) or reflection padding, `(begin, end)`
    /// per spatial axis.
    Pad {
        /// `reflect` or `constant`.
        reflect: bool,
        /// The constant.
        value: f32,
        /// Padding before each spatial axis.
        begin: Vec<usize>,
        /// Padding after each spatial axis.
        end: Vec<usize>,
    },
    /// Batch norm with running statistics (`BatchNorm1d` / `2d`).
    BatchNorm {
        /// ONNX's `epsilon`.
        eps: f32,
        /// PyTorch's momentum, `1 - ` ONNX's.
        momentum: f64,
    },
    /// `LayerNorm` over the whole example, with a bias or not.
    LayerNorm {
        /// `epsilon`.
        eps: f32,
        /// Whether it has a bias.
        bias: bool,
    },
    /// `GroupNorm(G, C)` (the `GroupNormalization` node, or PyTorch's
    /// opset-17 export of it: a reshape to `G` groups, an
    /// `InstanceNormalization`, a reshape back, a per-channel `Mul` and
    /// `Add`).
    GroupNorm {
        /// Groups.
        groups: usize,
        /// `epsilon`.
        eps: f32,
    },
    /// `InstanceNorm{1,2}d(C, affine=True)`.
    InstanceNorm {
        /// `epsilon`.
        eps: f32,
    },
    /// `Linear(IN, OUT)`.
    Linear,
    /// `torch.nn.RNN` / `GRU` / `LSTM` (one layer, batch first), one
    /// direction or both: input `[S, I]`, output `[S, D * H]`.
    Recurrent {
        /// Which cell.
        cell: Cell,
        /// Steps.
        steps: usize,
        /// Input features.
        input: usize,
        /// Hidden size.
        hidden: usize,
        /// Both directions.
        bidirectional: bool,
    },
    /// The last step of a sequence (`x[:, -1]`): `[S, F]` in, `[F]` out.
    LastStep,
    /// An elementwise activation or softmax over a flat vector.
    Act(Act),
    /// `AdaptiveAvgPool{1,2}d(1)`.
    GlobalAvgPool,
    /// `AvgPool` / `MaxPool`.
    Pool {
        /// Max (else average).
        max: bool,
        /// Kernel per axis.
        kernel: Vec<usize>,
        /// Stride per axis.
        stride: Vec<usize>,
        /// Padding per axis.
        padding: Vec<usize>,
        /// Dilation per axis (max pool).
        dilation: Vec<usize>,
        /// `ceil_mode`.
        ceil: bool,
        /// `count_include_pad` (average pool).
        count_include_pad: bool,
    },
    /// A flattening to one vector.
    Flatten,
    /// `SqueezeExcitation(C, S)` with its activation and gate.
    SqueezeExcitation {
        /// Squeeze channels.
        squeeze: usize,
        /// The activation between the two 1x1 convolutions.
        act: Act,
        /// The gate.
        gate: Act,
    },
}

/// A recurrent cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cell {
    /// Elman RNN with tanh.
    Rnn,
    /// Elman RNN with ReLU.
    RnnRelu,
    /// GRU (`linear_before_reset = 1`, PyTorch's).
    Gru,
    /// LSTM.
    Lstm,
}

/// An activation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Act {
    /// `ReLU`.
    Relu,
    /// `ReLU6` (`Clip(0, 6)`).
    Relu6,
    /// `LeakyReLU(NUM / DEN)`.
    LeakyRelu(u32, u32),
    /// Sigmoid.
    Sigmoid,
    /// Tanh.
    Tanh,
    /// `Hardsigmoid` (`alpha = 1/6`), or Paddle's (`alpha = 0.2`) if `true`.
    Hardsigmoid(bool),
    /// `Hardswish`.
    Hardswish,
    /// `GELU` (erf form).
    Gelu,
    /// Softmax over a flat vector.
    Softmax,
}

/// Maps `graph` to a [`Net`], or every node it cannot take.
///
/// # Errors
/// The refusals, each naming the node, its operator and the reason.
pub fn map(graph: &Graph, options: &Options) -> Result<Net, Vec<Refusal>> {
    let mut m = Mapper {
        g: graph,
        consumers: HashMap::new(),
        shapes: HashMap::new(),
        refusals: Vec::new(),
        visited: vec![false; graph.nodes.len()],
        unexamined: 0,
        batch_axis: HashMap::new(),
    };
    for (i, n) in graph.nodes.iter().enumerate() {
        for input in &n.inputs {
            if !input.is_empty() && !graph.constants.contains_key(input) {
                let list = m.consumers.entry(input.as_str()).or_default();
                if !list.contains(&i) {
                    list.push(i);
                }
            }
        }
    }
    let graph_level = |why: String| Refusal {
        node: "(graph)".into(),
        op: String::new(),
        reason: why,
    };
    let [input] = graph.inputs.as_slice() else {
        let names: Vec<&str> = graph.inputs.iter().map(|i| i.name.as_str()).collect();
        return Err(vec![graph_level(format!(
            "the importer maps models with one data input; this one has {}: {names:?} (a scalar input such as a sample rate can be fixed with --input NAME=VALUE; a model that carries a state between calls is a streaming step to write by hand, as constnorm::models::silero_vad is)",
            names.len()
        ))]);
    };
    let [output] = graph.outputs.as_slice() else {
        return Err(vec![graph_level(format!(
            "the importer maps models with one output; this one has {}: {:?}",
            graph.outputs.len(),
            graph.outputs
        ))]);
    };
    let shape = match options.shape_of(&input.name) {
        Some(shape) => shape.to_vec(),
        None => match input_shape(input) {
            Ok(shape) => shape,
            Err(why) => return Err(vec![graph_level(why)]),
        },
    };
    // Sizes far past any model's keep the shape arithmetic from
    // overflowing.
    let values = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
    if shape.iter().any(|&d| d == 0 || d > MAX_EXTENT) || values.is_none_or(|v| v > 1 << 31) {
        return Err(vec![graph_level(format!(
            "input `{}` of shape {shape:?} per example: every dimension from 1 to 2^20, at most 2^31 values",
            input.name
        ))]);
    }
    m.shapes.insert(input.name.clone(), shape.clone());
    let items = m.chain(&input.name, None, &[output.as_str()]).0;
    for (i, node) in graph.nodes.iter().enumerate() {
        if !m.visited[i] {
            m.refusals.push(Refusal::new(
                node,
                "not on the path from the input to the output (a second output, or a branch that is neither a residual nor a gate)",
            ));
        }
    }
    if !m.refusals.is_empty() {
        if m.unexamined > 0 {
            m.refusals.push(graph_level(format!(
                "{} node(s) after the refused ones were not examined",
                m.unexamined
            )));
        }
        return Err(m.refusals);
    }
    if count_layers(&items) == 0 {
        return Err(vec![graph_level(
            "the model maps to no layer at all (only identities and inference-time dropouts): nothing to write".into(),
        )]);
    }
    let out_shape = m.shapes.get(output.as_str()).cloned().unwrap_or_default();
    Ok(Net {
        input_name: input.name.clone(),
        output_name: output.clone(),
        input: shape,
        output: out_shape,
        items,
    })
}

/// One example's shape from the graph input: every dimension after the
/// first (the batch) must be fixed.
fn input_shape(input: &crate::graph::Input) -> Result<Vec<usize>, String> {
    use crate::graph::Dim;
    if input.dims.len() < 2 {
        return Err(format!(
            "input `{}` has rank {}: a batch dimension and at least one more are expected (give its shape with --input {}=DIMS)",
            input.name,
            input.dims.len(),
            input.name
        ));
    }
    input.dims[1..]
        .iter()
        .map(|d| match d {
            Dim::Fixed(v) => Ok(*v),
            Dim::Named(n) => Err(format!(
                "input `{}` has a dimension `{n}` the file leaves open: fix it with --input {}=DIMS (one example's dimensions, without the batch, as 3x48x192)",
                input.name, input.name
            )),
        })
        .collect()
}

struct Mapper<'g> {
    g: &'g Graph,
    consumers: HashMap<&'g str, Vec<usize>>,
    shapes: HashMap<String, Vec<usize>>,
    refusals: Vec<Refusal>,
    visited: Vec<bool>,
    /// Nodes after a refused one, not examined.
    unexamined: usize,
    /// The axis of the full ONNX tensor the batch is on, for values where
    /// it is not 0 (a time-first sequence `[S, B, F]`).
    batch_axis: HashMap<String, usize>,
}

/// What a node (or a short pattern of nodes) maps to (one per step of the
/// walk, moved at once: its size does not matter).
#[allow(clippy::large_enum_variant)]
enum Step {
    /// A layer; the walk continues at `out`.
    Layer(Layer, String),
    /// No layer (`Identity`, `Dropout` in inference, a reshape to the same
    /// shape); the walk continues at the output.
    Skip(String),
    /// Layers in a row (a recurrent layer and the last step of it).
    Layers(Vec<Layer>, String),
    /// No layer, but the value is seen another way: its per-example shape
    /// and the axis its batch is on (a transpose of a sequence between
    /// batch-first and time-first).
    Relayout(String, Vec<usize>, usize),
}

impl<'g> Mapper<'g> {
    fn data_consumers(&self, value: &str) -> Vec<usize> {
        self.consumers.get(value).cloned().unwrap_or_default()
    }

    fn data_inputs(&self, node: &Node) -> Vec<String> {
        node.inputs
            .iter()
            .filter(|i| !i.is_empty() && !self.g.constants.contains_key(*i))
            .cloned()
            .collect()
    }

    fn constant(&self, node: &Node, i: usize) -> Option<&'g Tensor> {
        node.inputs
            .get(i)
            .filter(|n| !n.is_empty())
            .and_then(|n| self.g.constants.get(n))
    }

    /// Walks from `value` until one of `ends`, starting with node `first`
    /// if given; returns the items and the end reached.
    fn chain(&mut self, value: &str, first: Option<usize>, ends: &[&str]) -> (Vec<Item>, String) {
        let mut items = Vec::new();
        let mut v = value.to_string();
        let mut first = first;
        while first.is_some() || !ends.contains(&v.as_str()) {
            let consumers = match first.take() {
                Some(c) => vec![c],
                None => self.data_consumers(&v),
            };
            match consumers.as_slice() {
                [] => break,
                &[n] if !self.shapes.contains_key(&v) => {
                    // After a refused node: not examined (its refusal says
                    // why), counted.
                    self.visited[n] = true;
                    self.unexamined += 1;
                    match self.g.nodes[n].outputs.first() {
                        Some(out) => v.clone_from(out),
                        None => break,
                    }
                }
                &[n] => {
                    let node = &self.g.nodes[n];
                    if is_join(node) && self.data_inputs(node).len() == 2 {
                        // Reached a join from one side only: the other
                        // input comes from elsewhere (a second input).
                        break;
                    }
                    match self.step(n, &v) {
                        Ok(Step::Layer(layer, out)) => {
                            items.push(Item::Layer(layer));
                            v = out;
                        }
                        Ok(Step::Skip(out) | Step::Relayout(out, ..)) => v = out,
                        Ok(Step::Layers(layers, out)) => {
                            items.extend(layers.into_iter().map(Item::Layer));
                            v = out;
                        }
                        Err(why) => {
                            self.refusals.push(Refusal::new(node, &why));
                            self.visited[n] = true;
                            match node.outputs.first() {
                                Some(out) => v.clone_from(out),
                                None => break,
                            }
                        }
                    }
                }
                _ => match self.fork(&v, &consumers) {
                    Some((item, out)) => {
                        if let Some(item) = item {
                            items.push(item);
                        }
                        v = out;
                    }
                    None => break,
                },
            }
        }
        (items, v)
    }

    /// A fork at `v`: finds where its branches join, walks each branch and
    /// makes the join a residual block or a gate.
    fn fork(&mut self, v: &str, consumers: &[usize]) -> Option<(Option<Item>, String)> {
        let pattern = self
            .group_norm_pattern(v, consumers)
            .or_else(|| self.layer_norm_pattern(v, consumers));
        if let Some((nodes, layer, out)) = pattern {
            for &n in &nodes {
                self.visited[n] = true;
            }
            self.shapes.insert(out.clone(), layer.output.clone());
            return Some((Some(Item::Layer(layer)), out));
        }
        if let Some((nodes, out)) = self.hardswish_pattern(consumers) {
            let shape = self.shapes.get(v).cloned()?;
            for &n in &nodes {
                self.visited[n] = true;
            }
            self.shapes.insert(out.clone(), shape.clone());
            let layer = Layer {
                field: String::new(),
                nodes: nodes
                    .iter()
                    .map(|&n| self.g.nodes[n].name.clone())
                    .collect(),
                kind: Kind::Act(Act::Hardswish),
                input: shape.clone(),
                output: shape,
                params: Vec::new(),
            };
            return Some((Some(Item::Layer(layer)), out));
        }
        let Some(j) = self.post_dominator(v) else {
            for &c in consumers {
                let node = &self.g.nodes[c];
                self.refusals.push(Refusal::new(
                    node,
                    &format!("reads `{v}`, whose branches never join again"),
                ));
            }
            return None;
        };
        let join = &self.g.nodes[j];
        self.visited[j] = true;
        let out = join.outputs.first().cloned().unwrap_or_default();
        let inputs = self.data_inputs(join);
        let ends: Vec<&str> = inputs.iter().map(String::as_str).collect();
        let mut branches: Vec<(Vec<Item>, String)> = Vec::new();
        for &c in consumers.iter().filter(|&&c| c != j) {
            branches.push(self.chain(v, Some(c), &ends));
        }
        if consumers.contains(&j) {
            branches.push((Vec::new(), v.to_string()));
        }
        let shape = self.shapes.get(v).cloned();
        if join.op == "Add" && inputs.len() == 2 && branches.len() == 2 {
            branches.sort_by_key(|(items, _)| usize::MAX - count(items));
            let (body, _) = branches.remove(0);
            let (short, _) = branches.remove(0);
            let body_out = last_output(&body).or_else(|| shape.clone());
            let short_out = last_output(&short).or(shape);
            let shortcut = match short.len() {
                0 => None,
                // One layer is the shortcut field itself; a residual block
                // as the shortcut is nested in a chain of its own.
                1 if matches!(short[0], Item::Layer(_)) => short.into_iter().next().map(Box::new),
                _ => Some(Box::new(Item::Chain(Chain {
                    field: String::new(),
                    items: short,
                }))),
            };
            if body_out != short_out {
                self.refusals.push(Refusal::new(
                    join,
                    &format!("adds shapes {body_out:?} and {short_out:?}"),
                ));
                return Some((None, out));
            }
            if let Some(s) = body_out {
                self.shapes.insert(out.clone(), s);
            }
            return Some((
                Some(Item::Residual(Block {
                    field: String::new(),
                    items: body,
                    shortcut,
                    node: join.name.clone(),
                })),
                out,
            ));
        }
        if join.op == "Mul" && inputs.len() == 2 && branches.len() == 2 {
            branches.sort_by_key(|(items, _)| usize::MAX - count(items));
            let (gate, _) = branches.remove(0);
            let identity = branches.remove(0).0.is_empty();
            if identity && let Some(layer) = self.squeeze_excitation(&gate, join, shape.as_deref())
            {
                if let Some(s) = shape {
                    self.shapes.insert(out.clone(), s);
                }
                return Some((Some(Item::Layer(layer)), out));
            }
        }
        self.refusals.push(Refusal::new(
            join,
            "joins branches that are neither a residual (x + body(x)) nor a squeeze-and-excitation gate (x * gate(x))",
        ));
        Some((None, out))
    }

    /// `x * Clip(x + 3, 0, 6) / 6` (a hard swish written out, as Paddle
    /// exports it) at the fork of `v`: its nodes and output.
    fn hardswish_pattern(&self, consumers: &[usize]) -> Option<(Vec<usize>, String)> {
        let [a, b] = consumers else { return None };
        let (add, mul) = if self.g.nodes[*a].op == "Add" {
            (*a, *b)
        } else {
            (*b, *a)
        };
        let node = |i: usize| &self.g.nodes[i];
        let scalar = |n: &Node| {
            self.data_inputs(n).len() == 1
                && n.inputs
                    .iter()
                    .filter_map(|i| self.g.constants.get(i))
                    .find_map(Tensor::scalar)
                    .is_some()
        };
        let value_of = |n: &Node| {
            n.inputs
                .iter()
                .filter_map(|i| self.g.constants.get(i))
                .find_map(Tensor::scalar)
        };
        if node(add).op != "Add"
            || !scalar(node(add))
            || value_of(node(add)) != Some(3.0)
            || node(mul).op != "Mul"
        {
            return None;
        }
        let &[clip] = self.data_consumers(&node(add).outputs[0]).as_slice() else {
            return None;
        };
        let c = node(clip);
        let lo = self
            .constant(c, 1)
            .and_then(Tensor::scalar)
            .or_else(|| c.attrs.contains_key("min").then(|| c.float("min", 0.0)));
        let hi = self
            .constant(c, 2)
            .and_then(Tensor::scalar)
            .or_else(|| c.attrs.contains_key("max").then(|| c.float("max", 0.0)));
        if c.op != "Clip"
            || lo != Some(0.0)
            || hi != Some(6.0)
            || self.data_consumers(&c.outputs[0]) != [mul]
        {
            return None;
        }
        let &[div] = self.data_consumers(&node(mul).outputs[0]).as_slice() else {
            return None;
        };
        let d = node(div);
        let sixth = match d.op.as_str() {
            // x / 6, not 6 / x.
            "Div" => d.inputs.first() == node(mul).outputs.first() && value_of(d) == Some(6.0),
            "Mul" => value_of(d).is_some_and(|k| (k - 1.0 / 6.0).abs() < 1e-7),
            _ => false,
        };
        (sixth && scalar(d)).then(|| (vec![add, clip, mul, div], d.outputs[0].clone()))
    }

    /// The first node every path from `v` to the output goes through.
    fn post_dominator(&self, v: &str) -> Option<usize> {
        let reach_all = |skip: Option<usize>| -> bool {
            // Whether the graph output is reachable from v without `skip`.
            let mut stack = vec![v.to_string()];
            let mut seen = std::collections::HashSet::new();
            while let Some(x) = stack.pop() {
                if self.g.outputs.contains(&x) {
                    return true;
                }
                for &c in self
                    .consumers
                    .get(x.as_str())
                    .map_or(&[][..], Vec::as_slice)
                {
                    if Some(c) != skip && seen.insert(c) {
                        stack.extend(self.g.nodes[c].outputs.iter().cloned());
                    }
                }
            }
            false
        };
        let start = self
            .consumers
            .get(v)
            .and_then(|c| c.iter().min().copied())?;
        (start..self.g.nodes.len()).find(|&j| is_join(&self.g.nodes[j]) && !reach_all(Some(j)))
    }

    fn squeeze_excitation(
        &mut self,
        gate: &[Item],
        join: &Node,
        shape: Option<&[usize]>,
    ) -> Option<Layer> {
        let [
            Item::Layer(pool),
            Item::Layer(fc1),
            Item::Layer(act),
            Item::Layer(fc2),
            Item::Layer(g),
        ] = gate
        else {
            return None;
        };
        let shape = shape?;
        let pointwise = |l: &Layer| {
            matches!(&l.kind, Kind::Conv { kernel, stride, padding, dilation, groups: 1, bias: true, .. }
                if kernel.len() == 2 && kernel.iter().chain(stride).chain(dilation).all(|&k| k == 1)
                    && padding.iter().all(|&p| p == 0))
        };
        let (Kind::Act(a), Kind::Act(gt)) = (&act.kind, &g.kind) else {
            return None;
        };
        if pool.kind != Kind::GlobalAvgPool
            || !pointwise(fc1)
            || !pointwise(fc2)
            || shape.len() != 3
            || fc2.output.first() != shape.first()
            || !matches!(gt, Act::Sigmoid | Act::Hardsigmoid(_))
            || matches!(a, Act::Softmax)
        {
            return None;
        }
        let mut params = Vec::new();
        for (prefix, l) in [("fc1", fc1), ("fc2", fc2)] {
            for p in &l.params {
                params.push(Param {
                    key: format!("{prefix}.{}", p.key),
                    tensor: p.tensor.clone(),
                    source: p.source.clone(),
                });
            }
        }
        let mut nodes: Vec<String> = gate
            .iter()
            .flat_map(|i| match i {
                Item::Layer(l) => l.nodes.clone(),
                Item::Residual(_) | Item::Chain(_) => Vec::new(),
            })
            .collect();
        nodes.push(join.name.clone());
        Some(Layer {
            field: String::new(),
            nodes,
            kind: Kind::SqueezeExcitation {
                squeeze: fc1.output[0],
                act: *a,
                gate: *gt,
            },
            input: shape.to_vec(),
            output: shape.to_vec(),
            params,
        })
    }

    /// Maps node `n`, which reads the data value `v` (and perhaps the next
    /// node, for `MatMul` + `Add`).
    fn step(&mut self, n: usize, v: &str) -> Result<Step, String> {
        self.visited[n] = true;
        let node = &self.g.nodes[n];
        let Some(input) = self.shapes.get(v).cloned() else {
            return Err(format!(
                "its input `{v}` has no known shape (an earlier node was refused)"
            ));
        };
        let out = node.outputs.first().cloned().ok_or("it has no output")?;
        let data = self.data_inputs(node);
        if data.len() != 1 {
            return Err(format!(
                "reads {} data inputs ({data:?}) where one is mapped",
                data.len()
            ));
        }
        if node.inputs.first().map(String::as_str) != Some(v)
            && !matches!(node.op.as_str(), "Add" | "Mul")
        {
            return Err(format!("reads `{v}` as other than its first input"));
        }
        let batch = self.batch_axis.get(v).copied().unwrap_or(0);
        if batch != 0
            && !matches!(
                node.op.as_str(),
                "Transpose" | "Gather" | "RNN" | "GRU" | "LSTM"
            )
        {
            return Err(format!(
                "reads `{v}`, whose batch is on axis {batch} (a time-first sequence): only a transpose back to batch first, the last step or a recurrent node is mapped on it"
            ));
        }
        let layer =
            |kind: Kind, output: Vec<usize>, params: Vec<Param>, nodes: Vec<String>| Layer {
                field: String::new(),
                nodes,
                kind,
                input: input.clone(),
                output,
                params,
            };
        let one = vec![node.name.clone()];
        let act = |a: Act| {
            Ok::<Step, String>(Step::Layer(
                layer(Kind::Act(a), input.clone(), Vec::new(), one.clone()),
                out.clone(),
            ))
        };
        let step = match node.op.as_str() {
            "Dropout"
                if self
                    .constant(node, 2)
                    .and_then(Tensor::scalar)
                    .is_some_and(|t| t != 0.0) =>
            {
                return Err("dropout in training mode (training_mode = true): export the model in eval mode".into());
            }
            "Identity" | "Dropout" => {
                if node
                    .outputs
                    .iter()
                    .skip(1)
                    .any(|o| !o.is_empty() && self.consumers.contains_key(o.as_str()))
                {
                    return Err("its mask output is read".into());
                }
                Step::Skip(out.clone())
            }
            "Relu" => act(Act::Relu)?,
            "Sigmoid" => act(Act::Sigmoid)?,
            "Tanh" => act(Act::Tanh)?,
            "HardSwish" => act(Act::Hardswish)?,
            "Gelu" if node.string("approximate", "none") == "none" => act(Act::Gelu)?,
            "HardSigmoid" => {
                let (a, b) = (node.float("alpha", 0.2), node.float("beta", 0.5));
                if (b - 0.5).abs() > 1e-7 {
                    return Err(format!("hard sigmoid with beta {b}: beta 0.5 is mapped"));
                }
                if (a - 1.0 / 6.0).abs() < 1e-7 {
                    act(Act::Hardsigmoid(false))?
                } else if (a - 0.2).abs() < 1e-7 {
                    act(Act::Hardsigmoid(true))?
                } else {
                    return Err(format!(
                        "hard sigmoid with alpha {a}: 1/6 (PyTorch's) and 0.2 (Paddle's) are mapped"
                    ));
                }
            }
            "LeakyRelu" => {
                let a = node.float("alpha", 0.01);
                let ratio = [100u32, 1000, 10_000, 100_000, 1_000_000]
                    .into_iter()
                    .find_map(|den| {
                        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                        let num = (f64::from(a) * f64::from(den)).round() as u32;
                        #[allow(clippy::cast_possible_truncation)]
                        let same = (f64::from(num) / f64::from(den)) as f32 == a;
                        (a > 0.0 && same).then_some((num, den))
                    });
                match ratio {
                    Some((num, den)) => act(Act::LeakyRelu(num, den))?,
                    None => {
                        return Err(format!(
                            "leaky ReLU with slope {a}: a slope of a ratio NUM / DEN (DEN a power of ten up to 10^6) is mapped"
                        ));
                    }
                }
            }
            "Clip" => {
                let bound = |attr: &str, i: usize| -> Option<f32> {
                    self.constant(node, i)
                        .and_then(Tensor::scalar)
                        .or_else(|| node.attrs.contains_key(attr).then(|| node.float(attr, 0.0)))
                };
                match (bound("min", 1), bound("max", 2)) {
                    (Some(lo), Some(hi)) if lo == 0.0 && hi == 6.0 => act(Act::Relu6)?,
                    (Some(0.0), None) => act(Act::Relu)?,
                    (Some(lo), Some(hi)) if lo == 0.0 && hi == f32::INFINITY => act(Act::Relu)?,
                    (lo, hi) => {
                        return Err(format!(
                            "a clamp to [{lo:?}, {hi:?}]: Clip(0, 6) (ReLU6) and Clip(0) (ReLU) are mapped"
                        ));
                    }
                }
            }
            "Softmax" => {
                let default = if self.g.opset < 13 { 1 } else { -1 };
                let a = axis(node.int("axis", default), input.len() + 1);
                if input.len() != 1 || a != Some(1) {
                    return Err(format!(
                        "softmax over axis {} of a {}-dimensional example: softmax over a flat vector is mapped",
                        node.int("axis", default),
                        input.len()
                    ));
                }
                act(Act::Softmax)?
            }
            "Flatten" => {
                if axis(node.int("axis", 1), input.len() + 1) != Some(1) {
                    return Err(format!(
                        "flattens from axis {}: axis 1 (keep the batch) is mapped",
                        node.int("axis", 1)
                    ));
                }
                self.flatten(&input, &out, one)
            }
            "Reshape" => {
                let shape = self
                    .constant(node, 1)
                    .and_then(Tensor::ints)
                    .ok_or("its shape is not a constant")?;
                let flat = input.iter().product::<usize>();
                let to_flat = shape.len() == 2
                    // 0 keeps the batch, -1 infers it; a literal 1 would
                    // fold the batch into one row.
                    && matches!(shape[0], -1 | 0)
                    && (shape[1] == -1 || usize::try_from(shape[1]).ok() == Some(flat));
                if !to_flat {
                    return Err(format!(
                        "reshapes {input:?} to {shape:?}: only a reshape to one flat vector per example is mapped"
                    ));
                }
                self.flatten(&input, &out, one)
            }
            "GlobalAveragePool" => {
                if !(2..=3).contains(&input.len()) {
                    return Err(format!(
                        "global average pool of a {}-dimensional example",
                        input.len()
                    ));
                }
                let mut output = vec![1; input.len()];
                output[0] = input[0];
                Step::Layer(
                    layer(Kind::GlobalAvgPool, output, Vec::new(), one),
                    out.clone(),
                )
            }
            "AveragePool" | "MaxPool" => self.pool(node, &input, &out)?,
            "Conv" => self.conv(node, &input, &out)?,
            "Pad" => self.pad(node, &input, &out)?,
            "BatchNormalization" => self.batch_norm(node, &input, &out)?,
            "LayerNormalization" => self.layer_norm(node, &input, &out)?,
            "InstanceNormalization" => {
                let (params, eps) = self.channel_affine(node, &input, 1, 2)?;
                if input.len() < 2 {
                    return Err("instance norm of an example without spatial axes".into());
                }
                let layer = layer(Kind::InstanceNorm { eps }, input.clone(), params, one);
                Step::Layer(layer, out.clone())
            }
            "GroupNormalization" => {
                let groups = usize::try_from(node.int("num_groups", 0))
                    .ok()
                    .filter(|&g| g > 0)
                    .ok_or("no num_groups")?;
                let c = input[0];
                if c % groups != 0 || input.len() < 2 {
                    return Err(format!("{groups} groups of {c} channels"));
                }
                // Opset 18 gives one scale per group, 21 one per channel.
                let eps = node.float("epsilon", 1e-5);
                let mut params = Vec::new();
                for (i, key) in [(1, "weight"), (2, "bias")] {
                    let t = self
                        .constant(node, i)
                        .ok_or(format!("its {key} is not a constant"))?;
                    let v = t.floats();
                    let per_channel: Vec<f32> = match v.len() {
                        n if n == c => v,
                        n if n == groups => (0..c).map(|k| v[k / (c / groups)]).collect(),
                        n => {
                            return Err(format!(
                                "{key} of {n} values for {c} channels in {groups} groups"
                            ));
                        }
                    };
                    params.push(Param {
                        key: key.into(),
                        tensor: Tensor {
                            dims: vec![c],
                            data: crate::graph::Data::F32(per_channel),
                        },
                        source: self.g.origin_of(&node.inputs[i]).to_string(),
                    });
                }
                Step::Layer(
                    layer(Kind::GroupNorm { groups, eps }, input.clone(), params, one),
                    out.clone(),
                )
            }
            "Gemm" => self.gemm(node, &input, &out)?,
            "Transpose" => self.transpose(node, &input, batch, &out)?,
            "Gather" => self.last_step(node, &input, batch, &out)?,
            "RNN" | "GRU" | "LSTM" => self.recurrent(n, &input, batch)?,
            "MatMul" => self.matmul(n, &input)?,
            op => {
                return Err(format!(
                    "operator {op} is not mapped (see the crate docs for the list)"
                ));
            }
        };
        match &step {
            Step::Layer(layer, out) => {
                self.shapes.insert(out.clone(), layer.output.clone());
            }
            Step::Layers(layers, out) => {
                if let Some(last) = layers.last() {
                    self.shapes.insert(out.clone(), last.output.clone());
                }
            }
            Step::Skip(out) => {
                self.shapes.insert(out.clone(), input);
            }
            Step::Relayout(out, shape, batch) => {
                self.shapes.insert(out.clone(), shape.clone());
                self.batch_axis.insert(out.clone(), *batch);
            }
        }
        Ok(step)
    }

    fn flatten(&self, input: &[usize], out: &str, nodes: Vec<String>) -> Step {
        if input.len() == 1 {
            return Step::Skip(out.to_string());
        }
        Step::Layer(
            Layer {
                field: String::new(),
                nodes,
                kind: Kind::Flatten,
                input: input.to_vec(),
                output: vec![input.iter().product()],
                params: Vec::new(),
            },
            out.to_string(),
        )
    }

    /// The spatial pads of a window node (`[begin..., end...]`), from
    /// `pads` or `auto_pad`.
    fn pads(
        node: &Node,
        spatial: &[usize],
        kernel: &[usize],
        stride: &[usize],
        dilation: &[usize],
    ) -> Result<Vec<usize>, String> {
        let rank = spatial.len();
        match node.string("auto_pad", "NOTSET") {
            "NOTSET" => match node.ints("pads") {
                None => Ok(vec![0; 2 * rank]),
                Some(p) if p.len() == 2 * rank => p
                    .iter()
                    .map(|&x| {
                        usize::try_from(x)
                            .ok()
                            .filter(|&x| x <= MAX_EXTENT)
                            .ok_or_else(|| format!("pad {x}"))
                    })
                    .collect(),
                Some(p) => Err(format!("pads {p:?} for {rank} spatial axes")),
            },
            "VALID" => Ok(vec![0; 2 * rank]),
            mode @ ("SAME_UPPER" | "SAME_LOWER") => {
                let mut pads = vec![0; 2 * rank];
                for a in 0..rank {
                    let out = spatial[a].div_ceil(stride[a]);
                    let need = ((out - 1) * stride[a] + (kernel[a] - 1) * dilation[a] + 1)
                        .saturating_sub(spatial[a]);
                    let small = need / 2;
                    let (begin, end) = if mode == "SAME_UPPER" {
                        (small, need - small)
                    } else {
                        (need - small, small)
                    };
                    pads[a] = begin;
                    pads[a + rank] = end;
                }
                Ok(pads)
            }
            other => Err(format!("auto_pad {other}")),
        }
    }

    fn conv(&mut self, node: &Node, input: &[usize], out: &str) -> Result<Step, String> {
        let w = self
            .constant(node, 1)
            .ok_or("its weight is not a constant")?;
        if !(3..=4).contains(&w.dims.len()) || input.len() + 1 != w.dims.len() {
            return Err(format!(
                "a weight of shape {:?} on an example of shape {input:?}: Conv1d and Conv2d are mapped",
                w.dims
            ));
        }
        let rank = input.len() - 1;
        let groups = usize::try_from(node.int("group", 1)).map_err(|_| "a negative group count")?;
        let (cout, cin_g) = (w.dims[0], w.dims[1]);
        let kernel = w.dims[2..].to_vec();
        if kernel.iter().any(|&k| k == 0 || k > MAX_EXTENT) || cout == 0 {
            return Err(format!("a weight of shape {:?}", w.dims));
        }
        if groups == 0 || cin_g.checked_mul(groups) != Some(input[0]) || cout % groups != 0 {
            return Err(format!(
                "a weight {:?} with {groups} groups on {} channels",
                w.dims, input[0]
            ));
        }
        let stride = axis_ints(node, "strides", rank)?;
        let dilation = axis_ints(node, "dilations", rank)?;
        let spatial = &input[1..];
        let pads = Self::pads(node, spatial, &kernel, &stride, &dilation)?;
        let bias = self.constant(node, 2);
        if node.inputs.get(2).is_some_and(|b| !b.is_empty()) && bias.is_none() {
            return Err("its bias is not a constant".into());
        }
        let (begin, end) = pads.split_at(rank);
        let mut params = vec![Param {
            key: "weight".into(),
            tensor: w.clone(),
            source: self.g.origin_of(&node.inputs[1]).to_string(),
        }];
        if let Some(b) = bias {
            params.push(Param {
                key: "bias".into(),
                tensor: Tensor {
                    dims: vec![cout],
                    data: b.data.clone(),
                },
                source: self.g.origin_of(&node.inputs[2]).to_string(),
            });
        }
        // Asymmetric pads (`auto_pad = SAME_UPPER`, TensorFlow's exports):
        // a zero-padding layer first, then the convolution without padding.
        let pad = (begin != end).then(|| {
            let mut padded = input.to_vec();
            for a in 0..rank {
                padded[1 + a] += begin[a] + end[a];
            }
            Layer {
                field: String::new(),
                nodes: vec![node.name.clone()],
                kind: Kind::Pad {
                    reflect: false,
                    value: 0.0,
                    begin: begin.to_vec(),
                    end: end.to_vec(),
                },
                input: input.to_vec(),
                output: padded,
                params: Vec::new(),
            }
        });
        let (conv_input, begin): (Vec<usize>, Vec<usize>) = match &pad {
            Some(p) => (p.output.clone(), vec![0; rank]),
            None => (input.to_vec(), begin.to_vec()),
        };
        let spatial = &conv_input[1..];
        // A bias added by its own node (Paddle's export): `Add` of one
        // value per output channel, folded into the convolution's bias.
        let mut out = out.to_string();
        let mut nodes = vec![node.name.clone()];
        let mut has_bias = bias.is_some();
        // (`Add` of one value per output channel, `[1, C, 1, 1]`, as the
        // group norm's scale and shift are matched.)
        let add_node = match self.data_consumers(&out).as_slice() {
            &[n] => Some(n),
            _ => None,
        };
        if !has_bias
            && let Some(add) = add_node
            && let Some(((b, origin), _)) = self.per_channel(add, &out, "Add", cout, rank + 1)
        {
            params.push(Param {
                key: "bias".into(),
                tensor: b,
                source: format!("{origin} (added by `{}`)", self.g.nodes[add].name),
            });
            self.visited[add] = true;
            nodes.push(self.g.nodes[add].name.clone());
            out.clone_from(&self.g.nodes[add].outputs[0]);
            has_bias = true;
        }
        let mut output = vec![cout];
        for a in 0..rank {
            let span = dilation[a] * (kernel[a] - 1) + 1;
            let padded = spatial[a] + 2 * begin[a];
            if padded < span {
                return Err(format!(
                    "kernel {kernel:?} larger than the padded input {spatial:?}"
                ));
            }
            output.push((padded - span) / stride[a] + 1);
        }
        let kind = Kind::Conv {
            cin: input[0],
            cout,
            kernel,
            stride,
            padding: begin.clone(),
            dilation,
            groups,
            bias: has_bias,
        };
        let conv = Layer {
            field: String::new(),
            nodes,
            kind,
            input: conv_input,
            output,
            params,
        };
        Ok(match pad {
            Some(pad) => Step::Layers(vec![pad, conv], out),
            None => Step::Layer(conv, out),
        })
    }

    fn pad(&mut self, node: &Node, input: &[usize], out: &str) -> Result<Step, String> {
        let mode = node.string("mode", "constant");
        let reflect = match mode {
            "constant" => false,
            "reflect" => true,
            other => return Err(format!("pad mode {other}: constant and reflect are mapped")),
        };
        let pads: Vec<i64> = match self.constant(node, 1) {
            Some(t) => t.ints().ok_or("its pads are not integers")?.to_vec(),
            None => node
                .ints("pads")
                .ok_or("its pads are not a constant")?
                .to_vec(),
        };
        if node.inputs.get(3).is_some_and(|a| !a.is_empty()) {
            return Err("an axes input".into());
        }
        let value = self
            .constant(node, 2)
            .and_then(Tensor::scalar)
            .unwrap_or_else(|| node.float("value", 0.0));
        if !reflect && value != 0.0 {
            return Err(format!(
                "a constant pad of {value}: padding with zeros is mapped"
            ));
        }
        let rank = input.len() + 1;
        if pads.len() != 2 * rank {
            return Err(format!("pads {pads:?} for rank {rank}"));
        }
        // Batch and channel axes unpadded.
        if pads[0] != 0 || pads[1] != 0 || pads[rank] != 0 || pads[rank + 1] != 0 {
            return Err(format!("pads {pads:?} on the batch or channel axis"));
        }
        let spatial = rank - 2;
        if !(1..=2).contains(&spatial) {
            return Err(format!("padding of a {}-dimensional example", input.len()));
        }
        let to_usize = |v: &[i64]| -> Result<Vec<usize>, String> {
            v.iter()
                .map(|&x| match usize::try_from(x) {
                    Ok(x) if x <= MAX_EXTENT => Ok(x),
                    Ok(_) => Err(format!("pad {x}")),
                    Err(_) => Err(format!("negative pad {x} (a crop)")),
                })
                .collect()
        };
        let begin = to_usize(&pads[2..rank])?;
        let end = to_usize(&pads[rank + 2..])?;
        let mut output = input.to_vec();
        for a in 0..spatial {
            if reflect && (begin[a] >= input[1 + a] || end[a] >= input[1 + a]) {
                return Err(format!(
                    "reflection pads {pads:?} as wide as the input {input:?}"
                ));
            }
            output[1 + a] += begin[a] + end[a];
        }
        Ok(Step::Layer(
            Layer {
                field: String::new(),
                nodes: vec![node.name.clone()],
                kind: Kind::Pad {
                    reflect,
                    value,
                    begin,
                    end,
                },
                input: input.to_vec(),
                output,
                params: Vec::new(),
            },
            out.to_string(),
        ))
    }

    fn pool(&mut self, node: &Node, input: &[usize], out: &str) -> Result<Step, String> {
        let max = node.op == "MaxPool";
        if self.reads_extra_outputs(node) {
            return Err("its indices output is read".into());
        }
        let kernel: Vec<usize> = node
            .ints("kernel_shape")
            .ok_or("no kernel_shape")?
            .iter()
            .map(|&k| usize::try_from(k).map_err(|_| format!("kernel {k}")))
            .collect::<Result<_, _>>()?;
        let rank = kernel.len();
        if rank + 1 != input.len() || !(1..=2).contains(&rank) {
            return Err(format!(
                "a {rank}-dimensional window on an example of shape {input:?}"
            ));
        }
        if kernel.iter().any(|&k| k == 0 || k > MAX_EXTENT) {
            return Err(format!("kernel_shape {kernel:?}"));
        }
        let stride = axis_ints(node, "strides", rank)?;
        let dilation = axis_ints(node, "dilations", rank)?;
        if !max && dilation.iter().any(|&d| d != 1) {
            return Err(format!(
                "an average pool with dilations {dilation:?} (PyTorch's has none)"
            ));
        }
        let pads = Self::pads(node, &input[1..], &kernel, &stride, &dilation)?;
        let (begin, end) = pads.split_at(rank);
        if begin != end {
            return Err(format!("asymmetric pads {pads:?}"));
        }
        let ceil = node.int("ceil_mode", 0) != 0;
        let count_include_pad = node.int("count_include_pad", 0) != 0;
        let mut output = vec![input[0]];
        for a in 0..rank {
            let span = dilation[a] * (kernel[a] - 1) + 1;
            let padded = input[1 + a] + 2 * begin[a];
            if padded < span || 2 * begin[a] > kernel[a] {
                return Err(format!(
                    "window {kernel:?} with pads {pads:?} on {input:?}: PyTorch's pools take pads of at most half the window"
                ));
            }
            let steps = if ceil {
                (padded - span).div_ceil(stride[a])
            } else {
                (padded - span) / stride[a]
            };
            // PyTorch: the last window must start inside the input or the
            // left padding.
            let steps = if ceil && steps * stride[a] >= input[1 + a] + begin[a] {
                steps - 1
            } else {
                steps
            };
            output.push(steps + 1);
        }
        Ok(Step::Layer(
            Layer {
                field: String::new(),
                nodes: vec![node.name.clone()],
                kind: Kind::Pool {
                    max,
                    kernel,
                    stride,
                    padding: begin.to_vec(),
                    dilation,
                    ceil,
                    count_include_pad,
                },
                input: input.to_vec(),
                output,
                params: Vec::new(),
            },
            out.to_string(),
        ))
    }

    /// The per-channel scale (input `scale`) and bias (`bias`) of a
    /// normalization node as `weight` and `bias`, and its `epsilon`.
    fn channel_affine(
        &self,
        node: &Node,
        input: &[usize],
        scale: usize,
        bias: usize,
    ) -> Result<(Vec<Param>, f32), String> {
        let c = input[0];
        let mut params = Vec::new();
        for (i, key) in [(scale, "weight"), (bias, "bias")] {
            let t = self
                .constant(node, i)
                .ok_or(format!("its {key} is not a constant"))?;
            if t.len() != c {
                return Err(format!("{key} of {} values for {c} channels", t.len()));
            }
            params.push(Param {
                key: key.into(),
                tensor: Tensor {
                    dims: vec![c],
                    data: crate::graph::Data::F32(t.floats()),
                },
                source: self.g.origin_of(&node.inputs[i]).to_string(),
            });
        }
        Ok((params, node.float("epsilon", 1e-5)))
    }

    fn layer_norm(&mut self, node: &Node, input: &[usize], out: &str) -> Result<Step, String> {
        let rank = input.len() + 1;
        let a = axis(node.int("axis", -1), rank).ok_or("its axis is out of range")?;
        if a != 1 {
            return Err(format!(
                "layer norm over the last {} of {} axes of the example: over the whole example is mapped",
                rank - a,
                input.len()
            ));
        }
        if input.len() > 4 {
            return Err(format!(
                "layer norm over {} axes (up to 4 are mapped)",
                input.len()
            ));
        }
        let n: usize = input.iter().product();
        let mut params = Vec::new();
        for (i, key) in [(1, "weight"), (2, "bias")] {
            let Some(t) = self.constant(node, i) else {
                if i == 2 && node.inputs.get(2).is_none_or(String::is_empty) {
                    continue;
                }
                return Err(format!("its {key} is not a constant"));
            };
            if t.len() != n {
                return Err(format!("{key} of {} values for {n}", t.len()));
            }
            params.push(Param {
                key: key.into(),
                tensor: Tensor {
                    dims: input.to_vec(),
                    data: crate::graph::Data::F32(t.floats()),
                },
                source: self.g.origin_of(&node.inputs[i]).to_string(),
            });
        }
        let bias = params.len() == 2;
        Ok(Step::Layer(
            Layer {
                field: String::new(),
                nodes: vec![node.name.clone()],
                kind: Kind::LayerNorm {
                    eps: node.float("epsilon", 1e-5),
                    bias,
                },
                input: input.to_vec(),
                output: input.to_vec(),
                params,
            },
            out.to_string(),
        ))
    }

    /// A layer norm written out over the last axis (PyTorch's export
    /// before opset 17): `m = ReduceMean(x)`, `d = x - m`,
    /// `v = ReduceMean(d ^ 2)`, `d / Sqrt(v + eps)`, then `* gamma + beta`
    /// (each optional), at the fork of `x`.
    fn layer_norm_pattern(
        &self,
        v: &str,
        consumers: &[usize],
    ) -> Option<(Vec<usize>, Layer, String)> {
        let input = self.shapes.get(v)?;
        let [a, b] = consumers else { return None };
        let node = |i: usize| &self.g.nodes[i];
        let (mean, sub) = if node(*a).op == "ReduceMean" {
            (*a, *b)
        } else {
            (*b, *a)
        };
        let last_axis = |n: &Node| -> bool {
            let axes = self
                .constant(n, 1)
                .and_then(Tensor::ints)
                .map(<[i64]>::to_vec)
                .or_else(|| n.ints("axes").map(<[i64]>::to_vec));
            let rank = input.len() + 1;
            n.op == "ReduceMean"
                && n.int("keepdims", 1) == 1
                && axes.is_some_and(|ax| ax.len() == 1 && axis(ax[0], rank) == Some(rank - 1))
        };
        let single = |value: &str| -> Option<usize> {
            match self.data_consumers(value).as_slice() {
                &[n] => Some(n),
                _ => None,
            }
        };
        let scalar_of = |n: &Node| {
            n.inputs
                .iter()
                .filter_map(|i| self.g.constants.get(i))
                .find_map(Tensor::scalar)
        };
        let sub_node = node(sub);
        if !last_axis(node(mean))
            || sub_node.op != "Sub"
            || sub_node.inputs.first().map(String::as_str) != Some(v)
            || sub_node.inputs.get(1) != node(mean).outputs.first()
            || self.data_consumers(&node(mean).outputs[0]) != [sub]
        {
            return None;
        }
        let d = &sub_node.outputs[0];
        let [p, q] = self.data_consumers(d)[..] else {
            return None;
        };
        let (pow, div) = if node(p).op == "Pow" { (p, q) } else { (q, p) };
        if node(pow).op != "Pow"
            || scalar_of(node(pow)) != Some(2.0)
            || node(pow).inputs.first() != Some(d)
            || node(div).op != "Div"
            || node(div).inputs.first() != Some(d)
        {
            return None;
        }
        let var = single(&node(pow).outputs[0])?;
        let add = single(&node(var).outputs[0])?;
        let sqrt = single(&node(add).outputs[0])?;
        if !last_axis(node(var))
            || node(add).op != "Add"
            || node(sqrt).op != "Sqrt"
            || single(&node(sqrt).outputs[0]) != Some(div)
        {
            return None;
        }
        let eps = scalar_of(node(add))?;
        let mut nodes = vec![mean, sub, pow, var, add, sqrt, div];
        let mut out = node(div).outputs[0].clone();
        let n = *input.last()?;
        let mut params = Vec::new();
        for (op, key) in [("Mul", "weight"), ("Add", "bias")] {
            let Some(c) = single(&out) else { break };
            let Some(((t, source), cn)) = self.per_channel_last(c, &out, op, n) else {
                break;
            };
            params.push(Param {
                key: key.into(),
                tensor: Tensor {
                    dims: input.clone(),
                    data: t.data,
                },
                source,
            });
            nodes.push(c);
            out.clone_from(&cn.outputs[0]);
        }
        if input.len() != 1 {
            return None;
        }
        let bias = params.iter().any(|p| p.key == "bias");
        if !params.iter().any(|p| p.key == "weight") {
            // A layer norm without a scale: constnorm's has one; a scale of
            // ones is the same.
            params.insert(
                0,
                Param {
                    key: "weight".into(),
                    tensor: Tensor {
                        dims: input.clone(),
                        data: crate::graph::Data::F32(vec![1.0; n]),
                    },
                    source: "(none in ONNX: ones)".into(),
                },
            );
        }
        let layer = Layer {
            field: String::new(),
            nodes: nodes.iter().map(|&i| node(i).name.clone()).collect(),
            kind: Kind::LayerNorm { eps, bias },
            input: input.clone(),
            output: input.clone(),
            params,
        };
        Some((nodes, layer, out))
    }

    /// Node `n`, an `op` of `value` and a constant of `n` values along the
    /// last axis: that constant with its origin, and the node.
    fn per_channel_last(
        &self,
        n: usize,
        value: &str,
        op: &str,
        len: usize,
    ) -> Option<((Tensor, String), &'g Node)> {
        let node = &self.g.nodes[n];
        if node.op != op || self.data_inputs(node).len() != 1 {
            return None;
        }
        let k = usize::from(node.inputs.first().map(String::as_str) == Some(value));
        let t = self.constant(node, k)?;
        (t.len() == len && t.dims.last() == Some(&len)).then(|| {
            (
                (
                    Tensor {
                        dims: vec![len],
                        data: crate::graph::Data::F32(t.floats()),
                    },
                    self.g.origin_of(&node.inputs[k]).to_string(),
                ),
                node,
            )
        })
    }

    /// PyTorch's opset-17 group norm at the fork of `v`: `Reshape(v, [0,
    /// G, -1])`, `InstanceNormalization` with unit scale and zero bias,
    /// `Reshape(_, Shape(v))`, `Mul` and `Add` of one value per channel.
    fn group_norm_pattern(
        &self,
        v: &str,
        consumers: &[usize],
    ) -> Option<(Vec<usize>, Layer, String)> {
        let input = self.shapes.get(v)?;
        let [a, b] = consumers else { return None };
        let node = |i: usize| &self.g.nodes[i];
        let (reshape, shape) = if node(*a).op == "Reshape" {
            (*a, *b)
        } else {
            (*b, *a)
        };
        if node(reshape).op != "Reshape" || node(shape).op != "Shape" || input.len() < 2 {
            return None;
        }
        let target = self.constant(node(reshape), 1)?.ints()?;
        let groups = usize::try_from(*target.get(1)?).ok().filter(|&g| g > 0)?;
        let c = input[0];
        if target.len() != 3 || target[0] != 0 || target[2] != -1 || c % groups != 0 {
            return None;
        }
        let single = |value: &str| -> Option<usize> {
            match self.data_consumers(value).as_slice() {
                &[n] => Some(n),
                _ => None,
            }
        };
        let inorm = single(&node(reshape).outputs[0])?;
        let n = node(inorm);
        let unit = self.constant(n, 1)?.floats().iter().all(|&x| x == 1.0)
            && self.constant(n, 2)?.floats().iter().all(|&x| x == 0.0);
        if n.op != "InstanceNormalization" || !unit {
            return None;
        }
        let back = single(&n.outputs[0])?;
        if node(back).op != "Reshape"
            || node(back).inputs.get(1) != node(shape).outputs.first()
            || self.data_consumers(&node(shape).outputs[0]) != [back]
        {
            return None;
        }
        let mul = single(&node(back).outputs[0])?;
        let (gamma, mul_node) =
            self.per_channel(mul, &node(back).outputs[0], "Mul", c, input.len())?;
        let add = single(&mul_node.outputs[0])?;
        let (beta, add_node) =
            self.per_channel(add, &mul_node.outputs[0], "Add", c, input.len())?;
        let nodes = vec![reshape, shape, inorm, back, mul, add];
        let layer = Layer {
            field: String::new(),
            nodes: nodes.iter().map(|&i| node(i).name.clone()).collect(),
            kind: Kind::GroupNorm {
                groups,
                eps: n.float("epsilon", 1e-5),
            },
            input: input.clone(),
            output: input.clone(),
            params: vec![
                Param {
                    key: "weight".into(),
                    tensor: gamma.0,
                    source: gamma.1,
                },
                Param {
                    key: "bias".into(),
                    tensor: beta.0,
                    source: beta.1,
                },
            ],
        };
        Some((nodes, layer, add_node.outputs[0].clone()))
    }

    /// Node `n`, an `op` of `value` and a constant of one value per
    /// channel: that constant as `[c]` with its origin, and the node.
    fn per_channel(
        &self,
        n: usize,
        value: &str,
        op: &str,
        c: usize,
        rank: usize,
    ) -> Option<((Tensor, String), &'g Node)> {
        let node = &self.g.nodes[n];
        if node.op != op || self.data_inputs(node).len() != 1 {
            return None;
        }
        let k = usize::from(node.inputs.first().map(String::as_str) == Some(value));
        let t = self.constant(node, k)?;
        // ONNX broadcasts from the right: one value per channel is
        // `[C, 1, ..., 1]` with a 1 for every spatial axis (leading ones,
        // the batch, allowed).
        let mut dims = t.dims.clone();
        while dims.len() > rank && dims[0] == 1 {
            dims.remove(0);
        }
        let ok = t.len() == c
            && dims.len() == rank
            && dims.first() == Some(&c)
            && dims[1..].iter().all(|&d| d == 1);
        ok.then(|| {
            (
                (
                    Tensor {
                        dims: vec![c],
                        data: crate::graph::Data::F32(t.floats()),
                    },
                    self.g.origin_of(&node.inputs[k]).to_string(),
                ),
                node,
            )
        })
    }

    fn batch_norm(&mut self, node: &Node, input: &[usize], out: &str) -> Result<Step, String> {
        if self.reads_extra_outputs(node) || node.int("training_mode", 0) != 0 {
            return Err("batch norm in training mode (export the model in eval mode)".into());
        }
        let c = input[0];
        let mut params = Vec::new();
        for (i, key) in [
            (1, "weight"),
            (2, "bias"),
            (3, "running_mean"),
            (4, "running_var"),
        ] {
            let t = self
                .constant(node, i)
                .ok_or(format!("its {key} is not a constant"))?;
            if t.len() != c {
                return Err(format!("{key} of {} values for {c} channels", t.len()));
            }
            params.push(Param {
                key: key.into(),
                tensor: Tensor {
                    dims: vec![c],
                    data: crate::graph::Data::F32(t.floats()),
                },
                source: node.inputs[i].clone(),
            });
        }
        params.push(Param {
            key: "num_batches_tracked".into(),
            tensor: Tensor {
                dims: vec![],
                data: crate::graph::Data::I64(vec![0]),
            },
            source: "(not in ONNX: 0)".into(),
        });
        let eps = node.float("epsilon", 1e-5);
        let m = f64::from(node.float("momentum", 0.9));
        // ONNX keeps 1 - PyTorch's momentum in f32: round back to the
        // decimal PyTorch was given.
        let momentum = format!("{:.6}", 1.0 - m).parse::<f64>().unwrap_or(0.1);
        Ok(Step::Layer(
            Layer {
                field: String::new(),
                nodes: vec![node.name.clone()],
                kind: Kind::BatchNorm { eps, momentum },
                input: input.to_vec(),
                output: input.to_vec(),
                params,
            },
            out.to_string(),
        ))
    }

    fn linear(
        &self,
        nodes: Vec<String>,
        input: &[usize],
        weight: Tensor,
        w_source: String,
        bias: Option<(Tensor, String)>,
    ) -> Result<Layer, String> {
        let [inp] = input else {
            return Err(format!(
                "a matrix product on an example of shape {input:?}: a flat vector is mapped (flatten first)"
            ));
        };
        let [out, win] = weight.dims[..] else {
            return Err(format!("a weight of shape {:?}", weight.dims));
        };
        if win != *inp {
            return Err(format!("a weight {:?} on {inp} values", weight.dims));
        }
        let bias = match bias {
            // One value per output: [OUT], or [1, ..., 1, OUT] (ONNX
            // broadcasts from the right; [OUT, 1] would be one per example).
            Some((b, source))
                if b.len() == out
                    && b.dims.last() == Some(&out)
                    && b.dims.iter().rev().skip(1).all(|&d| d == 1) =>
            {
                Param {
                    key: "bias".into(),
                    tensor: Tensor {
                        dims: vec![out],
                        data: crate::graph::Data::F32(b.floats()),
                    },
                    source,
                }
            }
            Some((b, _)) => return Err(format!("a bias of shape {:?} for {out} outputs", b.dims)),
            None => Param {
                key: "bias".into(),
                tensor: Tensor {
                    dims: vec![out],
                    data: crate::graph::Data::F32(vec![0.0; out]),
                },
                source: "(none in ONNX: zeros)".into(),
            },
        };
        Ok(Layer {
            field: String::new(),
            nodes,
            kind: Kind::Linear,
            input: input.to_vec(),
            output: vec![out],
            params: vec![
                Param {
                    key: "weight".into(),
                    tensor: weight,
                    source: w_source,
                },
                bias,
            ],
        })
    }

    /// Whether anything reads a node's outputs after the first (a batch
    /// norm's batch statistics, a max pool's indices).
    fn reads_extra_outputs(&self, node: &Node) -> bool {
        node.outputs.iter().skip(1).any(|o| {
            !o.is_empty() && (self.consumers.contains_key(o.as_str()) || self.g.outputs.contains(o))
        })
    }

    /// A `Transpose` that moves only the batch axis (a sequence between
    /// batch first and time first): no layer, the value seen another way.
    fn transpose(
        &self,
        node: &Node,
        input: &[usize],
        batch: usize,
        out: &str,
    ) -> Result<Step, String> {
        let rank = input.len() + 1;
        let perm: Vec<usize> = match node.ints("perm") {
            Some(p) => p
                .iter()
                .map(|&a| axis(a, rank).ok_or(format!("perm {p:?}")))
                .collect::<Result<_, _>>()?,
            None => (0..rank).rev().collect(),
        };
        if perm.len() != rank {
            return Err(format!("perm {perm:?} for rank {rank}"));
        }
        let new_batch = perm
            .iter()
            .position(|&a| a == batch)
            .ok_or(format!("perm {perm:?}"))?;
        let rest: Vec<usize> = perm.iter().copied().filter(|&a| a != batch).collect();
        if rest.windows(2).any(|w| w[0] > w[1]) {
            return Err(format!(
                "a transpose {perm:?} within the example (only moving the batch axis is mapped)"
            ));
        }
        Ok(Step::Relayout(out.to_string(), input.to_vec(), new_batch))
    }

    /// `Gather` of the last step of a sequence (`x[:, -1]`, or `x[-1]` of a
    /// time-first one): [`Kind::LastStep`].
    fn last_step(
        &self,
        node: &Node,
        input: &[usize],
        batch: usize,
        out: &str,
    ) -> Result<Step, String> {
        let rank = input.len() + 1;
        let a = axis(node.int("axis", 0), rank).ok_or("its axis is out of range")?;
        let index = self
            .constant(node, 1)
            .and_then(Tensor::ints)
            .ok_or("its index is not a constant")?;
        // The time axis: right after the batch (batch first), or before it.
        let time = if batch == 0 { 1 } else { 0 };
        let steps = input.first().copied().unwrap_or(0);
        // A scalar index drops the axis; an index of shape [1] keeps it.
        let scalar = self.constant(node, 1).is_some_and(|t| t.dims.is_empty());
        let last = scalar
            && matches!(index, [i] if *i == -1 || usize::try_from(*i).ok() == Some(steps.wrapping_sub(1)));
        if input.len() != 2 || a != time || !last || (batch != 0 && batch != 1) {
            return Err(format!(
                "a gather of {index:?} on axis {a} of a [{}] sequence: only the last step of a sequence is mapped",
                input
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        Ok(Step::Layer(
            Layer {
                field: String::new(),
                nodes: vec![node.name.clone()],
                kind: Kind::LastStep,
                input: input.to_vec(),
                output: vec![input[1]],
                params: Vec::new(),
            },
            out.to_string(),
        ))
    }

    /// An `RNN`, `GRU` or `LSTM` node and how its output is read: `Y`
    /// squeezed (one direction) or its directions joined (`Transpose` +
    /// `Reshape`, PyTorch's export of a bidirectional layer), or the final
    /// state `Y_h` of one direction (then the layer and its last step).
    fn recurrent(&mut self, n: usize, input: &[usize], batch: usize) -> Result<Step, String> {
        let node = &self.g.nodes[n];
        let (cell, gates) = match node.op.as_str() {
            "GRU" => (Cell::Gru, 3),
            "LSTM" => (Cell::Lstm, 4),
            _ => (Cell::Rnn, 1),
        };
        let layout = node.int("layout", 0);
        let [steps, features] = input[..] else {
            return Err(format!(
                "a sequence of shape {input:?}: [steps, features] per example is mapped"
            ));
        };
        match (layout, batch) {
            (0, 1) | (1, 0) => {}
            (0, _) => return Err("a time-first sequence (layout 0) whose batch is not its second axis: the graph input's first axis is the batch".into()),
            _ => return Err(format!("layout {layout} on a value whose batch is on axis {batch}")),
        }
        let hidden = usize::try_from(node.int("hidden_size", 0))
            .ok()
            .filter(|&h| h > 0)
            .ok_or("no hidden_size")?;
        let bidirectional = match node.string("direction", "forward") {
            "forward" => false,
            "bidirectional" => true,
            other => {
                return Err(format!(
                    "direction {other}: forward and bidirectional are mapped (PyTorch has no reverse-only layer)"
                ));
            }
        };
        let d = 1 + usize::from(bidirectional);
        if node.attrs.contains_key("clip") {
            return Err("a cell clip (PyTorch has none)".into());
        }
        if node.int("input_forget", 0) != 0 {
            return Err("input_forget (PyTorch has none)".into());
        }
        let mut cell = cell;
        if let Some(crate::graph::Attr::Str(_)) = node.attrs.get("activations") {
            return Err("activations given as one string".into());
        }
        let activations: Vec<String> = match node.attrs.get("activations") {
            None => Vec::new(),
            Some(_) => self.g_strings(node, "activations"),
        };
        let defaults: &[&str] = match cell {
            Cell::Gru => &["Sigmoid", "Tanh"],
            Cell::Lstm => &["Sigmoid", "Tanh", "Tanh"],
            _ => &["Tanh"],
        };
        if !activations.is_empty() {
            let per = defaults.len();
            let same = |want: &[&str]| {
                activations.len() == per * d
                    && activations
                        .chunks(per)
                        .all(|c| c.iter().zip(want).all(|(a, b)| a.eq_ignore_ascii_case(b)))
            };
            if cell == Cell::Rnn && same(&["Relu"]) {
                cell = Cell::RnnRelu;
            } else if !same(defaults) {
                return Err(format!(
                    "activations {activations:?}: PyTorch's ({defaults:?}, or Relu for an RNN) are mapped"
                ));
            }
        }
        if cell == Cell::Gru && node.int("linear_before_reset", 0) != 1 {
            return Err("a GRU with linear_before_reset = 0 (ONNX's default): PyTorch's GRU is linear_before_reset = 1".into());
        }
        for (i, what) in [(4, "sequence_lens"), (7, "peepholes (P)")] {
            if node.inputs.get(i).is_some_and(|x| !x.is_empty()) {
                return Err(format!("a {what} input"));
            }
        }
        for (i, what) in [(5, "initial_h"), (6, "initial_c")] {
            if let Some(name) = node.inputs.get(i).filter(|x| !x.is_empty()) {
                let zero = self
                    .g
                    .constants
                    .get(name)
                    .is_some_and(|t| t.floats().iter().all(|&v| v == 0.0));
                if !zero {
                    return Err(format!("an {what} that is not constant zeros"));
                }
            }
        }
        let g = gates * hidden;
        let w = self.constant(node, 1).ok_or("W is not a constant")?;
        let r = self.constant(node, 2).ok_or("R is not a constant")?;
        if w.dims != [d, g, features] || r.dims != [d, g, hidden] {
            return Err(format!(
                "W {:?} and R {:?} for {d} direction(s) of {gates} gates of {hidden} on {features} features",
                w.dims, r.dims
            ));
        }
        let b = self.constant(node, 3);
        if b.is_some_and(|b| b.dims != [d, 2 * g]) {
            return Err(format!(
                "B of shape {:?}",
                b.map(|b| b.dims.clone()).unwrap_or_default()
            ));
        }
        // ONNX's gate order to PyTorch's: GRU z, r, h -> r, z, n; LSTM
        // i, o, f, c -> i, f, g, o.
        let order: &[usize] = match cell {
            Cell::Gru => &[1, 0, 2],
            Cell::Lstm => &[0, 2, 3, 1],
            _ => &[0],
        };
        let reorder = |v: &[f32], per_gate: usize| -> Vec<f32> {
            order
                .iter()
                .flat_map(|&k| v[k * per_gate..(k + 1) * per_gate].iter().copied())
                .collect()
        };
        let (wv, rv) = (w.floats(), r.floats());
        let bv = b.map(Tensor::floats);
        let mut params = Vec::new();
        for dir in 0..d {
            let suffix = if dir == 0 { "" } else { "_reverse" };
            let wi = &wv[dir * g * features..(dir + 1) * g * features];
            let wh = &rv[dir * g * hidden..(dir + 1) * g * hidden];
            let (bi, bh) = match &bv {
                Some(bv) => (
                    bv[dir * 2 * g..dir * 2 * g + g].to_vec(),
                    bv[dir * 2 * g + g..(dir + 1) * 2 * g].to_vec(),
                ),
                None => (vec![0.0; g], vec![0.0; g]),
            };
            let origin = |i: usize| self.g.origin_of(&node.inputs[i]).to_string();
            let f32s = |dims: Vec<usize>, v: Vec<f32>| Tensor {
                dims,
                data: crate::graph::Data::F32(v),
            };
            params.push(Param {
                key: format!("weight_ih_l0{suffix}"),
                tensor: f32s(vec![g, features], reorder(wi, hidden * features)),
                source: origin(1),
            });
            params.push(Param {
                key: format!("weight_hh_l0{suffix}"),
                tensor: f32s(vec![g, hidden], reorder(wh, hidden * hidden)),
                source: origin(2),
            });
            let bsource = if b.is_some() {
                origin(3)
            } else {
                "(none in ONNX: zeros)".into()
            };
            params.push(Param {
                key: format!("bias_ih_l0{suffix}"),
                tensor: f32s(vec![g], reorder(&bi, hidden)),
                source: bsource.clone(),
            });
            params.push(Param {
                key: format!("bias_hh_l0{suffix}"),
                tensor: f32s(vec![g], reorder(&bh, hidden)),
                source: bsource,
            });
        }
        let layer = Layer {
            field: String::new(),
            nodes: vec![node.name.clone()],
            kind: Kind::Recurrent {
                cell,
                steps,
                input: features,
                hidden,
                bidirectional,
            },
            input: input.to_vec(),
            output: vec![steps, d * hidden],
            params,
        };
        // How the outputs are read.
        let used = |o: Option<&String>| {
            o.is_some_and(|o| {
                !o.is_empty()
                    && (self.consumers.contains_key(o.as_str()) || self.g.outputs.contains(o))
            })
        };
        let (y, yh) = (node.outputs.first(), node.outputs.get(1));
        if used(node.outputs.get(2)) {
            return Err("its final cell state Y_c is read".into());
        }
        let single = |value: &str| -> Option<usize> {
            match self.consumers.get(value).map(Vec::as_slice) {
                Some(&[c]) => Some(c),
                _ => None,
            }
        };
        let squeezes = |c: usize, want: i64| -> bool {
            let s = &self.g.nodes[c];
            let axes = self
                .constant(s, 1)
                .and_then(Tensor::ints)
                .map(<[i64]>::to_vec)
                .or_else(|| s.ints("axes").map(<[i64]>::to_vec));
            s.op == "Squeeze" && axes.as_deref() == Some(&[want])
        };
        let mut nodes = Vec::new();
        let (out, out_batch) = match (used(y), used(yh)) {
            (true, false) => {
                let y = y.map(String::as_str).unwrap_or_default();
                if self.g.outputs.iter().any(|o| o == y) {
                    if layout == 0 {
                        return Err("its time-first output Y is the graph's output".into());
                    }
                    (y.to_string(), 0)
                } else {
                    let c = single(y).ok_or("its output Y is read by more than one node")?;
                    // Y is [S, D, B, H] (layout 0) or [B, S, D, H].
                    let dir_axis = if layout == 0 { 1 } else { 2 };
                    if d == 1 && squeezes(c, dir_axis) {
                        nodes.push(c);
                        (self.g.nodes[c].outputs[0].clone(), 1 - usize::try_from(layout).unwrap_or(1))
                    } else {
                        // The directions joined: Transpose [0, 2, 1, 3] then
                        // Reshape [0, 0, -1] (layout 0), or the Reshape alone.
                        let mut value = y.to_string();
                        if layout == 0 {
                            let t = &self.g.nodes[c];
                            if t.op != "Transpose" || t.ints("perm") != Some(&[0, 2, 1, 3][..]) {
                                return Err(format!("its output Y is read by {} `{}`, not a squeeze of the direction axis or a join of the directions", t.op, t.name));
                            }
                            nodes.push(c);
                            value.clone_from(&t.outputs[0]);
                        }
                        let c = single(&value).ok_or("its output Y is read by more than one node")?;
                        let reshape = &self.g.nodes[c];
                        let target = self.constant(reshape, 1).and_then(Tensor::ints);
                        let joined = matches!(target, Some([0, 0, -1]))
                            || target.is_some_and(|t| t.len() == 3 && usize::try_from(t[2]).ok() == Some(d * hidden) && t[0] <= 0);
                        if reshape.op != "Reshape" || !joined {
                            return Err(format!("its output Y is read by {} `{}`, not a join of the directions", reshape.op, reshape.name));
                        }
                        nodes.push(c);
                        (reshape.outputs[0].clone(), 1 - usize::try_from(layout).unwrap_or(1))
                    }
                }
            }
            (false, true) if d == 1 => {
                let yh = yh.map(String::as_str).unwrap_or_default();
                let c = single(yh).ok_or("its final state Y_h is read by more than one node")?;
                let s = &self.g.nodes[c];
                let dir_axis = if layout == 0 { 0 } else { 1 };
                let gather_last = s.op == "Gather"
                    && s.int("axis", 0) == dir_axis
                    && self.constant(s, 1).is_some_and(|t| t.dims.is_empty())
                    && matches!(self.constant(s, 1).and_then(Tensor::ints), Some([0 | -1]));
                if !(squeezes(c, dir_axis) || gather_last) {
                    return Err(format!("its final state Y_h is read by {} `{}`, not a squeeze or gather of its one direction", s.op, s.name));
                }
                let mut last = layer.clone();
                last.kind = Kind::LastStep;
                last.nodes = vec![s.name.clone()];
                last.input = layer.output.clone();
                last.output = vec![hidden];
                last.params = Vec::new();
                self.visited[c] = true;
                let out = s.outputs[0].clone();
                let step = Step::Layers(vec![layer, last], out);
                return Ok(step);
            }
            (false, true) => return Err("the final states Y_h of both directions are read (PyTorch's h_n of a bidirectional layer)".into()),
            (true, true) => return Err("both its outputs Y and Y_h are read".into()),
            (false, false) => return Err("none of its outputs is read".into()),
        };
        for c in nodes {
            self.visited[c] = true;
        }
        if out_batch == 0 {
            Ok(Step::Layer(layer, out))
        } else {
            // A time-first result, seen batch first by the transposes
            // that follow.
            let shape = layer.output.clone();
            self.shapes.insert(out.clone(), shape.clone());
            self.batch_axis.insert(out.clone(), out_batch);
            Ok(Step::Layers(vec![layer], out))
        }
    }

    fn g_strings(&self, node: &Node, name: &str) -> Vec<String> {
        let _ = self;
        match node.attrs.get(name) {
            Some(crate::graph::Attr::Strs(v)) => v.clone(),
            _ => Vec::new(),
        }
    }

    /// `Gemm` of the example by a constant: `Linear`, with `alpha` and
    /// `beta` folded into the weight and the bias (`alpha * (x W)` becomes
    /// `x (alpha W)`: the same up to the rounding of the product), a bias
    /// of one value spread over the outputs.
    fn gemm(&mut self, node: &Node, input: &[usize], out: &str) -> Result<Step, String> {
        if node.int("transA", 0) != 0 {
            return Err("Gemm with transA (it would transpose the batch)".into());
        }
        let (alpha, beta) = (node.float("alpha", 1.0), node.float("beta", 1.0));
        let b = self.constant(node, 1).ok_or("its B is not a constant")?;
        if b.dims.len() != 2 {
            return Err(format!("B of shape {:?}", b.dims));
        }
        let weight = if node.int("transB", 0) != 0 {
            b.clone()
        } else {
            transpose(b)
        };
        let mut weight = weight;
        if alpha != 1.0 {
            weight.data =
                crate::graph::Data::F32(weight.floats().iter().map(|w| w * alpha).collect());
        }
        let outputs = weight.dims[0];
        let bias = self.constant(node, 2).map(|t| {
            let v = t.floats();
            // One value for every output, or one row of them ([OUT],
            // [1, OUT]); a bias per example ([B, OUT]) stays as it is and is
            // refused below.
            let per_output = v.len() == 1
                || (v.len() == outputs && t.dims.iter().rev().skip(1).all(|&d| d == 1));
            let v = if v.len() == 1 { vec![v[0]; outputs] } else { v };
            let tensor = Tensor {
                dims: if per_output {
                    vec![outputs]
                } else {
                    t.dims.clone()
                },
                data: crate::graph::Data::F32(v.iter().map(|b| b * beta).collect()),
            };
            (tensor, self.g.origin_of(&node.inputs[2]).to_string())
        });
        let layer = self.linear(
            vec![node.name.clone()],
            input,
            weight,
            self.g.origin_of(&node.inputs[1]).to_string(),
            bias,
        )?;
        Ok(Step::Layer(layer, out.to_string()))
    }

    /// `MatMul` by a constant `[IN, OUT]`, and the `Add` of a constant bias
    /// that follows it if any.
    fn matmul(&mut self, n: usize, input: &[usize]) -> Result<Step, String> {
        let node = &self.g.nodes[n];
        let b = self
            .constant(node, 1)
            .ok_or("its second operand is not a constant")?;
        if b.dims.len() != 2 {
            return Err(format!("a second operand of shape {:?}", b.dims));
        }
        let mut out = node.outputs[0].clone();
        let mut nodes = vec![node.name.clone()];
        let mut bias = None;
        if let [next] = self.data_consumers(&out).as_slice() {
            let add = &self.g.nodes[*next];
            if add.op == "Add" && self.data_inputs(add).len() == 1 {
                let k = usize::from(add.inputs[0] == out);
                if let Some(t) = self.constant(add, k) {
                    bias = Some((t.clone(), self.g.origin_of(&add.inputs[k]).to_string()));
                    nodes.push(add.name.clone());
                    self.visited[*next] = true;
                    out.clone_from(&add.outputs[0]);
                }
            }
        }
        let layer = self.linear(
            nodes,
            input,
            transpose(b),
            self.g.origin_of(&node.inputs[1]).to_string(),
            bias,
        )?;
        Ok(Step::Layer(layer, out))
    }
}

fn transpose(t: &Tensor) -> Tensor {
    let (r, c) = (t.dims[0], t.dims[1]);
    let v = t.floats();
    Tensor {
        dims: vec![c, r],
        data: crate::graph::Data::F32((0..r * c).map(|i| v[(i % r) * c + i / r]).collect()),
    }
}

fn is_join(node: &Node) -> bool {
    matches!(node.op.as_str(), "Add" | "Mul")
}

fn count(items: &[Item]) -> usize {
    items
        .iter()
        .map(|i| match i {
            Item::Layer(_) => 1,
            Item::Residual(b) => 1 + count(&b.items),
            Item::Chain(c) => count(&c.items),
        })
        .sum()
}

fn last_output(items: &[Item]) -> Option<Vec<usize>> {
    match items.last()? {
        Item::Layer(l) => Some(l.output.clone()),
        Item::Residual(b) => last_output(&b.items),
        Item::Chain(c) => last_output(&c.items),
    }
}

/// The number of layers in `items`, blocks' included.
#[must_use]
pub fn count_layers(items: &[Item]) -> usize {
    items
        .iter()
        .map(|i| match i {
            Item::Layer(_) => 1,
            Item::Residual(b) => {
                count_layers(&b.items)
                    + b.shortcut
                        .as_deref()
                        .map_or(0, |s| count_layers(std::slice::from_ref(s)))
            }
            Item::Chain(c) => count_layers(&c.items),
        })
        .sum()
}

/// Folds every batch norm that follows a convolution or a `Linear` in the
/// same chain into its weights (in `f64`, rounded once):
/// `w' = w * gamma / sqrt(var + eps)`, `b' = (b - mean) * gamma / sqrt(var + eps) + beta`.
pub fn fold_batch_norms(items: &mut Vec<Item>) {
    let mut i = 0;
    while i < items.len() {
        match &mut items[i] {
            Item::Residual(b) => {
                fold_batch_norms(&mut b.items);
                if let Some(s) = b.shortcut.as_deref_mut() {
                    let mut one = vec![std::mem::replace(
                        s,
                        Item::Chain(Chain {
                            field: String::new(),
                            items: Vec::new(),
                        }),
                    )];
                    fold_batch_norms(&mut one);
                    *s = match one.len() {
                        1 => one.remove(0),
                        _ => Item::Chain(Chain {
                            field: String::new(),
                            items: one,
                        }),
                    };
                }
            }
            Item::Chain(c) => {
                fold_batch_norms(&mut c.items);
                // A chain folded down to one layer is that layer.
                if let [Item::Layer(_)] = c.items.as_slice() {
                    items[i] = c.items.remove(0);
                }
            }
            Item::Layer(_) => {}
        }
        let foldable = i + 1 < items.len()
            && matches!(&items[i], Item::Layer(l) if matches!(l.kind, Kind::Conv { .. } | Kind::Linear))
            && matches!(&items[i + 1], Item::Layer(l) if matches!(l.kind, Kind::BatchNorm { .. }));
        if foldable {
            let Item::Layer(bn) = items.remove(i + 1) else {
                unreachable!("checked above")
            };
            if let Item::Layer(layer) = &mut items[i] {
                fold_into(layer, &bn);
            }
        }
        i += 1;
    }
}

fn fold_into(layer: &mut Layer, bn: &Layer) {
    let Kind::BatchNorm { eps, .. } = bn.kind else {
        return;
    };
    let get = |key: &str| -> Vec<f64> {
        bn.params
            .iter()
            .find(|p| p.key == key)
            .map(|p| p.tensor.floats().iter().map(|&x| f64::from(x)).collect())
            .unwrap_or_default()
    };
    let (gamma, beta, mean, var) = (
        get("weight"),
        get("bias"),
        get("running_mean"),
        get("running_var"),
    );
    let scale: Vec<f64> = gamma
        .iter()
        .zip(&var)
        .map(|(g, v)| g / (v + f64::from(eps)).sqrt())
        .collect();
    let out = scale.len();
    let old_bias: Vec<f64> = layer
        .params
        .iter()
        .find(|p| p.key == "bias")
        .map_or(vec![0.0; out], |p| {
            p.tensor.floats().iter().map(|&x| f64::from(x)).collect()
        });
    #[allow(clippy::cast_possible_truncation)]
    let bias: Vec<f32> = (0..out)
        .map(|o| ((old_bias[o] - mean[o]) * scale[o] + beta[o]) as f32)
        .collect();
    if let Some(w) = layer.params.iter_mut().find(|p| p.key == "weight") {
        let per = w.tensor.len() / out.max(1);
        let v = w.tensor.floats();
        #[allow(clippy::cast_possible_truncation)]
        let folded: Vec<f32> = v
            .iter()
            .enumerate()
            .map(|(i, &x)| (f64::from(x) * scale[i / per]) as f32)
            .collect();
        w.tensor.data = crate::graph::Data::F32(folded);
        w.source = format!("{} folded with {}", w.source, bn.nodes.join(", "));
    }
    layer.params.retain(|p| p.key != "bias");
    layer.params.push(Param {
        key: "bias".into(),
        tensor: Tensor {
            dims: vec![out],
            data: crate::graph::Data::F32(bias),
        },
        source: format!("folded from {}", bn.nodes.join(", ")),
    });
    if let Kind::Conv { bias, .. } = &mut layer.kind {
        *bias = true;
    }
    layer.nodes.extend(bn.nodes.iter().cloned());
}

/// The largest kernel, pad or stride the mapping accepts (far past any real
/// model; it keeps the shape arithmetic from overflowing).
const MAX_EXTENT: usize = 1 << 20;

/// A per-axis attribute (`strides`, `dilations`): one positive value per
/// spatial axis, 1 when absent.
fn axis_ints(node: &Node, name: &str, rank: usize) -> Result<Vec<usize>, String> {
    match node.ints(name) {
        None => Ok(vec![1; rank]),
        Some(v) if v.len() == rank => v
            .iter()
            .map(|&x| {
                usize::try_from(x)
                    .ok()
                    .filter(|&x| (1..=MAX_EXTENT).contains(&x))
                    .ok_or_else(|| format!("{name} {v:?}"))
            })
            .collect(),
        Some(v) => Err(format!("{name} {v:?} for {rank} spatial axes")),
    }
}
