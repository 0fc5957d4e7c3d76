//! Shared test support: the golden-vector loaders (normalization steps,
//! other layers' cases), the training-run fixtures, the conv and pool
//! kernels by table line, and finite differences.
#![allow(dead_code)] // each test crate uses part of it

pub mod fd;
pub mod fixture;
pub mod golden;
pub mod golden_layers;
pub mod kernels;
