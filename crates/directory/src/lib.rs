//! axha-directory (in progress).
