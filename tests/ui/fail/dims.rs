use constnorm::normalize;

#[normalize(layer, dims = 0)]
struct Zero;

#[normalize(layer, dims = 3.0)]
struct Float;

#[normalize(layer, dims = true)]
struct Boolean;

#[normalize(batch, dims = -2)]
struct Negative;

#[normalize(batch, dims = "4")]
struct Text;

fn main() {}
