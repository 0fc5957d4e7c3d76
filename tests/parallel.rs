//! Feature `parallel`: large forward passes split across threads give the
//! same bits as one thread, and as each row run on its own.
//!
//!     cargo test --features parallel --test parallel

use constnorm::{Layer as _, normalize};

const ROWS: usize = 48;
const DIMS: usize = 4096; // 48 x 4096 values: above the split threshold

fn input(seed: u32) -> Vec<[f32; DIMS]> {
    (0..ROWS)
        .map(|r| {
            core::array::from_fn(|i| {
                let k = (r * DIMS + i) as u32;
                let v = k.wrapping_mul(2_654_435_761) ^ seed;
                (v % 10_007) as f32 / 1_000.0 - 5.0 + r as f32
            })
        })
        .collect()
}

fn bits(y: &[[f32; DIMS]]) -> Vec<u32> {
    y.as_flattened().iter().map(|v| v.to_bits()).collect()
}

/// `run` on a pool of `threads` threads.
fn on_threads<T: Send>(threads: usize, run: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("thread pool")
        .install(run)
}

/// `forward` over the whole batch on 1, 2 and 3 threads, and row by row,
/// all bit for bit the same.
fn same_bits(forward: impl Fn(&[[f32; DIMS]], &mut [[f32; DIMS]]) + Sync) {
    let x = input(7);
    let run = |threads| {
        on_threads(threads, || {
            let mut y = vec![[0.0_f32; DIMS]; ROWS];
            forward(&x, &mut y);
            bits(&y)
        })
    };
    let one = run(1);
    assert_eq!(run(2), one, "2 threads differ from 1");
    assert_eq!(run(3), one, "3 threads differ from 1");
    let mut by_row = vec![[0.0_f32; DIMS]; ROWS];
    for (x, y) in x.chunks(1).zip(by_row.chunks_mut(1)) {
        forward(x, y);
    }
    assert_eq!(
        bits(&by_row),
        one,
        "the batch differs from its rows one by one"
    );
    assert!(one.iter().all(|b| f32::from_bits(*b).is_finite()));
}

#[test]
fn layer_norm_training_and_inference() {
    #[normalize(layer, dims = DIMS)]
    struct Ln;
    let mut ln = Ln::new();
    for (i, (w, b)) in ln.weight.iter_mut().zip(ln.bias.iter_mut()).enumerate() {
        (*w, *b) = (1.0 + i as f32 / 4096.0, i as f32 / 8192.0);
    }
    same_bits(|x, y| {
        ln.forward_eval(x, y).expect("forward");
    });
    let ln = std::sync::Mutex::new(ln);
    same_bits(|x, y| {
        ln.lock().unwrap().forward_train(x, y).expect("forward");
    });
}

#[test]
fn rms_and_group_norm() {
    #[normalize(rms, dims = DIMS, eps = 1e-6)]
    struct Rms;
    let rms = Rms::new();
    same_bits(|x, y| {
        rms.forward_eval(x, y).expect("forward");
    });
    #[normalize(group, dims = 64, spatial = 64, groups = 8)]
    struct Group;
    let group = Group::new();
    same_bits(|x, y| {
        // The same values seen as 64 channels of 64 positions.
        let x: Vec<[[f32; 64]; 64]> = x.iter().map(as_channels).collect();
        let mut out = vec![[[0.0_f32; 64]; 64]; x.len()];
        group.forward_eval(&x, &mut out).expect("forward");
        for (y, o) in y.iter_mut().zip(&out) {
            y.copy_from_slice(o.as_flattened());
        }
    });
}

#[test]
fn batch_norm_inference() {
    #[normalize(batch, dims = DIMS)]
    struct Bn;
    let mut bn = Bn::new();
    for (i, (m, v)) in bn
        .running_mean
        .iter_mut()
        .zip(bn.running_var.iter_mut())
        .enumerate()
    {
        (*m, *v) = (i as f32 / 100.0, 0.5 + i as f32 / 1000.0);
    }
    same_bits(|x, y| {
        bn.forward_eval(x, y).expect("forward");
    });
}

fn as_channels(r: &[f32; DIMS]) -> [[f32; 64]; 64] {
    core::array::from_fn(|c| core::array::from_fn(|i| r[c * 64 + i]))
}
