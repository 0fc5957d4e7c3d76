use constnorm::normalize;

#[normalize(layer, dims = 4, dtype = f16)]
struct Half;

#[normalize(layer, dims = 4, dtype = "f64")]
struct Quoted;

#[normalize(layer, dims = 4, dtype = f46)]
struct Typo;

fn main() {}
