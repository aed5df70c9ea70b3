//! Cross-cutting tests (issue 19): hostile remote text through every place it
//! is shown, and properties of the parsers that read remote data.

pub mod hostile;

mod cli_outputs;
mod display;
mod fields;
mod freed;
mod parsers;
mod walks;
