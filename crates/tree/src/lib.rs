//! paddock-tree
