//! axha-axigen (in progress).
