use constnorm::normalize;

#[normalize(bacth, dims = 4)]
struct Misspelled;

#[normalize(BatchNorm1d, dims = 4)]
struct PyTorchName;

#[normalize(group, dims = 4)]
struct NotYet;

fn main() {}
