use constnorm::normalize;

#[normalize(layer, dims = 4, eps = 0.0)]
struct Zero;

#[normalize(layer, dims = 4, eps = -1e-5)]
struct Negative;

#[normalize(batch, dims = 4, eps = 1e999)]
struct Infinite;

#[normalize(batch, dims = 4, eps = small)]
struct NotANumber;

fn main() {}
