//! paddock-storage
