use constnorm::normalize;

#[normalize(instance, dims = 4)]
struct NoSpatial;

#[normalize(instance, dims = 4, spatial = 1)]
struct OnePosition;

#[normalize(instance, dims = 4, spatial = [1, 1])]
struct OnePosition2d;

#[normalize(instance, dims = 4, spatial = 8, momentum = 0.1)]
struct MomentumWithoutRunningStats;

#[normalize(instance, dims = 4, spatial = 8, track_running_stats = true, momentum = none)]
struct CumulativeInstance;

fn main() {}
