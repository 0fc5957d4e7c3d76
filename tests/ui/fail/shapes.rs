use constnorm::normalize;

#[normalize(layer, dims = [])]
struct EmptyDims;

#[normalize(layer, dims = [4, 0])]
struct ZeroInDims;

#[normalize(layer, dims = [2, 2, 2, 2, 2])]
struct TooManyDims;

#[normalize(layer, dims = [4, 2.5])]
struct NotAnInteger;

#[normalize(batch, dims = 4, spatial = 0)]
struct ZeroSpatial;

#[normalize(batch, dims = 4, spatial = [])]
struct EmptySpatial;

#[normalize(batch, dims = 4, spatial = [2, 2, 2, 2])]
struct FourSpatialDims;

#[normalize(batch, dims = [4, 8])]
struct ChannelsAsArray;

fn main() {}
