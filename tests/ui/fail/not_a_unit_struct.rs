use constnorm::normalize;

#[normalize(layer, dims = 4)]
enum Kind {
    A,
}

#[normalize(layer, dims = 4)]
fn layer() {}

#[normalize(layer, dims = 4)]
struct WithFields {
    weight: [f32; 4],
}

#[normalize(layer, dims = 4)]
struct Tuple(f32);

#[normalize(layer, dims = 4)]
struct Generic<T>(core::marker::PhantomData<T>);

#[normalize(layer, dims = 4)]
struct GenericUnit<const N: usize>;

#[normalize(batch, dims = 4)]
#[derive(Clone, Debug, Copy)]
struct DerivesWhatIsGenerated;

fn main() {}
