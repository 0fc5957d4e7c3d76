use constnorm::normalize;

// Switched-off parameters and statistics have no fields at all.
#[normalize(layer, dims = 4, affine = false)]
struct NoParameters;

#[normalize(rms, dims = 4)]
struct NoBias;

#[normalize(batch, dims = 4, track_running_stats = false)]
struct NoRunningStats;

fn main() {
    let _ = NoParameters::new().weight;
    let _ = NoBias::new().bias;
    let _ = NoRunningStats::new().running_mean;
    let _ = NoRunningStats::MOMENTUM;
    // Folding uses the running statistics, so only layers with them have it.
    let _ = NoRunningStats::new().fold();
}
