//! Shared test support: the golden-vector loader and step runner, and
//! finite differences.
#![allow(dead_code)] // each test crate uses part of it

pub mod fd;
pub mod golden;
