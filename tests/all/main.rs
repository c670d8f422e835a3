//! Integration tests, one binary organised by topic.

mod cli;
mod determinism;
mod malformed;
mod score;
mod shapes;
mod support;
mod synth;
