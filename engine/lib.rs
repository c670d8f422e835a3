//! idrisk: a columnar batch engine that turns exported Microsoft Entra ID sign-in logs into
//! risk detections shaped like Microsoft Graph's `riskDetection`.
//!
//! Layers, each depending only on those below it: [`cli`] → [`report`] → [`ingest`] →
//! [`frame`]; [`rules`] holds the configuration every layer reads.

pub mod cli;
pub mod detect;
pub mod enrich;
pub mod eval;
pub mod frame;
pub mod geo;
pub mod ingest;
pub mod report;
pub mod rules;
pub mod storage;
pub mod synth;
pub mod trace;
pub mod tune;
