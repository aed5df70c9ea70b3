//! Log stream model (being written).
