//! One module per verb: turns parsed arguments into a typed input and calls the library.

pub mod emulate;
