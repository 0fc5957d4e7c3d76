use constnorm::nn::Linear;
use constnorm::{Network, network, normalize};

#[normalize(batch, dims = 16)]
struct Bn16;

#[network]
#[derive(Default)]
struct Net {
    fc1: Linear<4, 16>,
    bn1: Bn16,
}

fn main() {
    let mut net = Net::default();
    let mut ws = NetWorkspace::<1>::new();
    let _ = net.forward_train(&[[0.0; 4]], &mut ws);
}
