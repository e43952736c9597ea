//! Test machinery, behind the `testing` feature (off by default, so release builds leave it
//! out): the HTTP test driver, an outcome-level stand-in for the window, and its HTML form scanner.

pub mod forms;
pub mod http_driver;

pub use http_driver::{DriverError, Hop, HttpDriver, Page, Step, Via, Walked};
