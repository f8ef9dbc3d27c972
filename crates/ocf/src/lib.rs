//! axha-ocf (in progress).
