//! Test machinery, behind the `testing` feature (off by default, so release builds leave it
//! out): the HTTP test driver, an outcome-level stand-in for the window, built on the silent
//! sign-in's walk and HTML form scanner.

pub mod http_driver;

pub use crate::silent::forms;
pub use http_driver::{DriverError, Hop, HttpDriver, Page, Step, Via, Walked};
