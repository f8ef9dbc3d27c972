//! axha-ipmi (in progress).
