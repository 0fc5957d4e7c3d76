use constnorm::normalize;

// One build reports every problem of the attribute, and of the item.
#[normalize(bacth, dims = 0, eps = -1.0, momentum = 2.0, dtype = f16, colour = 1)]
struct Everything {
    x: f32,
}

fn main() {}
