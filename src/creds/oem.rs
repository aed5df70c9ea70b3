//! /oem yip configs (being written).
