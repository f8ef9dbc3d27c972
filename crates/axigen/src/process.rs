//! Finding, starting and stopping an Axigen server process tree.
