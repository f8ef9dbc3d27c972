//! axha-drbd (in progress).
