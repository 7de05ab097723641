//! End-to-end tests: each starts a real `kiln` process on a free loopback
//! port with its own data directory, and talks HTTP to it.

mod harness;
mod images;

mod auth;
mod delivery;
mod errors;
mod lifecycle;
mod pipeline;
mod plugins;
mod scale;
mod stack;
mod transforms;
mod uploads;
