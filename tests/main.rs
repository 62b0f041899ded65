//! Integration tests: one binary, one module per area. Everything runs the real library or
//! binary against a real emulator over loopback.

mod auth;
mod conformance;
mod emulator;
mod resume;
mod run;
mod util;
mod validate;
