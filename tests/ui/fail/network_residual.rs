use constnorm::nn::{Linear, Relu};
use constnorm::network;

/// A residual network must end in its input's shape.
#[network(residual)]
#[derive(Default)]
struct Widens {
    fc: Linear<4, 8>,
    act: Relu<8>,
}

/// `#[nested]` is for networks, not layers.
#[network]
#[derive(Default)]
struct NotANetwork {
    #[nested]
    fc: Linear<4, 4>,
}


/// `#[shortcut]` is for residual networks.
#[network]
#[derive(Default)]
struct ShortcutWithoutResidual {
    fc: Linear<4, 4>,
    #[shortcut]
    skip: Linear<4, 4>,
}

fn main() {}
