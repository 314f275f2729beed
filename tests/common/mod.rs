#![allow(dead_code)]
pub mod kernel;
pub mod netns;
