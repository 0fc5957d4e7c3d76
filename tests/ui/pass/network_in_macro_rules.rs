//! `#[network]` inside `macro_rules!`, its field types handed in as `ty`,
//! `ident` and `tt` fragments (whose hygiene the generated code must not
//! take for its own locals).
use constnorm::nn::{Linear, Relu};
use constnorm::{Network, network};

type Fc = Linear<4, 8>;
type Act = Relu<8>;

macro_rules! mlp {
    ($name:ident, $first:ty, $act:ident, $last:tt) => {
        #[network]
        #[derive(Default)]
        struct $name {
            fc1: $first,
            act: $act,
            fc2: $last,
        }
    };
}

type Out = Linear<8, 2>;
mlp!(Mlp, Fc, Act, Out);

fn main() {
    let net = Mlp::default();
    let mut ws = MlpWorkspace::<2>::new();
    let y = net.forward_eval(&[[0.5; 4]; 2], &mut ws).unwrap();
    assert_eq!(y.len(), 2);
}
