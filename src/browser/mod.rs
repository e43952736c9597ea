//! Browsers that run the sign-in: the HTTP test driver (outcome-level stand-in for the webview)
//! and its small HTML form scanner.

pub mod forms;
pub mod http_driver;

pub use http_driver::{DriverError, HttpDriver, Page};
