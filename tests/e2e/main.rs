//! End-to-end tests: each starts a real `kiln` process on a free loopback
//! port with its own data directory, and talks HTTP to it.

mod harness;
mod images;

mod auth;
mod batch;
mod cli;
mod delivery;
mod errors;
mod explain;
mod hardening;
mod hostile;
mod ingest;
mod lifecycle;
mod management;
mod metrics;
mod openapi;
mod pipeline;
mod plugin_cli;
mod plugins;
mod scale;
mod signing;
mod stack;
mod svg;
mod transforms;
mod uploads;
mod usage;
mod webhooks;
