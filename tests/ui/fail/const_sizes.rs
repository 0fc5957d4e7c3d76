//! Sizes given as constants are checked by the compiler, with the macro's
//! messages, at the argument.
use constnorm::normalize;

const ZERO: usize = 0;
const C: usize = 6;
const G: usize = 4;
const ONE: usize = 1;

#[normalize(layer, dims = [4, ZERO])]
struct ZeroDim;

#[normalize(group, dims = C, groups = G)]
struct GroupsDoNotDivide;

#[normalize(instance, dims = C, spatial = ONE)]
struct OnePosition;

#[normalize(batch, dims = C, spatial = [2, ZERO])]
struct ZeroSpatial;

#[normalize(layer, dims = UNDEFINED)]
struct Undefined;

fn main() {}
