//! forward_train, forward_eval and backward (slice and constant-size forms)
//! allocate nothing, for both kinds and both dtypes, small and large.

use constnorm::{AffineGrads, Normalization, normalize};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// Counts allocations made by the current thread (other test threads do not
/// disturb the count).
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count() {
    // try_with: the thread-local may be gone while the thread is torn down.
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: forwards every call unchanged to the system allocator.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: the caller upholds `alloc`'s contract, which is System's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Runs `f` and returns how many allocations it made on this thread.
fn allocations(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(Cell::get);
    f();
    ALLOCATIONS.with(Cell::get) - before
}

#[test]
fn the_counter_sees_allocations() {
    assert!(allocations(|| drop(std::hint::black_box(vec![1_u8; 64]))) >= 1);
}

macro_rules! no_alloc_test {
    ($($name:ident: $kind:ident, $t:ident, dims = $n:literal, rows = $b:literal;)*) => {$(
        #[test]
        fn $name() {
            #[normalize($kind, dims = $n, dtype = $t)]
            struct Layer;

            // Inputs and outputs are prepared before counting.
            let x: Vec<[$t; $n]> = (0..$b)
                .map(|r| std::array::from_fn(|c| ((r * 31 + c * 7) % 13) as $t - 6.0))
                .collect();
            let x_array: [[$t; $n]; $b] = std::array::from_fn(|r| x[r]);
            let dy = x.iter().rev().copied().collect::<Vec<_>>();
            let dy_array: [[$t; $n]; $b] = std::array::from_fn(|r| dy[r]);
            let mut y = vec![[0.0; $n]; $b];
            let mut dx = vec![[0.0; $n]; $b];
            let mut layer = Layer::new();
            let mut grads = AffineGrads::default();

            let n = allocations(|| {
                let saved = layer.forward_train(&x, &mut y).unwrap();
                layer.backward(&x, &saved, &dy, &mut dx, &mut grads).unwrap();
                let saved = layer.forward_eval(&x, &mut y).unwrap();
                layer.backward(&x, &saved, &dy, &mut dx, &mut grads).unwrap();
                let (y_array, saved) = layer.forward_train_array(&x_array);
                let dx_array = layer.backward_array(&x_array, &saved, &dy_array, &mut grads).unwrap();
                let (y_eval, _) = layer.forward_eval_array(&x_array);
                std::hint::black_box((y_array, dx_array, y_eval));
                // error paths allocate nothing either
                assert!(layer.forward_train(&x, &mut y[1..]).is_err());
                assert!(layer.backward(&x[1..], &saved, &dy[1..], &mut dx[1..], &mut grads).is_err());
            });
            assert_eq!(n, 0, "{} allocation(s) in forward/backward", n);
            std::hint::black_box((&y, &dx, &grads));
        }
    )*};
}

no_alloc_test! {
    layer_f32_small: layer, f32, dims = 3, rows = 4;
    layer_f64_small: layer, f64, dims = 3, rows = 4;
    layer_f32_large: layer, f32, dims = 768, rows = 8;
    batch_f32_small: batch, f32, dims = 16, rows = 2;
    batch_f64_small: batch, f64, dims = 16, rows = 4;
    batch_f32_large: batch, f32, dims = 256, rows = 32;
}
