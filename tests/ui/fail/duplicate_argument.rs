use constnorm::normalize;

#[normalize(layer, dims = 4, eps = 1e-5, eps = 1e-6)]
struct TwoEps;

#[normalize(batch, layer, dims = 4)]
struct TwoKinds;

#[normalize(batch, dims = 4, dims = 8)]
struct TwoDims;

fn main() {}
