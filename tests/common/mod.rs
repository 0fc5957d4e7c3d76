//! Shared test support: the golden-vector loader and step runner.
#![allow(dead_code)] // each test crate uses part of it

pub mod golden;
