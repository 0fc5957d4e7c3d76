use constnorm::normalize;

#[normalize(batch, dims = 4, momentum = 1.5)]
struct AboveOne;

#[normalize(batch, dims = 4, momentum = -0.1)]
struct Negative;

#[normalize(batch, dims = 4, momentum = nnone)]
struct Misspelled;

#[normalize(layer, dims = 4, momentum = 0.1)]
struct NotForLayer;

fn main() {}
