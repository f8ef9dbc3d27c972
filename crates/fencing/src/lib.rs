//! axha-fencing (in progress).
