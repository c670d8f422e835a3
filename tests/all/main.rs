//! Integration tests, one binary organised by topic.

mod benign;
mod cli;
mod dataset;
mod determinism;
mod hardening;
mod layers;
mod malformed;
mod mutation;
mod report;
mod score;
mod shapes;
mod shards;
mod storage;
mod support;
mod synth;
mod tune;
