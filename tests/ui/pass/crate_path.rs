//! `crate = path` for crates that re-export constnorm.
mod reexport {
    pub use constnorm as norm;
}

#[::constnorm::normalize(layer, dims = 4, crate = crate::reexport::norm)]
struct ByPath;

#[::constnorm::normalize(batch, dims = 4, crate = "crate::reexport::norm")]
struct ByString;

fn main() {
    use reexport::norm::Layer;
    let (y, _) = ByPath::new().forward_eval_array(&[[1.0, 2.0, 3.0, 4.0]]);
    let (z, _) = ByString::new().forward_eval_array(&[[1.0, 2.0, 3.0, 4.0]]);
    assert_eq!(y.len() + z.len(), 2);
}
