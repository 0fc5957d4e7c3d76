use constnorm::normalize;

#[normalize(group, dims = 8)]
struct NoGroups;

#[normalize(group, dims = 8, groups = 0)]
struct ZeroGroups;

#[normalize(group, dims = 8, groups = 3)]
struct UnevenGroups;

#[normalize(group, dims = 8, num_groups = 2)]
struct PyTorchName;

fn main() {}
