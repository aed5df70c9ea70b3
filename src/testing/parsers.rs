//! Property tests of the parsers that read remote data.
