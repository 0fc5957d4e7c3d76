use constnorm::normalize;

#[normalize(layer, dims = 4, groups = 2, spatial = 3)]
struct LayerWithChannelOptions;

#[normalize(batch, dims = 4, bias = false)]
struct BatchWithBiasSwitch;

#[normalize(group, dims = 4, groups = 2, track_running_stats = true, momentum = 0.1)]
struct GroupWithRunningStats;

#[normalize(rms, dims = 4, momentum = 0.1)]
struct RmsWithMomentum;

fn main() {}
