//! Every kind with every accepted combination of switches, and what each
//! generates: fields, row and parameter shapes, constants.
use constnorm::{normalize, AffineGrads, NoGrads, Layer as _, WeightGrads};

#[normalize(layer, dims = [4, 8])]
struct Layer2d;

#[normalize(layer, dims = [2, 3, 4, 5], dtype = f64)]
struct Layer4d;

#[normalize(layer, dims = 8, bias = false)]
struct LayerNoBias;

#[normalize(layer, dims = 8, affine = false)]
struct LayerNoAffine;

#[normalize(rms, dims = 8)]
struct Rms;

#[normalize(rms, dims = [4, 8], eps = 1e-6, dtype = f64)]
struct Rms2d;

#[normalize(rms, dims = 8, bias = true)]
struct RmsWithBias;

#[normalize(rms, dims = 8, affine = false)]
struct RmsNoAffine;

#[normalize(batch, dims = 4, spatial = 10)]
struct Batch1d;

#[normalize(batch, dims = 3, spatial = [4, 4], momentum = 0.3)]
struct Batch2d;

#[normalize(batch, dims = 3, spatial = [2, 4, 4])]
struct Batch3d;

#[normalize(batch, dims = 5, affine = false)]
struct BatchNoAffine;

#[normalize(batch, dims = 5, track_running_stats = false)]
struct BatchNoRunning;

#[normalize(batch, dims = 5, affine = false, track_running_stats = false)]
struct BatchNothing;

#[normalize(group, dims = 6, groups = 3, spatial = [4, 4])]
struct Group;

#[normalize(group, dims = 8, groups = 8)]
struct GroupPerChannelNoSpatial;

#[normalize(group, dims = 8, groups = 1, spatial = 5, affine = false)]
struct GroupNoAffine;

#[normalize(instance, dims = 3, spatial = [4, 4])]
struct Instance;

#[normalize(instance, dims = 4, spatial = 10, affine = true)]
struct InstanceAffine;

#[normalize(instance, dims = 4, spatial = 10, track_running_stats = true, momentum = 0.2)]
struct InstanceTracked;

#[normalize(instance, dims = 4, spatial = [2, 2, 2], affine = true, track_running_stats = true)]
struct Instance3dAll;

fn main() {
    // Shapes and constants.
    let _: [[f32; 8]; 4] = Layer2d::new().weight;
    assert_eq!(Layer2d::DIMS, [4, 8]);
    assert_eq!(Layer4d::DIMS, [2, 3, 4, 5]);
    assert_eq!(Rms::EPS, f64::from(f32::EPSILON));
    assert_eq!(Rms2d::EPS, 1e-6);
    assert_eq!(Batch2d::SPATIAL, [4, 4]);
    assert_eq!(Batch2d::MOMENTUM, Some(0.3));
    assert_eq!(Group::GROUPS, 3);
    assert_eq!(GroupPerChannelNoSpatial::SPATIAL, [0_usize; 0]);
    assert_eq!(InstanceTracked::MOMENTUM, Some(0.2));
    let _: [f32; 3] = Batch3d::new().running_mean;
    let _: [f32; 4] = InstanceTracked::new().running_var;
    let _: u64 = Instance3dAll::new().num_batches_tracked;
    let _: [f32; 6] = Group::new().bias;

    // Gradient types follow the parameters.
    let _: AffineGrads<[[f32; 8]; 4]> = <Layer2d as constnorm::Parameters>::Grads::default();
    let _: WeightGrads<[f32; 8]> = <LayerNoBias as constnorm::Parameters>::Grads::default();
    let _: WeightGrads<[f32; 8]> = <Rms as constnorm::Parameters>::Grads::default();
    let _: AffineGrads<[f32; 8]> = <RmsWithBias as constnorm::Parameters>::Grads::default();
    let _: NoGrads = <LayerNoAffine as constnorm::Parameters>::Grads::default();
    let _: NoGrads = <RmsNoAffine as constnorm::Parameters>::Grads::default();
    let _: NoGrads = <BatchNoAffine as constnorm::Parameters>::Grads::default();
    let _: NoGrads = <BatchNothing as constnorm::Parameters>::Grads::default();
    let _: NoGrads = <GroupNoAffine as constnorm::Parameters>::Grads::default();
    let _: NoGrads = <Instance as constnorm::Parameters>::Grads::default();
    let _: AffineGrads<[f32; 4]> = <InstanceAffine as constnorm::Parameters>::Grads::default();

    // Rows are channel-major; batch norm with spatial positions trains on one row.
    let row: [[f32; 10]; 4] = [[0.5; 10]; 4];
    let mut bn = Batch1d::new();
    let (_, saved) = bn.forward_train_array(&[row]);
    assert_eq!(saved.rows(), 1);
    let _ = BatchNoRunning::new().forward_eval_array(&[[1.0; 5], [2.0; 5]]);
    let mut tracked = InstanceTracked::new();
    let _ = tracked.forward_train_array(&[[[1.0; 10]; 4]]);
    let _ = Instance::new().forward_eval_array(&[[[[0.0; 4]; 4]; 3]]);
    let _ = (Layer4d::new(), Rms2d::new(), GroupNoAffine::new(), Instance3dAll::new(), BatchNoAffine::new());
}
