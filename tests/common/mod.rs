#![allow(dead_code)]
pub mod kernel;
