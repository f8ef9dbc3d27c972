//! axha-lab (in progress).
