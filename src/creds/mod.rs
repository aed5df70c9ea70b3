//! Pure credential logic, no I/O (being written).
