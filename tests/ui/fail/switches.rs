use constnorm::normalize;

#[normalize(layer, dims = 4, affine = 0)]
struct NotABool;

#[normalize(layer, dims = 4, affine = false, bias = true)]
struct BiasWithoutAffine;

#[normalize(batch, dims = 4, track_running_stats = false, momentum = 0.2)]
struct MomentumWithoutRunningStats;

#[normalize(layer, dims = 4, elementwise_affine = false)]
struct PyTorchName;

fn main() {}
