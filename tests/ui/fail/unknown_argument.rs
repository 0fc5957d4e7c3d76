use constnorm::normalize;

#[normalize(layer, dim = 4)]
struct Misspelled;

#[normalize(batch, num_features = 4)]
struct PyTorchName;

#[normalize(layer, dims = 4, epsilon = 1e-6)]
struct Epsilon;

#[normalize(layer, dims = 4, colour = 3)]
struct Unrelated;

#[normalize(layer, dims(4))]
struct ListSyntax;

fn main() {}
