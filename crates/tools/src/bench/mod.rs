//! `paddock bench` (placeholder while the shell is built).
