//! Checks of one cluster node.
