//! Fixed-size is not stack-only: a workspace of 64 MiB, layers of 16 MiB and
//! recurrent layers of 19 and 21 MiB and an encoder block of 48 MiB are
//! created straight on the heap, in a debug build, on a thread with a
//! 2 MiB stack (where building either on the stack first would overflow).

use constnorm::nn::{Linear, Relu};
use constnorm::{Network, NormError, conv2d, network};

const WIDE: usize = 2048;
const BATCH: usize = 2048;

#[network]
#[derive(Default)]
struct Wide {
    fc: Linear<WIDE, WIDE>,
    act: Relu<WIDE>,
}

#[network(residual)]
#[derive(Default)]
struct Block {
    fc: Linear<256, 256>,
    act: Relu<256>,
}

#[network]
#[derive(Default)]
struct Nested {
    #[nested]
    block: Block,
    out: Linear<256, 2>,
}

fn on_a_small_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn a_64_mib_workspace_starts_on_the_heap() {
    on_a_small_stack(|| {
        let size = size_of::<<Wide as Network>::Workspace<BATCH>>();
        assert!(size >= 64 << 20, "{size} bytes");
        let mut ws = <Wide as Network>::Workspace::<BATCH>::new_boxed();
        assert!(ws.fc.iter().all(|row| row.iter().all(|v| *v == 0.0)));
        assert!(
            ws.input_grad()
                .iter()
                .all(|row| row.iter().all(|v| *v == 0.0))
        );
        ws.act[BATCH - 1][WIDE - 1] = 1.0;
        assert_eq!(ws.act[BATCH - 1][WIDE - 1], 1.0);
    });
}

/// A small network, to run `backward` on a boxed workspace.
#[network]
#[derive(Default)]
struct Small {
    fc: Linear<2, 2>,
}

#[test]
fn a_boxed_workspace_holds_no_forward_pass_yet() {
    // The saved values start empty, as with `new()`.
    let net = Small::default();
    let mut ws = <Small as Network>::Workspace::<1>::new_boxed();
    let mut grads = SmallGrads::default();
    assert_eq!(
        net.backward(&[[0.0; 2]], &mut ws, &[[1.0; 2]], &mut grads)
            .unwrap_err(),
        NormError::NoForwardPass
    );
}

#[test]
fn a_16_mib_layer_starts_on_the_heap() {
    on_a_small_stack(|| {
        let layer = Linear::<WIDE, WIDE>::new_boxed();
        assert!(size_of::<Linear<WIDE, WIDE>>() >= 16 << 20);
        assert!(layer.weight.iter().all(|row| row.iter().all(|v| *v == 0.0)));
    });
}

#[test]
fn nested_workspaces_are_built_in_place_too() {
    on_a_small_stack(|| {
        let net = Box::<Nested>::default();
        let mut ws = <Nested as Network>::Workspace::<1024>::new_boxed();
        let x = vec![[0.5_f32; 256]; 1024].into_boxed_slice();
        let x: Box<[[f32; 256]; 1024]> = x.try_into().unwrap();
        let y = *net.forward_eval(&x, &mut ws).unwrap();
        // Zero weights: the residual block passes x through, the head gives 0.
        assert_eq!(y, [[0.0; 2]; 1024]);
    });
}

#[test]
fn a_large_convolution_starts_on_the_heap() {
    type Conv = conv2d!(512, 512, 5, padding = 2, input = [512, 8, 8]);
    on_a_small_stack(|| {
        assert!(size_of::<Conv>() >= 16 << 20);
        let conv = Conv::new_boxed();
        assert!(
            conv.weight
                .iter()
                .all(|o| o.as_flattened().as_flattened().iter().all(|v| *v == 0.0))
        );
    });
}

#[test]
fn large_recurrent_layers_start_on_the_heap_and_run() {
    type Big = constnorm::nn::Gru<512, 1024, 4>;
    type BigLn = constnorm::nn::LnLstm<256, 1024, 2>;
    on_a_small_stack(|| {
        assert!(size_of::<Big>() >= 18 << 20);
        assert!(size_of::<BigLn>() >= 20 << 20);
        let mut gru = Big::new_boxed();
        assert!(
            gru.cell
                .weight_hh
                .as_flattened()
                .as_flattened()
                .iter()
                .all(|v| *v == 0.0)
        );
        // PyTorch's initialization, in place.
        constnorm::nn::init_seeded(&mut *gru, 1);
        assert!(gru.cell.weight_hh[2][1023].iter().any(|v| *v != 0.0));
        let x = vec![[[0.25_f32; 512]; 4]; 2];
        let mut y = vec![[[0.0_f32; 1024]; 4]; 2];
        constnorm::Layer::forward_eval(&*gru, &x, &mut y).unwrap();
        let mut state = [[0.0_f32; 1024]; 1];
        for step in &x[0] {
            gru.step(step, &mut state);
        }
        assert_eq!(state[0], y[0][3]);

        let ln = BigLn::new_boxed();
        // As `new()`: zero weights, layer-norm gains 1.
        assert!(ln.cell.ln_c_weight.iter().all(|v| *v == 1.0));
        assert!(
            ln.cell
                .weight_ih
                .as_flattened()
                .as_flattened()
                .iter()
                .all(|v| *v == 0.0)
        );
        let mut state = [[0.0_f32; 1024]; 2];
        ln.step(&[1.0; 256], &mut state);
        assert!(state.as_flattened().iter().all(|v| v.is_finite()));
    });
}

#[test]
fn a_large_encoder_block_starts_on_the_heap_and_runs() {
    type Block = constnorm::nn::TransformerEncoderLayer<1024, 8, 4096, 4>;
    let (tx, rx) = std::sync::mpsc::channel();
    on_a_small_stack(move || {
        assert!(size_of::<Block>() >= 48 << 20);
        let mut block = Block::new_boxed();
        // As `new()`: zero attention and linear layers, norms of weight 1.
        assert!(block.norm2.weight.iter().all(|v| *v == 1.0));
        assert!(
            block
                .linear1
                .weight
                .iter()
                .all(|r| r.iter().all(|v| *v == 0.0))
        );
        constnorm::nn::init_seeded(&mut *block, 2);
        tx.send(block).unwrap();
    });
    let block = rx.recv().unwrap();
    // The forward pass keeps one example's activations on the stack (here
    // about 0.4 MiB, more in a debug build's unoptimized frames): a 4 MiB
    // thread, not 2.
    std::thread::Builder::new()
        .stack_size(4 << 20)
        .spawn(move || {
            let x = vec![[[0.5_f32; 1024]; 4]; 1];
            let mut y = vec![[[0.0_f32; 1024]; 4]; 1];
            constnorm::Layer::forward_eval(&*block, &x, &mut y).unwrap();
            assert!(y[0].as_flattened().iter().all(|v| v.is_finite()));
        })
        .unwrap()
        .join()
        .unwrap();
}

#[test]
fn a_large_embedding_table_starts_on_the_heap() {
    type Table = constnorm::nn::Embedding<50_000, 256>;
    on_a_small_stack(|| {
        assert!(size_of::<Table>() >= 48 << 20);
        let table = Table::new_boxed();
        assert_eq!(table.padding_idx, None);
        let mut y = [[1.0_f32; 256]; 2];
        table.forward(&[0, 49_999], &mut y).unwrap();
        assert_eq!(y, [[0.0; 256]; 2]);
    });
}

#[test]
fn a_large_network_starts_on_the_heap_and_runs() {
    // 16 MiB of `Linear` and a nested residual block: `new_boxed` writes
    // each layer in place (a network value would not fit the stack).
    on_a_small_stack(|| {
        assert!(size_of::<Wide>() >= 16 << 20);
        let mut wide = Wide::new_boxed();
        assert!(
            wide.fc
                .weight
                .iter()
                .all(|row| row.iter().all(|v| *v == 0.0))
        );
        wide.fc.bias[3] = -1.0;
        wide.fc.bias[5] = 2.0;
        let mut ws = WideWorkspace::<1>::new_boxed();
        let x = Box::new([[0.5_f32; WIDE]; 1]);
        let y = wide.forward_eval(&x, &mut ws).unwrap();
        assert_eq!((y[0][3], y[0][5], y[0][7]), (0.0, 2.0, 0.0));
        let nested = Nested::new_boxed();
        assert_eq!(nested.out.weight, [[0.0; 256]; 2]);
    });
}

#[test]
fn gradients_and_optimizers_of_a_large_network_start_on_the_heap() {
    // 16 MiB of parameters: their gradients, SGD's velocity and Adam's two
    // moments are 16 MiB each, built in place, and a step runs.
    on_a_small_stack(|| {
        use constnorm::Gradients;
        use constnorm::nn::{Adam, Sgd};
        let mut net = Wide::new_boxed();
        let mut grads = WideGrads::new_boxed();
        assert!(
            grads
                .fc
                .weight
                .iter()
                .all(|row| row.iter().all(|v| *v == 0.0))
        );
        let mut ws = WideWorkspace::<1>::new_boxed();
        let x = Box::new([[0.5_f32; WIDE]; 1]);
        net.fc.bias = [1.0; WIDE];
        net.forward_train(&x, &mut ws).unwrap();
        let dy = Box::new([[1.0_f32; WIDE]; 1]);
        net.backward(&x, &mut ws, &dy, &mut grads).unwrap();
        assert_eq!(grads.fc.weight[7][9], 0.5);
        let mut sgd = Sgd::new_boxed(0.5, 0.9);
        sgd.step(&mut *net, &grads);
        assert_eq!(net.fc.weight[7][9], -0.25);
        let mut adam = Adam::new_boxed(1e-3);
        adam.step(&mut *net, &grads);
        assert_eq!(adam.steps(), 1);
        grads.set_zero();
    });
}

#[test]
fn a_large_stacked_bidirectional_layer_starts_on_the_heap_and_runs() {
    // nn.GRU(512, 1024, num_layers=2, bidirectional=True): 56 MiB.
    type Big = constnorm::nn::Stacked<
        constnorm::nn::GruCell<512, 1024>,
        constnorm::nn::GruCell<2048, 1024>,
        2,
        2,
        1,
    >;
    on_a_small_stack(|| {
        assert!(size_of::<Big>() >= 56 << 20);
        let mut gru = Big::new_boxed();
        assert!(
            gru.rest[0][1]
                .weight_hh
                .as_flattened()
                .as_flattened()
                .iter()
                .all(|v| *v == 0.0)
        );
        constnorm::nn::init_seeded(&mut *gru, 1);
        assert!(gru.rest[0][1].weight_ih[2][1023].iter().any(|v| *v != 0.0));
        let x = vec![[[0.25_f32; 512]; 2]; 1];
        let mut y = vec![[[0.0_f32; 2048]; 2]; 1];
        constnorm::Layer::forward_eval(&*gru, &x, &mut y).unwrap();
        assert!(y[0].as_flattened().iter().any(|v| *v != 0.0));
    });
}
