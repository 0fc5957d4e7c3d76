//! The ONNX graph as the importer reads it: nodes with typed attributes,
//! every initializer and `Constant` as a [`Tensor`], and constant
//! subgraphs folded away, so that what is left is the data path.

use std::collections::{HashMap, HashSet};

use prost::Message;

use crate::ImportError;
use crate::proto::{self, attribute_type, data_type};

/// A constant tensor: initializer, `Constant` node or folded subgraph.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    /// ONNX's dimensions, outermost first.
    pub dims: Vec<usize>,
    /// The values, C order.
    pub data: Data,
}

/// The values of a [`Tensor`]: float types are read as `f32`, integer
/// types as `i64`.
#[derive(Clone, Debug, PartialEq)]
pub enum Data {
    /// `FLOAT` (and `DOUBLE`, rounded).
    F32(Vec<f32>),
    /// `INT64`, `INT32` and `BOOL`.
    I64(Vec<i64>),
}

impl Data {
    /// The values at `indices`, in that order.
    fn pick(&self, indices: &[usize]) -> Self {
        match self {
            Self::I64(v) => Self::I64(indices.iter().map(|&i| v[i]).collect()),
            Self::F32(v) => Self::F32(indices.iter().map(|&i| v[i]).collect()),
        }
    }
}

impl Tensor {
    /// The number of values.
    #[must_use]
    pub fn len(&self) -> usize {
        match &self.data {
            Data::F32(v) => v.len(),
            Data::I64(v) => v.len(),
        }
    }

    /// Whether it holds no value.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values as `f32`, integers converted.
    #[must_use]
    pub fn floats(&self) -> Vec<f32> {
        match &self.data {
            Data::F32(v) => v.clone(),
            #[allow(clippy::cast_precision_loss)]
            Data::I64(v) => v.iter().map(|&x| x as f32).collect(),
        }
    }

    /// The values as `i64`, or `None` for a float tensor.
    #[must_use]
    pub fn ints(&self) -> Option<&[i64]> {
        match &self.data {
            Data::I64(v) => Some(v),
            Data::F32(_) => None,
        }
    }

    /// The one value of a tensor of one value, as `f32`.
    #[must_use]
    pub fn scalar(&self) -> Option<f32> {
        (self.len() == 1).then(|| self.floats()[0])
    }
}

/// An attribute's value.
#[derive(Clone, Debug, PartialEq)]
pub enum Attr {
    /// `FLOAT`.
    Float(f32),
    /// `INT`.
    Int(i64),
    /// `STRING`, as UTF-8 (lossy).
    Str(String),
    /// `TENSOR`.
    Tensor(Tensor),
    /// `FLOATS`.
    Floats(Vec<f32>),
    /// `INTS`.
    Ints(Vec<i64>),
    /// `STRINGS`, as UTF-8 (lossy).
    Strs(Vec<String>),
    /// `GRAPH` (an `If`'s branch), decoded when it is inlined.
    Graph(Box<proto::GraphProto>),
    /// A graph or a type the importer does not read.
    Other,
}

/// One node of the graph.
#[derive(Clone, Debug)]
pub struct Node {
    /// Its name (`op_type` and its index when the file gives none).
    pub name: String,
    /// Its operator.
    pub op: String,
    /// Input value names; an empty name is an absent optional input.
    pub inputs: Vec<String>,
    /// Output value names.
    pub outputs: Vec<String>,
    /// Its attributes by name.
    pub attrs: HashMap<String, Attr>,
}

impl Node {
    /// An `INT` attribute or `default`.
    #[must_use]
    pub fn int(&self, name: &str, default: i64) -> i64 {
        match self.attrs.get(name) {
            Some(Attr::Int(v)) => *v,
            _ => default,
        }
    }

    /// A `FLOAT` attribute or `default`.
    #[must_use]
    pub fn float(&self, name: &str, default: f32) -> f32 {
        match self.attrs.get(name) {
            Some(Attr::Float(v)) => *v,
            _ => default,
        }
    }

    /// An `INTS` attribute, if present.
    #[must_use]
    pub fn ints(&self, name: &str) -> Option<&[i64]> {
        match self.attrs.get(name) {
            Some(Attr::Ints(v)) => Some(v),
            _ => None,
        }
    }

    /// A `STRING` attribute or `default`.
    #[must_use]
    pub fn string<'a>(&'a self, name: &str, default: &'a str) -> &'a str {
        match self.attrs.get(name) {
            Some(Attr::Str(v)) => v,
            _ => default,
        }
    }
}

/// A graph input that is not an initializer: the model's data input.
#[derive(Clone, Debug)]
pub struct Input {
    /// Its name.
    pub name: String,
    /// Its dimensions: a number, or the name of a symbolic one (`batch`).
    pub dims: Vec<Dim>,
}

/// One dimension of a graph input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Dim {
    /// Fixed in the file.
    Fixed(usize),
    /// Symbolic (`dim_param`), or unknown when empty.
    Named(String),
}

/// The model after decoding and constant folding.
#[derive(Clone, Debug)]
pub struct Graph {
    /// The default domain's operator set version.
    pub opset: i64,
    /// The program that wrote the file (`pytorch 2.5.0`).
    pub producer: String,
    /// The data inputs.
    pub inputs: Vec<Input>,
    /// The output value names.
    pub outputs: Vec<String>,
    /// The nodes left after folding, in the file's (topological) order.
    pub nodes: Vec<Node>,
    /// Every constant value by name.
    pub constants: HashMap<String, Tensor>,
    /// For a constant a folded node computed, the initializer it came from
    /// (its first constant input's, transitively).
    pub origin: HashMap<String, String>,
}

impl Graph {
    /// The initializer (or `Constant` output) a constant value came from.
    #[must_use]
    pub fn origin_of<'a>(&'a self, name: &'a str) -> &'a str {
        self.origin.get(name).map_or(name, String::as_str)
    }
}

/// Decodes an ONNX file.
///
/// # Errors
/// [`ImportError::Decode`] for bytes that are not an ONNX model (the message
/// names the field being read); [`ImportError::Model`] for a model without
/// a graph, with tensors whose size disagrees with their dimensions, or with
/// external data.
pub fn decode(bytes: &[u8]) -> Result<Graph, ImportError> {
    decode_with(bytes, &[])
}

/// [`decode`], with scalar graph inputs bound to values first: each
/// `(name, [value])` of `given` that names an input of rank 0 makes that
/// input a constant (`("sr", [16000])`), so that what depends on it folds,
/// an `If` on it included. Other entries (shapes) are left to the mapping.
///
/// # Errors
/// Those of [`decode`].
pub fn decode_with(bytes: &[u8], given: &[(String, Vec<usize>)]) -> Result<Graph, ImportError> {
    let model = proto::ModelProto::decode(bytes).map_err(|e| ImportError::Decode(e.to_string()))?;
    let opset = model
        .opset_import
        .iter()
        .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map(|o| o.version)
        .ok_or_else(|| {
            ImportError::Model("the model imports no default (ai.onnx) operator set".into())
        })?;
    let graph = model
        .graph
        .ok_or_else(|| ImportError::Model("the model has no graph".into()))?;
    let mut constants = HashMap::new();
    for t in &graph.initializer {
        constants.insert(t.name.clone(), tensor(t, &t.name)?);
    }
    for (name, value) in given {
        let Some(info) = graph.input.iter().find(|v| &v.name == name) else {
            continue;
        };
        let tensor_type = info.r#type.as_ref().and_then(|t| t.tensor_type.as_ref());
        let rank = tensor_type
            .and_then(|t| t.shape.as_ref())
            .map(|s| s.dim.len());
        let (Some(0), [value]) = (rank, value.as_slice()) else {
            continue;
        };
        #[allow(clippy::cast_precision_loss)]
        let data = match tensor_type.map_or(data_type::FLOAT, |t| t.elem_type) {
            data_type::FLOAT | data_type::DOUBLE => Data::F32(vec![*value as f32]),
            _ => Data::I64(vec![i64::try_from(*value).unwrap_or(i64::MAX)]),
        };
        constants.insert(name.clone(), Tensor { dims: vec![], data });
    }
    let inputs = graph
        .input
        .iter()
        .filter(|v| !constants.contains_key(&v.name))
        .map(|v| Input {
            name: v.name.clone(),
            dims: v
                .r#type
                .as_ref()
                .and_then(|t| t.tensor_type.as_ref())
                .and_then(|t| t.shape.as_ref())
                .map(|s| {
                    s.dim
                        .iter()
                        .map(|d| match (d.dim_value, &d.dim_param) {
                            (Some(v), _) if v > 0 => Dim::Fixed(usize::try_from(v).unwrap_or(0)),
                            (_, Some(p)) => Dim::Named(p.clone()),
                            _ => Dim::Named(String::new()),
                        })
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect();
    let nodes = nodes_of(&graph.node, "")?;
    let mut graph = Graph {
        opset,
        producer: format!("{} {}", model.producer_name, model.producer_version)
            .trim()
            .to_string(),
        inputs,
        outputs: graph.output.iter().map(|v| v.name.clone()).collect(),
        nodes,
        constants,
        origin: HashMap::new(),
    };
    fold(&mut graph);
    Ok(graph)
}

/// A graph's nodes (`prefix` before generated names, for a branch).
fn nodes_of(protos: &[proto::NodeProto], prefix: &str) -> Result<Vec<Node>, ImportError> {
    let mut nodes = Vec::with_capacity(protos.len());
    for (i, n) in protos.iter().enumerate() {
        if !(n.domain.is_empty() || n.domain == "ai.onnx") {
            return Err(ImportError::Model(format!(
                "node `{}` ({}) is in domain `{}`: only the default ONNX domain is read",
                n.name, n.op_type, n.domain
            )));
        }
        let name = if n.name.is_empty() {
            format!("{prefix}{}_{i}", n.op_type)
        } else {
            n.name.clone()
        };
        let mut attrs = HashMap::new();
        for a in &n.attribute {
            attrs.insert(a.name.clone(), attr(a, &name)?);
        }
        nodes.push(Node {
            name,
            op: n.op_type.clone(),
            inputs: n.input.clone(),
            outputs: n.output.clone(),
            attrs,
        });
    }
    Ok(nodes)
}

fn attr(a: &proto::AttributeProto, node: &str) -> Result<Attr, ImportError> {
    // Files from before IR version 3 leave `type` unset: infer it.
    let kind = if a.r#type != 0 {
        a.r#type
    } else if a.t.is_some() {
        attribute_type::TENSOR
    } else if a.g.is_some() {
        attribute_type::GRAPH
    } else if !a.ints.is_empty() {
        attribute_type::INTS
    } else if !a.floats.is_empty() {
        attribute_type::FLOATS
    } else if !a.strings.is_empty() {
        attribute_type::STRINGS
    } else if !a.s.is_empty() {
        attribute_type::STRING
    } else if a.f != 0.0 {
        attribute_type::FLOAT
    } else {
        attribute_type::INT
    };
    Ok(match kind {
        attribute_type::FLOAT => Attr::Float(a.f),
        attribute_type::INT => Attr::Int(a.i),
        attribute_type::STRING => Attr::Str(String::from_utf8_lossy(&a.s).into_owned()),
        attribute_type::TENSOR => match &a.t {
            Some(t) => Attr::Tensor(tensor(t, &format!("{node}.{}", a.name))?),
            None => Attr::Other,
        },
        attribute_type::FLOATS => Attr::Floats(a.floats.clone()),
        attribute_type::INTS => Attr::Ints(a.ints.clone()),
        attribute_type::GRAPH => match &a.g {
            Some(g) => Attr::Graph(Box::new(g.clone())),
            None => Attr::Other,
        },
        attribute_type::STRINGS => Attr::Strs(
            a.strings
                .iter()
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect(),
        ),
        _ => Attr::Other,
    })
}

/// Reads a `TensorProto`'s values (`what` names it in errors).
fn tensor(t: &proto::TensorProto, what: &str) -> Result<Tensor, ImportError> {
    let bad = |why: String| ImportError::Model(format!("tensor `{what}`: {why}"));
    if t.data_location == 1 || !t.external_data.is_empty() {
        return Err(bad(
            "its values are in an external file, which the importer does not read (save the model with its data inside)".into(),
        ));
    }
    let dims = t
        .dims
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| bad(format!("negative dimension {d}"))))
        .collect::<Result<Vec<_>, _>>()?;
    let count = dims
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .ok_or_else(|| bad("its dimensions overflow".into()))?;
    let raw = &t.raw_data;
    let data = match t.data_type {
        data_type::FLOAT => Data::F32(if raw.is_empty() {
            t.float_data.clone()
        } else {
            chunks::<4>(raw, count, &bad)?
                .map(f32::from_le_bytes)
                .collect()
        }),
        data_type::DOUBLE => Data::F32(if raw.is_empty() {
            #[allow(clippy::cast_possible_truncation)]
            t.double_data.iter().map(|&x| x as f32).collect()
        } else {
            #[allow(clippy::cast_possible_truncation)]
            chunks::<8>(raw, count, &bad)?
                .map(|b| f64::from_le_bytes(b) as f32)
                .collect()
        }),
        data_type::INT64 => Data::I64(if raw.is_empty() {
            t.int64_data.clone()
        } else {
            chunks::<8>(raw, count, &bad)?
                .map(i64::from_le_bytes)
                .collect()
        }),
        data_type::INT32 => Data::I64(if raw.is_empty() {
            t.int32_data.iter().map(|&x| i64::from(x)).collect()
        } else {
            chunks::<4>(raw, count, &bad)?
                .map(|b| i64::from(i32::from_le_bytes(b)))
                .collect()
        }),
        data_type::BOOL => Data::I64(if raw.is_empty() {
            t.int32_data.iter().map(|&x| i64::from(x != 0)).collect()
        } else {
            raw.iter().map(|&b| i64::from(b != 0)).collect()
        }),
        other => {
            return Err(bad(format!(
                "data type {other} is not read (float, double, int32, int64 and bool are)"
            )));
        }
    };
    let tensor = Tensor { dims, data };
    if tensor.len() != count {
        return Err(bad(format!(
            "{} values for dimensions {:?}",
            tensor.len(),
            tensor.dims
        )));
    }
    Ok(tensor)
}

fn chunks<'a, const N: usize>(
    raw: &'a [u8],
    count: usize,
    bad: &dyn Fn(String) -> ImportError,
) -> Result<impl Iterator<Item = [u8; N]> + 'a, ImportError> {
    if Some(raw.len()) != count.checked_mul(N) {
        return Err(bad(format!(
            "{} bytes of raw data for {count} values of {N} bytes",
            raw.len()
        )));
    }
    Ok(raw
        .chunks_exact(N)
        .map(|c| <[u8; N]>::try_from(c).unwrap_or([0; N])))
}

/// Folds `Constant` nodes and every node of a small set of operators whose
/// inputs are all constant into constants, removing them.
fn fold(graph: &mut Graph) {
    let mut kept = Vec::with_capacity(graph.nodes.len());
    // `Shape` of a data value: only its first entry, the batch, is known
    // here, as 0 (which `Reshape` reads as "the input's own"). Such a
    // prefix folds only through Cast, and Slice and Gather within the
    // prefix. A constant made from the batch entry is `batch_derived`: it
    // folds on only through what moves values without computing with them
    // (Cast, Unsqueeze, Squeeze, Concat, Identity, Slice, Gather,
    // Transpose, Reshape) and into a zero `ConstantOfShape` (an initial
    // state, then sliced per layer); anything else that reads it
    // (`Equal`, arithmetic) stays a node, never computed with 0 for the
    // batch.
    let mut prefixes: HashMap<String, Tensor> = HashMap::new();
    let mut batch_derived: HashSet<String> = HashSet::new();
    let mut queue: std::collections::VecDeque<Node> = std::mem::take(&mut graph.nodes).into();
    while let Some(node) = queue.pop_front() {
        // An `If` whose condition is known: its branch in its place, the
        // branch's outputs renamed to the `If`'s.
        if node.op == "If"
            && let Some(cond) = node
                .inputs
                .first()
                .and_then(|c| graph.constants.get(c))
                .and_then(Tensor::scalar)
        {
            let which = if cond != 0.0 {
                "then_branch"
            } else {
                "else_branch"
            };
            if let Some(Attr::Graph(branch)) = node.attrs.get(which) {
                let inlined = inline(branch, &node, graph);
                if let Ok(nodes) = inlined {
                    for n in nodes.into_iter().rev() {
                        queue.push_front(n);
                    }
                    continue;
                }
            }
        }
        if node.outputs.len() != 1 {
            kept.push(node);
            continue;
        }
        // The shape of a constant is known whole.
        if node.op == "Shape"
            && let Some(t) = node.inputs.first().and_then(|i| graph.constants.get(i))
        {
            let dims = t
                .dims
                .iter()
                .map(|&d| i64::try_from(d).unwrap_or(i64::MAX))
                .collect::<Vec<_>>();
            let (start, end) = (node.int("start", 0), node.int("end", i64::MAX));
            let rank = i64::try_from(dims.len()).unwrap_or(0);
            let clamp = |x: i64| {
                usize::try_from(if x < 0 {
                    (x + rank).max(0)
                } else {
                    x.min(rank)
                })
                .unwrap_or(0)
            };
            let v: Vec<i64> = dims[clamp(start)..clamp(end).max(clamp(start))].to_vec();
            graph.constants.insert(
                node.outputs[0].clone(),
                Tensor {
                    dims: vec![v.len()],
                    data: Data::I64(v),
                },
            );
            continue;
        }
        if node.op == "Shape" && node.int("start", 0) == 0 {
            prefixes.insert(
                node.outputs[0].clone(),
                Tensor {
                    dims: vec![1],
                    data: Data::I64(vec![0]),
                },
            );
            kept.push(node);
            continue;
        }
        let from_prefix = node.inputs.first().and_then(|i| prefixes.get(i)).cloned();
        if let Some(prefix) = from_prefix {
            let rest: Option<Vec<&Tensor>> = node.inputs[1..]
                .iter()
                .map(|i| graph.constants.get(i))
                .collect();
            let folded = rest.and_then(|rest| {
                let mut inputs = vec![Some(&prefix)];
                inputs.extend(rest.into_iter().map(Some));
                match node.op.as_str() {
                    "Cast" => Some((evaluate(&node, &inputs)?, true)),
                    // Only within the known entries: a slice that ends
                    // past them, or a gather of a later entry, is not
                    // folded.
                    "Slice" => {
                        let known = i64::try_from(prefix.len()).ok()?;
                        let bound = |i: usize| {
                            inputs
                                .get(i)
                                .copied()
                                .flatten()
                                .and_then(Tensor::ints)
                                .map(<[i64]>::to_vec)
                        };
                        let inside = bound(1)?.iter().all(|&a| (0..=known).contains(&a))
                            && bound(2)?.iter().all(|&b| (0..=known).contains(&b));
                        inside
                            .then(|| evaluate(&node, &inputs))
                            .flatten()
                            .map(|t| (t, false))
                    }
                    "Gather" => {
                        let known = i64::try_from(prefix.len()).ok()?;
                        let index = inputs.get(1).copied().flatten().and_then(Tensor::ints)?;
                        let inside = index.iter().all(|&i| (0..known).contains(&i));
                        inside
                            .then(|| evaluate(&node, &inputs))
                            .flatten()
                            .map(|t| (t, false))
                    }
                    _ => None,
                }
            });
            match folded {
                Some((t, true)) => {
                    prefixes.insert(node.outputs[0].clone(), t);
                }
                Some((t, false)) => {
                    // A slice or gather that took the batch entry.
                    let index = |i: usize| {
                        node.inputs
                            .get(i)
                            .and_then(|n| graph.constants.get(n))
                            .and_then(Tensor::ints)
                    };
                    let took_batch = match node.op.as_str() {
                        "Gather" => index(1).is_some_and(|ix| ix.contains(&0)),
                        _ => index(1).is_some_and(|st| st.first() == Some(&0)),
                    };
                    if took_batch {
                        batch_derived.insert(node.outputs[0].clone());
                    }
                    graph.constants.insert(node.outputs[0].clone(), t);
                }
                None => kept.push(node),
            }
            continue;
        }
        let reads_batch = node.inputs.iter().any(|i| batch_derived.contains(i));
        let moves_values = matches!(
            node.op.as_str(),
            "Cast"
                | "Unsqueeze"
                | "Squeeze"
                | "Concat"
                | "Identity"
                | "ConstantOfShape"
                | "Slice"
                | "Gather"
                | "Transpose"
                | "Reshape"
        );
        if reads_batch && !moves_values {
            kept.push(node);
            continue;
        }
        if reads_batch {
            batch_derived.insert(node.outputs[0].clone());
        }
        let value = if node.op == "Constant" {
            constant(&node)
        } else if node
            .inputs
            .iter()
            .all(|i| i.is_empty() || graph.constants.contains_key(i))
            && node.outputs.len() == 1
        {
            let inputs: Vec<Option<&Tensor>> =
                node.inputs.iter().map(|i| graph.constants.get(i)).collect();
            evaluate(&node, &inputs)
        } else {
            None
        };
        match value {
            Some(t) if node.outputs.len() == 1 => {
                if let Some(first) = node
                    .inputs
                    .iter()
                    .find(|i| graph.constants.contains_key(*i))
                {
                    let origin = graph.origin_of(first).to_string();
                    graph.origin.insert(node.outputs[0].clone(), origin);
                }
                graph.constants.insert(node.outputs[0].clone(), t);
            }
            _ => kept.push(node),
        }
    }
    // Nodes whose outputs nothing reads (and which are no graph output).
    let outputs: HashSet<&String> = graph.outputs.iter().collect();
    let mut used: HashSet<String> = HashSet::new();
    let mut live = vec![false; kept.len()];
    for (i, node) in kept.iter().enumerate().rev() {
        if node
            .outputs
            .iter()
            .any(|o| used.contains(o) || outputs.contains(o))
        {
            live[i] = true;
            used.extend(node.inputs.iter().cloned());
        }
    }
    graph.nodes = kept
        .into_iter()
        .zip(live)
        .filter_map(|(n, l)| l.then_some(n))
        .collect();
}

/// The nodes of `branch` (an `If`'s) with its initializers added to the
/// constants, and an `Identity` from each branch output to the `If`'s.
fn inline(
    branch: &proto::GraphProto,
    node: &Node,
    graph: &mut Graph,
) -> Result<Vec<Node>, ImportError> {
    for t in &branch.initializer {
        graph.constants.insert(t.name.clone(), tensor(t, &t.name)?);
    }
    let mut nodes = nodes_of(&branch.node, &format!("{}/", node.name))?;
    for (from, to) in branch.output.iter().zip(&node.outputs) {
        nodes.push(Node {
            name: format!("{}/{}", node.name, to),
            op: "Identity".into(),
            inputs: vec![from.name.clone()],
            outputs: vec![to.clone()],
            attrs: HashMap::new(),
        });
    }
    Ok(nodes)
}

fn constant(node: &Node) -> Option<Tensor> {
    match node.attrs.iter().next()? {
        (_, Attr::Tensor(t)) => Some(t.clone()),
        (name, Attr::Float(v)) if name == "value_float" => Some(Tensor {
            dims: vec![],
            data: Data::F32(vec![*v]),
        }),
        (name, Attr::Floats(v)) if name == "value_floats" => Some(Tensor {
            dims: vec![v.len()],
            data: Data::F32(v.clone()),
        }),
        (name, Attr::Int(v)) if name == "value_int" => Some(Tensor {
            dims: vec![],
            data: Data::I64(vec![*v]),
        }),
        (name, Attr::Ints(v)) if name == "value_ints" => Some(Tensor {
            dims: vec![v.len()],
            data: Data::I64(v.clone()),
        }),
        _ => None,
    }
}

/// Evaluates a node whose inputs are all constant, for the operators a
/// constant subgraph of an exported model is made of; `None` leaves it in
/// the graph (where the mapping names it if it is not a layer).
fn evaluate(node: &Node, inputs: &[Option<&Tensor>]) -> Option<Tensor> {
    let first = inputs.first().copied().flatten()?;
    match node.op.as_str() {
        "Identity" => Some(first.clone()),
        "Cast" => Some(match node.int("to", 1) {
            1 | 11 => Tensor {
                dims: first.dims.clone(),
                data: Data::F32(first.floats()),
            },
            #[allow(clippy::cast_possible_truncation)]
            6 | 7 | 9 => Tensor {
                dims: first.dims.clone(),
                data: Data::I64(first.ints().map_or_else(
                    || first.floats().iter().map(|&x| x as i64).collect(),
                    <[i64]>::to_vec,
                )),
            },
            _ => return None,
        }),
        "Reshape" => {
            let shape = inputs.get(1).copied().flatten()?.ints()?;
            let dims = reshape(&first.dims, shape)?;
            Some(Tensor {
                dims,
                data: first.data.clone(),
            })
        }
        "Flatten" => {
            let axis = usize::try_from(node.int("axis", 1)).ok()?;
            let outer: usize = first.dims.iter().take(axis).product();
            Some(Tensor {
                dims: vec![outer, first.len() / outer.max(1)],
                data: first.data.clone(),
            })
        }
        "Unsqueeze" | "Squeeze" => {
            let axes: Vec<i64> = match inputs.get(1).copied().flatten() {
                Some(t) => t.ints()?.to_vec(),
                None => node.ints("axes").map(<[i64]>::to_vec).unwrap_or_default(),
            };
            let mut dims = first.dims.clone();
            if node.op == "Squeeze" {
                if axes.is_empty() {
                    dims.retain(|&d| d != 1);
                } else {
                    let rank = dims.len();
                    let mut axes: Vec<usize> =
                        axes.iter().map(|&a| axis(a, rank)).collect::<Option<_>>()?;
                    axes.sort_unstable();
                    for &a in axes.iter().rev() {
                        if dims.get(a) != Some(&1) {
                            return None;
                        }
                        dims.remove(a);
                    }
                }
            } else {
                let rank = dims.len() + axes.len();
                let mut axes: Vec<usize> =
                    axes.iter().map(|&a| axis(a, rank)).collect::<Option<_>>()?;
                axes.sort_unstable();
                for a in axes {
                    if a > dims.len() {
                        return None;
                    }
                    dims.insert(a, 1);
                }
            }
            Some(Tensor {
                dims,
                data: first.data.clone(),
            })
        }
        "Concat" => {
            let all: Vec<&Tensor> = inputs.iter().copied().collect::<Option<_>>()?;
            let rank = first.dims.len();
            if rank == 0 {
                return None;
            }
            let a = axis(node.int("axis", 0), rank)?;
            // Every dimension but the axis agrees.
            if all.iter().any(|t| {
                t.dims.len() != rank || (0..rank).any(|k| k != a && t.dims[k] != first.dims[k])
            }) {
                return None;
            }
            let outer: usize = first.dims[..a].iter().product();
            let mut dims = first.dims.clone();
            dims[a] = all.iter().map(|t| t.dims[a]).sum();
            // Each input contributes a block of dims[a..] per outer index.
            let block = |t: &Tensor| t.dims[a..].iter().product::<usize>();
            if all.iter().all(|t| t.ints().is_some()) {
                let mut v = Vec::with_capacity(dims.iter().product());
                for o in 0..outer {
                    for t in &all {
                        let b = block(t);
                        v.extend_from_slice(&t.ints().unwrap_or(&[])[o * b..(o + 1) * b]);
                    }
                }
                Some(Tensor {
                    dims,
                    data: Data::I64(v),
                })
            } else {
                let mut v = Vec::with_capacity(dims.iter().product());
                for o in 0..outer {
                    for t in &all {
                        let b = block(t);
                        v.extend_from_slice(&t.floats()[o * b..(o + 1) * b]);
                    }
                }
                Some(Tensor {
                    dims,
                    data: Data::F32(v),
                })
            }
        }
        "Slice" => {
            let arg = |i: usize, attr: &str| -> Option<Vec<i64>> {
                match inputs.get(i).copied().flatten() {
                    Some(t) => Some(t.ints()?.to_vec()),
                    None => node.ints(attr).map(<[i64]>::to_vec),
                }
            };
            let (starts, ends) = (arg(1, "starts")?, arg(2, "ends")?);
            let rank = first.dims.len();
            let axes: Vec<usize> = match arg(3, "axes") {
                Some(a) => a.iter().map(|&a| axis(a, rank)).collect::<Option<_>>()?,
                None => (0..starts.len()).collect(),
            };
            if axes.iter().any(|&a| a >= rank) {
                return None;
            }
            let steps = arg(4, "steps").unwrap_or_else(|| vec![1; starts.len()]);
            if starts.len() != axes.len()
                || ends.len() != axes.len()
                || steps.iter().any(|&s| s != 1)
            {
                return None;
            }
            // The range kept on every axis.
            let mut ranges: Vec<(usize, usize)> = first.dims.iter().map(|&d| (0, d)).collect();
            for (k, &a) in axes.iter().enumerate() {
                let len = i64::try_from(first.dims[a]).ok()?;
                let clamp = |x: i64| if x < 0 { (x + len).max(0) } else { x.min(len) };
                let (lo, hi) = (clamp(starts[k]), clamp(ends[k]));
                ranges[a] = (usize::try_from(lo).ok()?, usize::try_from(hi.max(lo)).ok()?);
            }
            let dims: Vec<usize> = ranges.iter().map(|(lo, hi)| hi - lo).collect();
            let count: usize = dims.iter().product();
            let mut picks = Vec::with_capacity(count);
            for flat in 0..count {
                // The source index of output element `flat`, C order.
                let (mut rest, mut src, mut stride) = (flat, 0, 1);
                for a in (0..rank).rev() {
                    let i = rest % dims[a];
                    rest /= dims[a];
                    src += (ranges[a].0 + i) * stride;
                    stride *= first.dims[a];
                }
                picks.push(src);
            }
            let data = first.data.pick(&picks);
            Some(Tensor { dims, data })
        }
        "ConstantOfShape" => {
            let dims: Vec<usize> = first
                .ints()?
                .iter()
                .map(|&d| usize::try_from(d).ok())
                .collect::<Option<_>>()?;
            let value = match node.attrs.get("value") {
                Some(Attr::Tensor(t)) => t.clone(),
                _ => Tensor {
                    dims: vec![1],
                    data: Data::F32(vec![0.0]),
                },
            };
            // Folded only up to 2^24 values (an initial state, a mask);
            // a larger one stays a node, refused by the mapping.
            let count = dims
                .iter()
                .try_fold(1usize, |n, &d| n.checked_mul(d))
                .filter(|&n| n <= 1 << 24)?;
            // A dimension of 0 here is the batch (see `fold`): the values
            // are not known, only that they are all `value`. Folded only for
            // zeros (an initial state), whose emptiness then reads as zeros.
            if count == 0 && value.floats().iter().any(|&v| v != 0.0) {
                return None;
            }
            let data = match value.data {
                Data::I64(v) => Data::I64(vec![*v.first()?; count]),
                Data::F32(v) => Data::F32(vec![*v.first()?; count]),
            };
            Some(Tensor { dims, data })
        }
        "Gather" if first.dims.len() == 1 && node.int("axis", 0) == 0 => {
            let index = inputs.get(1).copied().flatten()?;
            let len = i64::try_from(first.len()).ok()?;
            let picks: Vec<usize> = index
                .ints()?
                .iter()
                .map(|&i| {
                    usize::try_from(if i < 0 { i + len } else { i })
                        .ok()
                        .filter(|&i| i < first.len())
                })
                .collect::<Option<_>>()?;
            let data = first.data.pick(&picks);
            Some(Tensor {
                dims: index.dims.clone(),
                data,
            })
        }
        "Transpose" if first.dims.len() == 2 => {
            let perm = node.ints("perm").unwrap_or(&[1, 0]);
            if perm != [1, 0] {
                return (perm == [0, 1]).then(|| first.clone());
            }
            let (r, c) = (first.dims[0], first.dims[1]);
            let v = first.floats();
            let t: Vec<f32> = (0..r * c).map(|i| v[(i % r) * c + i / r]).collect();
            Some(Tensor {
                dims: vec![c, r],
                data: Data::F32(t),
            })
        }
        "Equal" => {
            let b = inputs.get(1).copied().flatten()?;
            let (a, b) = (first.floats(), b.floats());
            if a.len() != b.len() && b.len() != 1 {
                return None;
            }
            let v = a
                .iter()
                .enumerate()
                .map(|(i, &x)| i64::from(x == b[if b.len() == 1 { 0 } else { i }]))
                .collect();
            Some(Tensor {
                dims: first.dims.clone(),
                data: Data::I64(v),
            })
        }
        "Add" | "Sub" | "Mul" | "Div" | "Sqrt" | "Neg" | "Reciprocal" => {
            let a = first.floats();
            let b = inputs
                .get(1)
                .copied()
                .flatten()
                .map(|t| (t.floats(), t.dims.clone()));
            let (dims, b) = match b {
                None => (first.dims.clone(), vec![0.0; a.len()]),
                Some((b, bd)) if b.len() == a.len() && bd == first.dims => (first.dims.clone(), b),
                Some((b, _)) if b.len() == 1 => (first.dims.clone(), vec![b[0]; a.len()]),
                Some((b, bd)) if a.len() == 1 => {
                    let x = a[0];
                    return Some(Tensor {
                        dims: bd,
                        data: Data::F32(b.iter().map(|&y| op(&node.op, x, y)).collect()),
                    });
                }
                _ => return None,
            };
            Some(Tensor {
                dims,
                data: Data::F32(
                    a.iter()
                        .zip(&b)
                        .map(|(&x, &y)| op(&node.op, x, y))
                        .collect(),
                ),
            })
        }
        _ => None,
    }
}

fn op(name: &str, x: f32, y: f32) -> f32 {
    match name {
        "Add" => x + y,
        "Sub" => x - y,
        "Mul" => x * y,
        "Div" => x / y,
        "Sqrt" => x.sqrt(),
        "Neg" => -x,
        _ => 1.0 / x,
    }
}

/// An ONNX axis (negative from the end) in `0..rank`.
#[must_use]
pub fn axis(a: i64, rank: usize) -> Option<usize> {
    let rank_i = i64::try_from(rank).ok()?;
    let a = if a < 0 { a + rank_i } else { a };
    usize::try_from(a).ok().filter(|&a| a < rank)
}

/// ONNX's `Reshape` of `dims` to `shape` (0 copies, -1 infers).
#[must_use]
pub fn reshape(dims: &[usize], shape: &[i64]) -> Option<Vec<usize>> {
    let total: usize = dims.iter().product();
    let mut out = Vec::with_capacity(shape.len());
    let mut infer = None;
    for (i, &s) in shape.iter().enumerate() {
        match s {
            0 => out.push(*dims.get(i)?),
            -1 if infer.is_none() => {
                infer = Some(i);
                out.push(1);
            }
            s => out.push(usize::try_from(s).ok()?),
        }
    }
    let known: usize = out.iter().product();
    if let Some(i) = infer {
        if known == 0 || !total.is_multiple_of(known) {
            return None;
        }
        out[i] = total / known;
    }
    (out.iter().product::<usize>() == total).then_some(out)
}
