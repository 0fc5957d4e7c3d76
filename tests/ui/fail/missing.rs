use constnorm::normalize;

#[normalize(layer)]
struct NoDims;

#[normalize(dims = 4)]
struct NoKind;

#[normalize]
struct Nothing;

#[normalize(layer, dims)]
struct DimsWithoutValue;

fn main() {}
